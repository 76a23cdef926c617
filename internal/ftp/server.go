package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wharfftp/wharf/internal/ftpproto"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// ErrServerClosed is returned by Serve and ServeImplicitTLS after Shutdown.
var ErrServerClosed = errors.New("ftp: server closed")

// Config is everything the engine needs. Only Auth is required; zero values
// take the documented defaults.
type Config struct {
	Auth accounts.Authenticator // required
	// OpenStorage opens a user's home; nil: u.Home on the local disk,
	// through a vfs.Roots shared by all sessions. Close releases it.
	OpenStorage func(u accounts.User) (vfs.Storage, error)
	Logger      *slog.Logger // nil: discard

	TLS             *tls.Config // nil: no AUTH TLS, no implicit listener
	TLSRequired     bool        // refuse plain logins and plain data
	TLSRequireReuse bool        // data TLS must resume the control session

	PassivePorts        [2]int // [lo, hi]; zero: any free port
	PublicHost          string // IPv4 address (or a name, resolved once by NewServer) announced in PASV replies behind NAT; empty: the control connection's local address. EPSV needs none.
	AllowForeignActive  bool   // disable bounce protection (PORT/EPRT to other hosts)
	AllowForeignPassive bool   // accept passive data conns from other addresses than the control peer

	// ProxyFrom, when not empty, turns on the PROXY protocol (v1 and v2,
	// as HAProxy's send-proxy-v2 and AWS NLBs send it) on the control
	// and passive data connections: only peers in these prefixes may
	// connect, each connection must start with a header, and the
	// header's source is the client's address for everything (logs, bans,
	// per-IP limits, bounce and foreign-passive checks, allow lists).
	ProxyFrom []netip.Prefix

	// SharedBans, when set, is a cluster's ban list: failed logins count
	// across all its nodes and a ban holds on all of them (within the
	// database's notice delay). The engine's own list still applies.
	SharedBans accounts.SharedBans

	Banner           string
	Node             string // this node's name in a cluster, shown by STAT; "": none
	MaxSessions      int    // 0: unlimited
	MaxSessionsPerIP int    // 0: unlimited

	// CloseGrace is how long, during Shutdown, a session that has just
	// finished a file transfer may still run the commands that close it
	// (HASH and the X-checksums, SIZE, MDTM, MFMT, OPTS, RANG, QUIT);
	// anything else gets 421. Default 5s; negative: none (Shutdown's
	// context still bounds it).
	CloseGrace time.Duration

	// MaxPassivePerUser bounds the passive listeners one account holds
	// open and unused (no transfer took them yet) across its sessions;
	// each session holds at most one. Default 16, negative: unlimited. Parallel clients (lftp mirror, FileZilla)
	// use up to 10; 60 anonymous sessions each sending PASV without
	// connecting held 49 ports of a 50-port range.
	MaxPassivePerUser int

	// LoginTimeout is how long a connection may take from its greeting to
	// a successful login (default 30s); MaxPreLoginPerIP caps the
	// connections of one address not logged in yet (default 32, negative:
	// unlimited). See prelogin.go for the share of MaxSessions they get.
	LoginTimeout     time.Duration
	MaxPreLoginPerIP int

	IdleTimeout    time.Duration // default 5m; paused while a transfer moves data
	DataTimeout    time.Duration // default 1m for a stalled data connection
	LoginFailDelay time.Duration // first delay after a failed login, doubling, capped; default 1s, negative: none
	BanAfter       int           // failed logins from one IP before a ban; default 10, negative: never
	BanFor         time.Duration // default 15m
	MaxLineLen     int           // default 4096
	Durable        bool          // fsync file and folder before the 226 of an upload
	// HideDotNames hides every name starting with a dot (.git, .env,
	// .ssh/...) from listings and refuses it, or a path through it, as a
	// client path: what wharf share does unless --hidden.
	HideDotNames bool
	// UsageIsNotTheHome: a user's usage counts something else than what
	// its home holds (wharf share counts what visitors add to a folder
	// that held files before), so the first login's recovery walk settles
	// stale uploads but does not replace the usage with a count of the
	// home.
	UsageIsNotTheHome bool

	// Events is the optional observer (metrics, hooks, admin): called
	// synchronously from the session and transfer goroutines, so it must
	// return at once (count, or queue without blocking). See observe.go.
	Events  func(Event)
	XferLog io.Writer // optional wu-ftpd xferlog lines
}

// EventKind names what an Event reports.
type EventKind int

const (
	SessionStart EventKind = iota + 1
	SessionEnd
	Login
	LoginFailed
	Banned
	TransferDone
)

func (k EventKind) String() string {
	switch k {
	case SessionStart:
		return "session-start"
	case SessionEnd:
		return "session-end"
	case Login:
		return "login"
	case LoginFailed:
		return "login-failed"
	case Banned:
		return "banned"
	case TransferDone:
		return "transfer-done"
	}
	return k.moreString()
}

// Event is one observable happening, for Config.Events.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Remote   netip.AddrPort
	User     string
	Path     string // client-visible path of a transfer
	Upload   bool
	Listing  bool // a LIST, NLST or MLSD transfer: Path is the folder listed
	Bytes    int64
	Duration time.Duration
	Err      error // nil: success

	Session  uint64 // the session's ID (SessionInfo.ID); 0 when unknown
	Verb     string // Command, TransferStart, TransferDone: the command ("UNKNOWN" for none in the table)
	Code     int    // Command, TransferDone: the final reply code
	TLS      bool   // the control connection is encrypted
	RealPath string // transfers and deletes: where the file is stored (Home joined with Path for local homes)
	Dir      bool   // Deleted: a folder (RMD)
	// Via names the front door of a LoginFailed or Banned event that was
	// not an FTP login ("admin": the admin page or API; "http": share's
	// web page); "" for FTP.
	Via string
}

// Defaults for zero Config fields, each with the reason for its size.
const (
	// defaultIdleTimeout is what vsftpd and pyftpdlib use: long enough for a
	// person at an interactive client, short enough to reclaim abandoned
	// sessions.
	defaultIdleTimeout = 5 * time.Minute
	// defaultDataTimeout bounds a data connection that stops moving.
	defaultDataTimeout = time.Minute
	// defaultCloseGrace covers a client's checksum of a file it just
	// moved: a round trip and a hash of a few hundred MB.
	defaultCloseGrace = 5 * time.Second
	// defaultLoginFailDelay starts the back-off after a failed login; it
	// doubles up to maxLoginFailDelay, making password guessing slow.
	defaultLoginFailDelay = time.Second
	maxLoginFailDelay     = 16 * time.Second
	defaultBanAfter       = 10
	// defaultMaxPassivePerUser: see Config.MaxPassivePerUser.
	defaultMaxPassivePerUser = 16
	defaultBanFor            = 15 * time.Minute
	// tlsHandshakeTimeout bounds a TLS handshake on either connection.
	tlsHandshakeTimeout = 10 * time.Second
	// maxAcceptBackoff caps the sleep after a temporary Accept error, as
	// net/http does.
	maxAcceptBackoff = time.Second
)

// Server is an FTP server. Create it with NewServer; it may serve several
// listeners at once.
type Server struct {
	cfg    Config // immutable after NewServer; defaults filled in
	log    *slog.Logger
	nextID atomic.Uint64

	mu      sync.Mutex
	closing bool // guarded by mu; set by Shutdown
	// shuttingDown mirrors closing for the command gate, which reads it
	// on every command and should not take mu for it.
	shuttingDown atomic.Bool
	listeners    map[net.Listener]struct{}                // guarded by mu
	sessions     map[*session]struct{}                    // guarded by mu
	perIP        map[netip.Addr]int                       // guarded by mu: open sessions per address
	bans         map[netip.Addr]*banState                 // guarded by mu
	gates        map[netip.Addr]*loginGate                // guarded by mu: one password check at a time per address
	passive      map[string]map[*passiveListener]struct{} // guarded by mu: unused passive listeners per account
	preLogin     int                                      // guarded by mu: sessions not logged in
	preLoginIP   map[netip.Addr]int                       // guarded by mu: the same per address
	commands     map[string]command                       // immutable
	public       netip.Addr                               // immutable; PublicHost resolved, invalid when unset
	wg           sync.WaitGroup                           // one per running session
	xferMu       sync.Mutex                               // serializes Config.XferLog lines
	recovery     *recovery                                // immutable; stale uploads settled per home
	panics       atomic.Int64                             // panics recovered in sessions and transfers (see Panics)
	partials     partialMarks                             // files a quota refusal cut short (partial.go)
}

// Panics reports how many panics the server recovered so far in sessions
// and their transfers. Each one is a bug that dropped a client: tests and
// fuzz targets fail when it moves, and an operator can alert on it.
func (s *Server) Panics() int64 { return s.panics.Load() }

// banState counts recent failed logins from one address.
type banState struct {
	failures int
	first    time.Time // start of the counting window
	until    time.Time // banned until; zero: not banned
}

// NewServer checks cfg and fills in its defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Auth == nil {
		return nil, errors.New("ftp: Config.Auth is required")
	}
	if cfg.PassivePorts != [2]int{} {
		lo, hi := cfg.PassivePorts[0], cfg.PassivePorts[1]
		if lo < 1 || hi > 65535 || lo > hi {
			return nil, fmt.Errorf("ftp: bad passive port range %d-%d", lo, hi)
		}
	}
	if cfg.TLSRequired && cfg.TLS == nil {
		return nil, errors.New("ftp: TLSRequired needs Config.TLS")
	}
	var public netip.Addr
	if cfg.PublicHost != "" {
		var err error
		if public, err = resolvePublic(cfg.PublicHost); err != nil {
			return nil, err
		}
	}
	if cfg.OpenStorage == nil {
		// One os.Root per home, shared by the user's sessions: a root per
		// session would cost a descriptor per idle session.
		roots := new(vfs.Roots)
		cfg.OpenStorage = func(u accounts.User) (vfs.Storage, error) { return roots.Open(u.Home) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = defaultDataTimeout
	}
	switch {
	case cfg.CloseGrace == 0:
		cfg.CloseGrace = defaultCloseGrace
	case cfg.CloseGrace < 0:
		cfg.CloseGrace = 0
	}
	switch {
	case cfg.LoginFailDelay == 0:
		cfg.LoginFailDelay = defaultLoginFailDelay
	case cfg.LoginFailDelay < 0:
		cfg.LoginFailDelay = 0
	}
	if cfg.BanAfter == 0 {
		cfg.BanAfter = defaultBanAfter
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = defaultLoginTimeout
	}
	if cfg.MaxPreLoginPerIP == 0 {
		cfg.MaxPreLoginPerIP = defaultMaxPreLoginPerIP
	}
	if cfg.MaxPassivePerUser == 0 {
		cfg.MaxPassivePerUser = defaultMaxPassivePerUser
	}
	if cfg.BanFor <= 0 {
		cfg.BanFor = defaultBanFor
	}
	if cfg.MaxLineLen <= 0 {
		cfg.MaxLineLen = ftpproto.DefaultMaxLine
	}
	if cfg.Banner == "" {
		cfg.Banner = "wharf FTP server ready."
	}
	srv := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		listeners:  make(map[net.Listener]struct{}),
		sessions:   make(map[*session]struct{}),
		perIP:      make(map[netip.Addr]int),
		bans:       make(map[netip.Addr]*banState),
		gates:      make(map[netip.Addr]*loginGate),
		passive:    make(map[string]map[*passiveListener]struct{}),
		preLoginIP: make(map[netip.Addr]int),
		commands:   commandTable(),
		public:     public,
		recovery:   newRecovery(cfg.UsageIsNotTheHome),
	}
	if cfg.SharedBans != nil {
		// A ban lifted on any node ends this node's count of the
		// address too, or its own ban would outlive the lift.
		cfg.SharedBans.WatchLifts(func(ip netip.Addr) {
			srv.mu.Lock()
			delete(srv.bans, ip.Unmap())
			srv.mu.Unlock()
		})
	}
	return srv, nil
}

// Serve accepts plain control connections on ln until Shutdown (AUTH TLS is
// offered when Config.TLS is set). It always returns a non-nil error;
// ErrServerClosed after Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeImplicitTLS accepts implicit FTPS connections on ln: TLS from the
// first byte, as on port 990.
func (s *Server) ServeImplicitTLS(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("ftp: ServeImplicitTLS needs Config.TLS")
	}
	return s.serve(ln, true)
}

func (s *Server) serve(ln net.Listener, implicit bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
				errors.Is(err, syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
				s.log.Warn("accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("ftp: accept: %w", err)
		}
		backoff = 0
		if len(s.cfg.ProxyFrom) == 0 {
			s.startSession(c, addrPort(c.RemoteAddr()), implicit)
			continue
		}
		peer := addrPort(c.RemoteAddr())
		if !s.proxyAllowed(peer.Addr()) {
			s.log.Warn("connection refused: not from a PROXY protocol peer", "peer", peer.String())
			c.Close()
			continue
		}
		// The header is read before anything else, TLS included, and in
		// the connection's own goroutine so a slow peer holds up no other.
		go func() {
			remote, err := readProxyHeader(c, proxyHeaderTimeout)
			if err != nil {
				s.log.Warn("connection refused", "peer", peer.String(), "err", err)
				c.Close()
				return
			}
			s.startSession(c, remote, implicit)
		}()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// startSession admits or refuses a new control connection.
// remote is the client's address: the peer's, or its PROXY header's.
func (s *Server) startSession(c net.Conn, remote netip.AddrPort, implicit bool) {
	ip := remote.Addr().Unmap()
	now := time.Now()
	s.mu.Lock()
	refusal := ""
	switch {
	case s.closing:
		refusal = "Server shutting down."
	case s.banned(ip, now) || s.cfg.SharedBans != nil && s.cfg.SharedBans.Banned(ip):
		refusal = "Too many failed logins from your address; try again later."
	case s.cfg.MaxSessionsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxSessionsPerIP:
		refusal = "Too many connections from your address."
	}
	var evict *session
	if refusal == "" {
		refusal, evict = s.admitPreLogin(ip, now)
	}
	if refusal != "" {
		s.mu.Unlock()
		s.log.Info("connection refused", "remote", remote.String(), "reason", refusal)
		// A refused client learns why without costing a goroutine per
		// flood connection beyond this short write.
		go func() {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if implicit {
				c.Close()
				return
			}
			fmt.Fprintf(c, "421 %s\r\n", refusal)
			c.Close()
		}()
		return
	}
	ss := newSession(s, c, remote, implicit)
	s.sessions[ss] = struct{}{}
	s.perIP[ip]++
	s.setPreLoginLocked(ss, true)
	s.wg.Add(1)
	s.mu.Unlock()
	if evict != nil {
		go evict.evictPreLogin()
	}
	go ss.serve()
}

// endSession forgets a finished session.
func (s *Server) endSession(ss *session) {
	ip := ss.remote.Addr().Unmap()
	s.mu.Lock()
	s.setPreLoginLocked(ss, false)
	delete(s.sessions, ss)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// banned reports whether ip is banned at now. Caller holds s.mu.
func (s *Server) banned(ip netip.Addr, now time.Time) bool {
	b := s.bans[ip]
	if b == nil {
		return false
	}
	if !b.until.IsZero() && now.Before(b.until) {
		return true
	}
	if now.Sub(b.first) > s.cfg.BanFor {
		delete(s.bans, ip)
	}
	return false
}

// loginFailed records a failed login from ip; it returns the address's
// failures in the current window (the delay grows with them, whichever
// session they came from) and whether ip just got banned.
func (s *Server) loginFailed(ip netip.Addr) (failures int, bannedNow bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bans[ip]
	if b == nil || now.Sub(b.first) > s.cfg.BanFor {
		b = &banState{first: now}
		s.bans[ip] = b
	}
	b.failures++
	if s.cfg.BanAfter >= 0 && b.failures >= s.cfg.BanAfter && b.until.IsZero() {
		b.until = now.Add(s.cfg.BanFor)
		return b.failures, true
	}
	return b.failures, false
}

// passiveGrace is how long a passive listener may wait for its transfer
// before it counts as held idle: a client sends its transfer command one
// round trip after PASV, so fifty parallel sessions of one account never
// count against MaxPassivePerUser, while sessions that sit on their ports
// do after this long.
const passiveGrace = 2 * time.Second

// passiveTake refuses a passive listener to user when MaxPassivePerUser of
// theirs are held idle (unused for passiveGrace) already.
func (s *Server) passiveTake(user string, now time.Time) bool {
	if s.cfg.MaxPassivePerUser <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idle := 0
	for p := range s.passive[user] {
		if now.Sub(p.opened) >= passiveGrace {
			idle++
		}
	}
	return idle < s.cfg.MaxPassivePerUser
}

// passiveHeld records p as one of its owner's unused listeners, until
// passiveDone.
func (s *Server) passiveHeld(p *passiveListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.passive[p.owner]
	if m == nil {
		m = make(map[*passiveListener]struct{})
		s.passive[p.owner] = m
	}
	m[p] = struct{}{}
}

// passiveDone forgets p: a transfer took it, or it closed.
func (s *Server) passiveDone(p *passiveListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.passive[p.owner]; m != nil {
		delete(m, p)
		if len(m) == 0 {
			delete(s.passive, p.owner)
		}
	}
}

// Shutdown stops accepting, closes idle sessions with 421, lets running
// transfers finish and their clients verify them (Config.CloseGrace) until
// ctx is done, then closes every connection. It returns ctx's error if
// transfers had to be cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.shuttingDown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		open := s.openSessions()
		if len(open) == 0 {
			s.wg.Wait()
			return nil
		}
		// Outside s.mu: a close may wait on a slow peer's socket.
		for _, ss := range open {
			ss.closeIfIdle()
		}
		select {
		case <-ctx.Done():
			for _, ss := range s.openSessions() {
				ss.forceClose()
			}
			s.wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Server) openSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// emit sends an event to the observer, if any.
func (s *Server) emit(e Event) {
	if s.cfg.Events != nil {
		e.Time = time.Now()
		s.cfg.Events(e)
	}
}

// addrPort converts a net.Addr of a TCP connection.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// resolvePublic turns Config.PublicHost into the IPv4 address PASV can
// announce.
func resolvePublic(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("ftp: PublicHost %s: PASV can only announce IPv4", host)
		}
		return a.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("ftp: resolve PublicHost %s: %w", host, err)
	}
	return addrs[0].Unmap(), nil
}
