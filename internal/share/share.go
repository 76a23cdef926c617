package share

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/tlsconf"
	"github.com/wharfftp/wharf/internal/vfs"
)

// Default ports: 2121 and 8080 are the usual unprivileged stand-ins for 21
// and 80, so visitors can often guess them.
const (
	DefaultFTPPort  = 2121
	DefaultHTTPPort = 8080
)

// portTries is how many ports above a taken default are tried before giving
// up: enough for several shares on one machine, few enough to fail fast.
const portTries = 50

// shutdownGrace is how long running transfers may finish after Ctrl-C
// before their connections are cut.
const shutdownGrace = 3 * time.Second

// HTTP server limits. No write timeout: a large download to a phone on a
// slow link may take hours; the read header timeout keeps idle sockets from
// piling up (slowloris).
const (
	readHeaderTimeout = 10 * time.Second
	httpIdleTimeout   = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Options is a share's configuration, as `wharf share` flags set it.
type Options struct {
	// Dir is the folder to share; it must exist.
	Dir string
	// Listen is the address to bind; "" binds every address.
	Listen string
	// FTPPort and HTTPPort are the first ports tried. 0 means the default
	// port, unless the matching Fixed flag is set: then 0 is "any free port".
	FTPPort, HTTPPort int
	// FixedFTPPort and FixedHTTPPort: the port was chosen explicitly and
	// is not moved when taken; a taken explicit port is an error.
	FixedFTPPort, FixedHTTPPort bool

	// Write lets visitors upload and make folders; Overwrite and Delete
	// each imply Write. See the package doc for the exact Perm bits.
	Write, Overwrite, Delete bool

	// User, when set, requires a login with this name on both protocols;
	// Password is generated when empty (see Share.Password).
	User, Password string

	// TLS serves FTPS (required: plain logins are refused) and HTTPS with
	// a self-signed certificate kept in TLSDir ("" keeps it in a temporary
	// folder, so it changes each run).
	TLS    bool
	TLSDir string

	// PassivePorts is the range FTP data connections listen on ([lo, hi];
	// zero: any free port), so a firewall can open just those.
	// PublicHost is the address PASV announces and the banner prints
	// first, for a share reached through NAT.
	PassivePorts [2]int
	PublicHost   string

	// QuotaBytes and QuotaFiles bound what visitors together may add to
	// the folder during the share when it takes uploads (0: the defaults,
	// DefaultQuotaBytes and DefaultQuotaFiles; negative: unlimited), as
	// serve's anonymous drop box is bounded. Usage starts at zero: what
	// the folder held before the share is not counted, and replacing or
	// deleting it (Overwrite, Delete) gives back no more than visitors
	// added.
	QuotaBytes, QuotaFiles int64

	// Hidden shows names starting with a dot (.git, .env) and lets
	// visitors reach and create them; by default both protocols hide and
	// refuse them, so sharing a project folder does not publish its
	// repository and secrets.
	Hidden bool

	// Logger receives diagnostics (raw errors); nil discards them.
	Logger *slog.Logger
	// Events is called for every visitor event of either protocol, after
	// the share has counted it. It must not block.
	Events func(Event)

	// loginFailDelay replaces the first failed-login delay of both
	// protocols (0: one second); tests set it to wait milliseconds, not
	// the doubling seconds of a real share.
	loginFailDelay time.Duration
	// wrapAuth, when set, wraps the share's accounts (tests watch the
	// password checks of both protocols through it).
	wrapAuth func(accounts.Authenticator) accounts.Authenticator
}

// Default quota of a share that takes uploads: an open upload folder with no
// limit let any visitor fill the disk. The same figures as serve's
// anonymous drop box (--anonymous-quota, --anonymous-max-files).
const (
	DefaultQuotaBytes = 1 << 30
	DefaultQuotaFiles = 1000
)

// Share is a folder being shared over FTP and HTTP. New opens the
// listeners, so the addresses are known before Run serves them.
type Share struct {
	dir      string
	perms    accounts.Perm
	user     string
	password string
	scheme   string // "http" or "https"
	listen   string
	public   string
	passive  [2]int
	hidden   bool
	tlsConf  *tls.Config
	finger   string
	tmpTLS   string // temporary certificate folder to remove, if any
	log      *slog.Logger
	events   func(Event)
	tally    tally
	guard    *guard // failed logins and bans of both protocols
	// quotaBytes and quotaFiles bound what visitors may add (0: no limit,
	// or no uploads).
	quotaBytes, quotaFiles int64

	ftpLn, httpLn net.Listener
	// maxFTP and maxHTTP are the connections each protocol admits, from
	// the descriptor limit (connBudget).
	maxFTP, maxHTTP int
	ftpSrv          ftpServer
	httpSrv         *http.Server
	httpFS          vfs.Storage
	handlers        sync.WaitGroup // HTTP handlers running
}

// quotaLimit is a quota option: 0 takes def, negative none (0).
func quotaLimit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Quota returns the bytes and files visitors may add together (0: no
// limit); both 0 for a share that takes no uploads.
func (s *Share) Quota() (bytes, files int64) { return s.quotaBytes, s.quotaFiles }

// Perms returns the permissions Options grant, as documented in the
// package doc.
func Perms(o Options) accounts.Perm {
	p := accounts.PermList | accounts.PermDownload
	if o.Write || o.Overwrite || o.Delete {
		p |= accounts.PermUpload | accounts.PermMkdir
	}
	if o.Overwrite {
		p |= accounts.PermOverwrite | accounts.PermAppend
	}
	if o.Delete {
		p |= accounts.PermDelete | accounts.PermRmdir | accounts.PermRename
	}
	return p
}

// New checks opts, builds the share's account, opens both listeners and
// prepares both servers. Call Run to serve, or Close to give up.
func New(o Options) (_ *Share, err error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("share %s: %w", o.Dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("share %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("share %s: not a folder", dir)
	}
	if o.User != "" {
		if strings.EqualFold(o.User, accounts.AnonymousUser) || strings.EqualFold(o.User, "ftp") {
			return nil, fmt.Errorf("user name %q is reserved for anonymous access", o.User)
		}
		if strings.ContainsAny(o.User, ": \t\r\n\x00") {
			return nil, fmt.Errorf("user name %q must not contain ':', spaces or control characters", o.User)
		}
	}
	s := &Share{
		dir:     dir,
		perms:   Perms(o),
		user:    o.User,
		scheme:  "http",
		listen:  o.Listen,
		hidden:  o.Hidden,
		public:  o.PublicHost,
		passive: o.PassivePorts,
		log:     o.Logger,
		events:  o.Events,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	u := accounts.User{Name: accounts.AnonymousUser, Home: dir, Perms: s.perms}
	if s.perms.Has(accounts.PermUpload) {
		u.QuotaBytes = quotaLimit(o.QuotaBytes, DefaultQuotaBytes)
		u.QuotaFiles = quotaLimit(o.QuotaFiles, DefaultQuotaFiles)
		s.quotaBytes, s.quotaFiles = u.QuotaBytes, u.QuotaFiles
	}
	mu := accounts.MemoryUser{User: u}
	if o.User != "" {
		s.password = o.Password
		if s.password == "" {
			s.password = GeneratePassword()
		}
		mu.User.Name, mu.Password = o.User, s.password
	}
	// One ban list for both protocols: ten wrong passwords over either
	// one, or both together, lock the address out of both.
	s.guard = newGuard(defaultBanAfter, defaultBanFor)
	var base accounts.Authenticator = accounts.NewMemory(mu)
	if o.wrapAuth != nil {
		base = o.wrapAuth(base)
	}
	auth := guardedAuth{Authenticator: base, g: s.guard}

	if s.ftpLn, err = listen(o.Listen, o.FTPPort, DefaultFTPPort, o.FixedFTPPort); err != nil {
		return nil, fmt.Errorf("ftp: %w", err)
	}
	if s.httpLn, err = listen(o.Listen, o.HTTPPort, DefaultHTTPPort, o.FixedHTTPPort); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	// Both protocols within the descriptor limit, each address within
	// its share of them (limits.go).
	s.maxFTP, s.maxHTTP = connBudget(raiseFileLimit())
	capl := newCapListener(s.httpLn, perAddrCap(s.maxHTTP), s.maxHTTP, !o.TLS)
	s.httpLn = capl

	if o.TLS {
		tlsDir := o.TLSDir
		if tlsDir == "" {
			if tlsDir, err = os.MkdirTemp("", "wharf-share-tls-"); err != nil {
				return nil, fmt.Errorf("tls: %w", err)
			}
			s.tmpTLS = tlsDir
		} else if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		// The certificate names every address visitors are given.
		if s.tlsConf, err = tlsconf.SelfSigned(tlsDir, s.Hosts()); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if s.finger, err = tlsconf.ConfigFingerprint(s.tlsConf); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.scheme = "https"
	}

	if s.ftpSrv, err = s.newFTP(auth, o.TLS, o.loginFailDelay); err != nil {
		return nil, fmt.Errorf("ftp: %w", err)
	}

	if s.httpFS, err = vfs.OpenLocal(dir); err != nil {
		return nil, err
	}
	h := newHandler(s.httpFS, HandlerOptions{
		Auth:           auth,
		Realm:          "wharf share",
		Logger:         s.log.With("proto", "http"),
		Events:         s.record,
		HideDotNames:   !o.Hidden,
		LoginFailDelay: o.loginFailDelay,
	}, s.guard)
	// One password-check queue per address for both protocols: the
	// engine's. Two queues let an address guess over FTP while its HTTP
	// guess waited out its delay, twice the rate of either alone.
	h.gate = func(ctx context.Context, ip netip.Addr, user string, check func(context.Context) error, failed func(error) bool) error {
		return s.ftpSrv.GuardLogin(ctx, ip, user, "http", check, failed)
	}
	s.httpSrv = &http.Server{
		// http.Server.Close does not wait for handlers; counting them lets
		// Run keep the folder open until cut uploads have cleaned up.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			h.ServeHTTP(w, r)
		}),
		ConnState:         capl.ConnState,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.tlsConf != nil {
		c := s.tlsConf.Clone()
		// The hardened config announces only the "ftp" ALPN (ALPACA
		// defence), which would make browsers abort the handshake: this
		// port speaks HTTP, so it says so.
		c.NextProtos = []string{"h2", "http/1.1"}
		s.httpSrv.TLSConfig = c
	}
	return s, nil
}

// listen binds host:port. port 0 with fixed unset means the default; a
// port that was not fixed moves up to the next free one when taken.
func listen(host string, port, def int, fixed bool) (net.Listener, error) {
	if port == 0 && !fixed {
		port = def
	}
	for i := 0; ; i++ {
		addr := net.JoinHostPort(host, strconv.Itoa(port+i))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if fixed || port == 0 || !errors.Is(err, syscall.EADDRINUSE) || i+1 >= portTries || port+i >= 65535 {
			if errors.Is(err, syscall.EADDRINUSE) && !fixed {
				return nil, fmt.Errorf("ports %d-%d are all taken: %w", port, port+i, err)
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
}

// Hidden reports whether names starting with a dot are shown.
func (s *Share) Hidden() bool { return s.hidden }

// Dir returns the absolute path of the shared folder.
func (s *Share) Dir() string { return s.dir }

// Perms returns the permissions visitors have.
func (s *Share) Perms() accounts.Perm { return s.perms }

// User returns the login name, "" for anonymous access.
func (s *Share) User() string { return s.user }

// Password returns the login password (generated when Options had none),
// "" for anonymous access.
func (s *Share) Password() string { return s.password }

// Fingerprint returns the certificate's fingerprint with TLS, else "".
func (s *Share) Fingerprint() string { return s.finger }

// ftpServer is what the share needs of the FTP engine.
type ftpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	// GuardLogin is ftp.Server.GuardLogin: the HTTP side's password checks
	// take the same per-address turn and delay as FTP's PASS.
	GuardLogin(ctx context.Context, ip netip.Addr, user, via string, check func(context.Context) error, failed func(error) bool) error
}

// FTPPort and HTTPPort return the ports actually bound.
func (s *Share) FTPPort() int  { return s.ftpLn.Addr().(*net.TCPAddr).Port }
func (s *Share) HTTPPort() int { return s.httpLn.Addr().(*net.TCPAddr).Port }

// TLS reports whether the share serves FTPS and HTTPS.
func (s *Share) TLS() bool { return s.tlsConf != nil }

// Totals returns what was moved so far.
func (s *Share) Totals() Totals { return s.tally.totals() }

// Endpoint is where visitors reach the share on one address of the machine.
type Endpoint struct {
	Host string // address as written in a URL (IPv6 bracketed)
	FTP  string // ftp://host:port/
	HTTP string // http(s)://host:port/
}

// Endpoints lists the URLs to give visitors, one per address of the
// machine the share listens on.
func (s *Share) Endpoints() []Endpoint { return s.endpointsFor(s.Hosts()) }

func (s *Share) endpointsFor(hosts []string) []Endpoint {
	var out []Endpoint
	for _, h := range hosts {
		hp := h
		if strings.Contains(h, ":") {
			hp = "[" + h + "]"
		}
		ftpURL := "ftp://" + hp + ":" + strconv.Itoa(s.FTPPort()) + "/"
		if s.user != "" {
			ftpURL = "ftp://" + s.user + "@" + hp + ":" + strconv.Itoa(s.FTPPort()) + "/"
		}
		out = append(out, Endpoint{
			Host: hp,
			FTP:  ftpURL,
			HTTP: s.scheme + "://" + hp + ":" + strconv.Itoa(s.HTTPPort()) + "/",
		})
	}
	return out
}

// Hosts lists the addresses visitors can use: the listen address when it
// is a specific one, else every non-loopback unicast address of the
// machine (IPv4 first), or loopback when there is none.
func (s *Share) Hosts() []string {
	hosts := hostsFor(s.listen, interfaceAddrs())
	if s.public != "" && !slices.Contains(hosts, s.public) {
		// Visitors from outside use the public address: it comes first.
		hosts = append([]string{s.public}, hosts...)
	}
	return hosts
}

// PassivePorts returns the FTP data port range, [0, 0] for any port.
func (s *Share) PassivePorts() [2]int { return s.passive }

func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// hostsFor picks the addresses to print for a listen address from the
// machine's addresses. IPv6 link-local addresses are left out: they need a
// zone that differs between the visitor's machine and this one.
func hostsFor(listen string, machine []netip.Addr) []string {
	wantV6 := true
	if listen != "" {
		ip, err := netip.ParseAddr(listen)
		if err != nil {
			return []string{listen} // a host name: the visitor uses it too
		}
		if !ip.IsUnspecified() {
			return []string{ip.String()}
		}
		wantV6 = ip.Is6() // "0.0.0.0" binds IPv4 only, "::" both
	}
	var v4, v6 []string
	for _, ip := range machine {
		switch {
		case !ip.IsValid() || ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() && ip.Is6():
		case ip.Is4():
			v4 = append(v4, ip.String())
		case wantV6:
			v6 = append(v6, ip.String())
		}
	}
	if out := append(v4, v6...); len(out) > 0 {
		return out
	}
	return []string{"127.0.0.1"}
}

// Run serves until ctx is cancelled or a server fails, then stops both:
// running transfers get shutdownGrace to finish. It returns nil after a
// cancellation.
func (s *Share) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.ftpSrv.Serve(guardedListener{Listener: s.ftpLn, g: s.guard}) }()
	go func() {
		if s.httpSrv.TLSConfig != nil {
			errc <- s.httpSrv.ServeTLS(s.httpLn, "", "")
			return
		}
		errc <- s.httpSrv.Serve(s.httpLn)
	}()
	var failed error
	pending := 2
	select {
	case <-ctx.Done():
	case failed = <-errc:
		pending--
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	done := make(chan struct{})
	go func() {
		if err := s.httpSrv.Shutdown(sctx); err != nil {
			// Downloads still running at the deadline are cut.
			s.httpSrv.Close()
		}
		close(done)
	}()
	if err := s.ftpSrv.Shutdown(sctx); err != nil {
		s.log.Info("ftp transfers cut at shutdown", "err", err)
	}
	<-done
	for ; pending > 0; pending-- {
		<-errc
	}
	// Handlers of connections cut by Close see their sockets fail and
	// return promptly; wait for them (bounded) before closing the folder.
	waited := make(chan struct{})
	go func() { s.handlers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(shutdownGrace):
		s.log.Warn("http handlers still running at exit")
	}
	s.closeFiles()
	if failed != nil && !errors.Is(failed, errFTPClosed) && !errors.Is(failed, http.ErrServerClosed) {
		return fmt.Errorf("share: %w", failed)
	}
	return nil
}

// Close releases a share that will not Run (or has run): listeners, the
// HTTP root and any temporary certificate.
func (s *Share) Close() error {
	if s.ftpLn != nil {
		s.ftpLn.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	s.closeFiles()
	return nil
}

func (s *Share) closeFiles() {
	if s.httpFS != nil {
		s.httpFS.Close()
		s.httpFS = nil
	}
	if s.tmpTLS != "" {
		os.RemoveAll(s.tmpTLS)
		s.tmpTLS = ""
	}
}

// record counts an event and passes it on.
func (s *Share) record(e Event) {
	s.tally.add(e)
	if s.events != nil {
		s.events(e)
	}
}
