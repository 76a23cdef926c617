package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/tlsconf"
	"github.com/wharfftp/wharf/internal/vfs"
)

// Limits on hostile or broken input, each named with its reason.
const (
	// maxBadLines closes a session after this many over-long or malformed
	// lines: a real client never sends one, a fuzzer or a misdirected
	// protocol sends many.
	maxBadLines = 3
	// maxUnknownBeforeLogin closes a session that sends this many unknown
	// commands before logging in: the ALPACA cross-protocol attack sends an
	// HTTP request ("GET / HTTP/1.1", headers) to an FTP port.
	maxUnknownBeforeLogin = 3
	// maxLoginFailures closes a session after this many failed logins, as
	// vsftpd's max_login_fails does; the IP ban counts across sessions.
	maxLoginFailures = 3
	// maxUserLen is vsftpd's cap on a user name.
	maxUserLen = 128
	// replyWriteTimeout bounds a control reply to a client that stopped
	// reading, so a stuck peer cannot pin the session forever.
	replyWriteTimeout = 30 * time.Second
)

// connState is where a session's command reader is.
type connState int

const (
	stateIdle   connState = iota // waiting for a command line
	stateActive                  // running a command
	stateClosed                  // finished
)

func (c connState) String() string {
	switch c {
	case stateIdle:
		return "idle"
	case stateActive:
		return "active"
	case stateClosed:
		return "closed"
	}
	return "unknown"
}

// session is one control connection. Its fields without a guard note are
// touched only by the command-reader goroutine, or by the transfer goroutine
// while the reader waits for it (commands that change them never run during
// a transfer: the command table says so).
type session struct {
	srv      *Server // immutable
	id       uint64  // immutable
	remote   netip.AddrPort
	local    netip.AddrPort
	implicit bool
	log      *slog.Logger

	ctx    context.Context // canceled when the session ends
	cancel context.CancelFunc

	wmu  sync.Mutex // guards writes on conn
	conn net.Conn   // current control connection; replaced by AUTH TLS
	r    *ftpproto.Reader
	ctls *ctrlTLS // conn as the reader's source when it is TLS over TCP (tlsidle.go)

	mu    sync.Mutex // guards state, xfer, xferEnded and live
	state connState
	xfer  *transfer // the running transfer, nil when none
	// xferEnded is when the last file transfer (not a listing) ended: for
	// Config.CloseGrace after it, Shutdown lets the session close it.
	xferEnded time.Time
	live      liveInfo // what Server.Sessions shows

	started  time.Time // immutable
	verb     string    // the command being run (observe.go)
	lastCode int       // guarded by wmu: the last reply the reader sent

	tls       bool // control connection is TLS
	pbsz      bool
	protP     bool
	userName  string           // from USER; logged in once acct != nil
	acct      accounts.Session // nil before login
	fs        vfs.Storage      // the user's jail; nil before login
	cwd       string           // client-visible absolute working directory
	binary    bool             // TYPE I (default A per RFC 959, but see reset)
	rest      int64            // REST offset for the next transfer
	rangSet   bool             // RANG given for the next HASH
	rangLo    int64
	rangHi    int64
	rnfr      string // name from RNFR, "" when none pending
	rnfrAbs   string
	hashAlgo  string
	epsvAll   bool
	mlstFacts factSet      // OPTS MLST selection; allFacts until changed, empty: none
	pasv      net.Listener // open passive listener, nil when none
	// spare is the last passive listener, kept passiveReuseIdle for the
	// next PASV or EPSV (keepSpare); spare and spareTimer guarded by mu.
	spare      net.Listener
	spareTimer *time.Timer
	active     netip.AddrPort // PORT/EPRT target; invalid when none
	quitting   bool
	dataTLS    *tls.Config // data connection TLS config bound to this control session

	// Guarded by Server.mu (prelogin.go): whether the session counts as
	// not logged in, since when, and whether it was closed to make room.
	preLogin bool
	preSince time.Time
	evicted  bool
	loginBy  time.Time // the login deadline while not logged in

	failures   int // failed logins in this session
	badLines   int
	unknownPre int
}

func newSession(srv *Server, c net.Conn, remote netip.AddrPort, implicit bool) *session {
	id := srv.nextID.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		srv:      srv,
		id:       id,
		remote:   remote,
		local:    addrPort(c.LocalAddr()),
		implicit: implicit,
		log:      srv.log.With("session", id, "remote", remote.String()),
		ctx:      ctx,
		cancel:   cancel,
		conn:     c,
		cwd:      "/",
		hashAlgo: "SHA-256",
		started:  time.Now(),
		loginBy:  time.Now().Add(srv.cfg.LoginTimeout),
	}
	ss.mlstFacts = allFacts
	ss.setConn(c)
	return ss
}

// setConn (re)builds the reader and writer on c. Reader goroutine only.
func (ss *session) setConn(c net.Conn) {
	ss.wmu.Lock()
	ss.conn = c
	ss.wmu.Unlock()
	if ss.r != nil {
		ss.r.Release()
	}
	var src io.Reader = c
	if ss.ctls != nil && ss.ctls.tc == c {
		src = ss.ctls
	} else {
		ss.ctls = nil
	}
	ss.r = ftpproto.NewReader(src, ss.srv.cfg.MaxLineLen)
}

// replyWriters pools the buffers replies are formatted in: a session holds
// none between replies (idle sessions are most of a busy server's). Like
// any sync.Pool it is state-free spare memory shared by all servers.
var replyWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 512) }}

// writeReply formats and sends one reply on conn. Caller holds wmu.
func (ss *session) writeReply(code int, text string) error {
	w := replyWriters.Get().(*bufio.Writer)
	w.Reset(ss.conn)
	ftpproto.WriteReply(w, code, text)
	err := w.Flush()
	w.Reset(nil)
	replyWriters.Put(w)
	return err
}

// serve is the command loop, one goroutine per connection.
func (ss *session) serve() {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			ss.srv.panics.Add(1)
			ss.log.Error("panic in session", "panic", p, "stack", string(debug.Stack()))
			// The client gets an answer rather than a silent drop; TryLock
			// because the panic may have struck while a reply was written.
			if ss.wmu.TryLock() {
				ss.conn.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
				ss.writeReply(ftpproto.CodeUnavailable, "Internal error; closing control connection.")
				ss.wmu.Unlock()
			}
		}
		ss.finish(start)
	}()
	ss.log.Info("session start", "implicit_tls", ss.implicit)
	ss.event(Event{Kind: SessionStart})
	setOOBInline(ss.conn)
	if ss.implicit {
		ctrlTLS, dataTLS := tlsconf.ForControl(ss.srv.cfg.TLS)
		tc := ss.serverTLS(ctrlTLS)
		if err := handshake(ss.ctx, tc); err != nil {
			ss.log.Info("implicit TLS handshake failed", "err", err)
			return
		}
		ss.tls, ss.pbsz, ss.protP = true, true, true
		ss.noteTLS()
		ss.dataTLS = dataTLS
		ss.setConn(tc)
	}
	ss.reply(ftpproto.CodeReady, ss.srv.cfg.Banner)
	for !ss.quitting {
		line, err := ss.readLine()
		if err != nil {
			switch {
			case errors.Is(err, ftpproto.ErrLineTooLong):
				ss.reply(ftpproto.CodeSyntaxError, "Command line too long.")
				if ss.badInput() {
					return
				}
				continue
			case isTimeout(err) && !ss.loggedIn() && !time.Now().Before(ss.loginBy):
				ss.log.Info("login timeout")
				ss.reply(ftpproto.CodeUnavailable, "Login timeout: closing control connection.")
			case isTimeout(err):
				ss.log.Info("idle timeout")
				ss.reply(ftpproto.CodeUnavailable, "Timeout: closing control connection.")
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				ss.log.Debug("control read failed", "err", err)
			}
			return
		}
		ss.handleLine(line)
		ss.setState(stateIdle)
	}
}

// readLine reads the next command, with the idle timer armed only while no
// transfer is running.
func (ss *session) readLine() ([]byte, error) {
	ss.mu.Lock()
	ss.state = stateIdle
	if ss.xfer == nil {
		d := time.Now().Add(ss.srv.cfg.IdleTimeout)
		if !ss.loggedIn() && ss.loginBy.Before(d) {
			d = ss.loginBy
		}
		ss.conn.SetReadDeadline(d)
	} else {
		ss.conn.SetReadDeadline(time.Time{})
	}
	ss.mu.Unlock()
	if ss.r.Buffered() == 0 {
		// Nothing pipelined: wait for the next command without holding a
		// read buffer.
		ss.r.Release()
		if err := waitReadable(ss.idleSocket()); err != nil {
			ss.setState(stateActive)
			return nil, err
		}
	}
	line, err := ss.r.ReadLine()
	ss.setState(stateActive)
	return line, err
}

// idleSocket is the TCP socket the next command arrives on when nothing
// of it can be buffered above the socket: the plain control connection, or
// the one under TLS when crypto/tls holds none of its bytes (tlsidle.go).
// Else nil.
func (ss *session) idleSocket() *net.TCPConn {
	if ss.ctls != nil {
		return ss.ctls.idle()
	}
	tc, _ := ss.conn.(*net.TCPConn)
	return tc
}

// waitReadable blocks until a TCP connection has data (or its deadline
// passes, or it is closed) without a buffer to read into. With no socket
// (nil: data may be buffered above it, or not TCP) it returns at once.
func waitReadable(tc *net.TCPConn) error {
	if tc == nil {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var peek [1]byte
	err = rc.Read(func(fd uintptr) bool {
		// Look before waiting: data may have arrived with no readiness
		// event left to wake us (the last read consumed it).
		n, _, err := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return n > 0 || err != unix.EAGAIN
	})
	return err
}

func (ss *session) setState(st connState) {
	ss.mu.Lock()
	if ss.state != stateClosed {
		ss.state = st
	}
	ss.mu.Unlock()
}

// badInput counts a malformed line and reports whether the session should
// now be closed.
func (ss *session) badInput() bool {
	ss.badLines++
	if ss.badLines >= maxBadLines {
		ss.log.Warn("closing session after repeated malformed input")
		ss.reply(ftpproto.CodeUnavailable, "Too many malformed commands; closing.")
		return true
	}
	return false
}

// finish tears the session down once.
func (ss *session) finish(start time.Time) {
	ss.mu.Lock()
	ss.state = stateClosed
	x := ss.xfer
	ss.mu.Unlock()
	ss.cancel()
	if x != nil {
		x.abort()
		<-x.done
	}
	ss.closePasv()
	ss.dropSpare()
	ss.logout()
	ss.conn.Close()
	d := time.Since(start)
	ss.srv.log.Info("session end", "session", ss.id, "remote", ss.remote.String(), "user", ss.userName, "duration", d)
	ss.event(Event{Kind: SessionEnd, Duration: d})
	ss.srv.endSession(ss)
}

// logout drops the login state (REIN and session end).
func (ss *session) logout() {
	if ss.fs != nil {
		ss.fs.Close()
		ss.fs = nil
	}
	if ss.acct != nil {
		ss.acct.Close()
		ss.acct = nil
	}
}

// closeIfIdle is Shutdown's polite close: a session waiting for a command
// gets 421 and is closed; others are left to finish, and so is one that has
// just finished a transfer: its client has yet to verify and close it (a
// 421 in answer to the checksum would make a complete download look failed).
func (ss *session) closeIfIdle() {
	ss.mu.Lock()
	idle := ss.state == stateIdle && ss.xfer == nil && !ss.inCloseGraceLocked()
	if idle {
		ss.state = stateClosed
	}
	ss.mu.Unlock()
	if idle {
		ss.wmu.Lock()
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.writeReply(ftpproto.CodeUnavailable, "Server shutting down.")
		ss.conn.Close()
		ss.wmu.Unlock()
	}
}

// inCloseGrace reports whether the session finished a file transfer less
// than Config.CloseGrace ago.
func (ss *session) inCloseGrace() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.inCloseGraceLocked()
}

func (ss *session) inCloseGraceLocked() bool {
	return !ss.xferEnded.IsZero() && time.Since(ss.xferEnded) < ss.srv.cfg.CloseGrace
}

// mayRunWhileClosing is the Shutdown rule for a command: what a running
// transfer allows (ABOR, STAT, NOOP) and, just after one, what closes it.
func (ss *session) mayRunWhileClosing(row command, known bool) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return known && (ss.xfer != nil || row.closes && ss.inCloseGraceLocked())
}

// forceClose is Shutdown's last resort and an admin's kick. The control
// connection is closed first: cancelling first let the session answer
// the transfer's 426 and then go on reading and running the client's next
// commands while this waited for the write lock behind those replies.
func (ss *session) forceClose() {
	ss.wmu.Lock()
	ss.conn.Close()
	ss.wmu.Unlock()
	ss.cancel()
	ss.mu.Lock()
	x := ss.xfer
	ss.mu.Unlock()
	if x != nil {
		x.abort()
	}
}

// reply sends one (possibly multi-line) reply.
func (ss *session) reply(code int, text string) {
	ss.wmu.Lock()
	ss.conn.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
	if err := ss.writeReply(code, text); err != nil {
		ss.log.Debug("reply write failed", "err", err, "code", code)
	}
	ss.lastCode = code
	ss.wmu.Unlock()
	if code == ftpproto.CodeExceededStorage {
		ss.event(Event{Kind: QuotaRefused, Verb: ss.verb})
	}
}

// user returns the account's current settings; called once per command so
// an admin's change applies at once.
func (ss *session) user() accounts.User { return ss.acct.User() }

func (ss *session) loggedIn() bool { return ss.acct != nil }

// handshake runs a TLS server handshake under its own deadline.
func handshake(ctx context.Context, tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setOOBInline keeps urgent data in the stream. Clients such as Python's
// ftplib send ABOR's line with MSG_OOB; without SO_OOBINLINE the kernel
// pulls its last byte (the LF) out of band and the line never ends.
func setOOBInline(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	})
}

// limiter returns the user's shared limiter for a direction (nil:
// unlimited): the rate is the user's, split among all their transfers.
func (ss *session) limiter(upload bool) *rate.Limiter {
	up, down := ss.acct.Limits()
	if upload {
		return up
	}
	return down
}

// clientGoneGrace is how long the end of an upload that could not be
// resumed waits for a sign that the client died with it. A killed client's
// kernel ends the data connection with a FIN, exactly like a finished
// upload, and closes the control connection within microseconds (first or
// last depending on descriptor numbers); a live client sends nothing until
// it has read the 226. Paid only by users who cannot resume (drop boxes).
const clientGoneGrace = 25 * time.Millisecond

// clientGone reports whether the client closed the control connection (or
// the session ended) by the time an upload's data ended, waiting up to
// clientGoneGrace for it. Called from the transfer goroutine: it only
// peeks, never consumes, what the command reader reads; the reader ends
// the session (and ctx) when it sees the control EOF.
func (ss *session) clientGone(ctx context.Context) bool {
	if ctx.Err() != nil || ss.controlClosed() {
		return true
	}
	t := time.NewTimer(clientGoneGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
	}
	return ss.controlClosed()
}

// controlClosed peeks whether the peer closed the control connection.
func (ss *session) controlClosed() bool {
	ss.wmu.Lock()
	c := ss.conn
	ss.wmu.Unlock()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
		if rc, ok := c.(*recordConn); ok {
			c = rc.TCPConn
		}
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err == unix.ECONNRESET
	})
	return closed
}

// fmtSize is strconv.FormatInt for replies.
func fmtSize(n int64) string { return strconv.FormatInt(n, 10) }
