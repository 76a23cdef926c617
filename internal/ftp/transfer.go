package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/tlsconf"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/xfer"
)

// transfer is one running data transfer. The reader goroutine starts it and
// may abort it; its own goroutine moves the data and sends the final reply.
type transfer struct {
	cancel   context.CancelFunc
	done     chan struct{} // closed after the final reply was sent
	aborted  atomic.Bool   // ABOR, QUIT or shutdown asked it to stop
	bytes    atomic.Int64  // moved so far, for STAT
	size     atomic.Int64  // bytes the transfer will move when known (a download), else 0
	timedOut atomic.Bool   // the watchdog closed a stalled data connection
	what     string
	verb     string
	path     string
	upload   bool
	listing  bool // LIST, NLST, MLSD: not a file transfer for xferlog
	start    time.Time

	mu   sync.Mutex
	conn net.Conn     // the data connection once open; guarded by mu
	raw  *net.TCPConn // the TCP connection under conn; guarded by mu
}

// abort stops the transfer as fast as possible: cancel, and close the data
// connection so a copy blocked in the kernel returns.
func (x *transfer) abort() {
	x.aborted.Store(true)
	x.cancel()
	x.mu.Lock()
	if x.conn != nil {
		x.conn.Close()
	}
	x.mu.Unlock()
}

// transferFunc moves data over an open data connection and returns the bytes
// moved. For uploads it also puts the file in place before returning, so the
// 226 that follows means the file is complete.
type transferFunc func(ctx context.Context, dc net.Conn, x *transfer) (int64, error)

// errDataBroken marks a data connection that failed (reset, timeout, TLS
// truncation): 426.
var errDataBroken = errors.New("data connection broken")

// startTransfer sends 150, then opens the data connection and runs fn in a
// goroutine so the reader can take ABOR, STAT and NOOP meanwhile. cleanup
// runs on the transfer goroutine after fn, whatever happened (close files).
func (ss *session) startTransfer(what, path string, upload bool, fn transferFunc, cleanup func()) error {
	if cleanup == nil {
		cleanup = func() {}
	}
	cleanup = sync.OnceFunc(cleanup)
	if err := ss.checkDataReady(); err != nil {
		cleanup()
		return err
	}
	if p, ok := ss.pasv.(*passiveListener); ok && !p.claim() {
		ss.pasv = nil
		cleanup()
		return replyErr(ftpproto.CodeCantOpenData, "Passive port closed unused after the data timeout; send PASV or EPSV again.")
	}
	pasv, active := ss.pasv, ss.active
	ss.pasv, ss.active = nil, netip.AddrPort{}
	ctx, cancel := context.WithCancel(ss.ctx)
	x := &transfer{cancel: cancel, done: make(chan struct{}), what: what, verb: ss.verb, path: path, upload: upload, start: time.Now(),
		listing: strings.HasPrefix(what, "LIST ") || strings.HasPrefix(what, "NLST ") || strings.HasPrefix(what, "MLSD ")}
	mode := "ASCII"
	if ss.binary {
		mode = "BINARY"
	}
	if strings.HasPrefix(what, "FILE: ") {
		// RFC 1123 section 4.1.2.9: STOU's 150 names the file chosen.
		ss.reply(ftpproto.CodeFileStatusOK, what)
	} else {
		ss.reply(ftpproto.CodeFileStatusOK, fmt.Sprintf("Opening %s mode data connection for %s.", mode, what))
	}
	ss.mu.Lock()
	ss.xfer = x
	ss.conn.SetReadDeadline(time.Time{}) // the idle timer pauses while data flows
	ss.mu.Unlock()
	user := ss.userName
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ss.srv.panics.Add(1)
				ss.log.Error("panic in transfer", "panic", p, "stack", string(debug.Stack()))
				x.abort()
				cleanup()
				ss.replyTransfer(x, ftpproto.CodeLocalError, "Local error in processing.")
				ss.endTransfer(x)
			}
		}()
		defer cancel()
		dc, raw, err := ss.openData(ctx, pasv, active)
		if err != nil {
			cleanup()
			ss.log.Info("data connection failed", "err", err)
			code, text := ftpproto.CodeCantOpenData, "Can't open data connection."
			var re *replyError
			if errors.As(err, &re) {
				code, text = re.code, re.text
			}
			if x.aborted.Load() {
				code, text = ftpproto.CodeTransferAborted, "Connection closed; transfer aborted."
			}
			ss.replyTransfer(x, code, text)
			ss.endTransfer(x)
			return
		}
		x.mu.Lock()
		x.conn, x.raw = dc, raw
		aborted := x.aborted.Load()
		x.mu.Unlock()
		ss.event(Event{Kind: TransferStart, User: user, Verb: x.verb, Path: path, Upload: upload, Listing: x.listing})
		var n int64
		if aborted {
			err = context.Canceled
		} else {
			stop := x.watch(ss.srv.cfg.DataTimeout)
			n, err = fn(ctx, dc, x)
			stop()
			x.bytes.Store(n)
		}
		cleanup()
		cerr := dc.Close() // for TLS this sends close_notify, which marks a download complete
		if err == nil && cerr != nil && !upload {
			err = fmt.Errorf("%w: close: %v", errDataBroken, cerr)
		}
		d := time.Since(x.start)
		code, text := ftpproto.CodeClosingData, "Transfer complete."
		switch {
		case x.aborted.Load():
			code, text = ftpproto.CodeTransferAborted, "Connection closed; transfer aborted."
		case x.timedOut.Load():
			code, text = ftpproto.CodeTransferAborted, "Data connection timed out; transfer aborted."
		case err != nil:
			code, text = ss.transferFailure(err)
		}
		ss.log.Info("transfer", "what", what, "path", path, "upload", upload,
			"bytes", n, "duration", d, "code", code, "err", err)
		ss.writeXferLog(x, n, d, err == nil && !x.aborted.Load())
		var evErr error
		if code != ftpproto.CodeClosingData {
			evErr = err
			if evErr == nil {
				evErr = context.Canceled
			}
		}
		ss.event(Event{Kind: TransferDone, User: user, Verb: x.verb, Code: code, Path: path, RealPath: ss.realPath(path),
			Upload: upload, Listing: x.listing, Bytes: n, Duration: d, Err: evErr})
		ss.replyTransfer(x, code, text)
		ss.endTransfer(x)
	}()
	return nil
}

// transferFailure picks the reply for a failed transfer.
func (ss *session) transferFailure(err error) (int, string) {
	var re *replyError
	switch {
	case errors.As(err, &re):
		return re.code, re.text
	case errors.Is(err, vfs.ErrTransient):
		// The storage failed, not the data connection: never 426 or 226.
		return errorReply("STOR", err)
	case errors.Is(err, errDataBroken), errors.Is(err, context.Canceled), isTimeout(err), isNetErr(err):
		return ftpproto.CodeTransferAborted, "Connection closed; transfer aborted."
	}
	return errorReply("STOR", err)
}

func isNetErr(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// endTransfer clears the running transfer and re-arms the idle timer.
func (ss *session) endTransfer(x *transfer) {
	ss.mu.Lock()
	if ss.xfer == x {
		ss.xfer = nil
	}
	if !x.listing {
		ss.xferEnded = time.Now()
	}
	if ss.state != stateClosed {
		ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.IdleTimeout))
	}
	ss.mu.Unlock()
	close(x.done)
}

// waitTransfer blocks until the running transfer, if any, is over.
func (ss *session) waitTransfer() {
	ss.mu.Lock()
	x := ss.xfer
	ss.mu.Unlock()
	if x != nil {
		<-x.done
	}
}

// checkDataReady refuses a transfer command before PORT/PASV, and plain
// data when policy wants TLS.
func (ss *session) checkDataReady() error {
	if ss.pasv == nil && !ss.active.IsValid() {
		return replyErr(ftpproto.CodeCantOpenData, "Use PORT, EPRT, PASV or EPSV first.")
	}
	if !ss.protP && (ss.srv.cfg.TLSRequired || ss.acct != nil && ss.user().TLSRequired) {
		ss.closePasv()
		ss.active = netip.AddrPort{}
		// RFC 4217 section 9: 521 when the PROT level is not acceptable.
		return replyErr(521, "Data connections must be encrypted: use PROT P.")
	}
	return nil
}

// openData accepts or dials the data connection and wraps it in TLS when
// PROT P is on.
func (ss *session) openData(ctx context.Context, pasv net.Listener, active netip.AddrPort) (net.Conn, *net.TCPConn, error) {
	timeout := ss.srv.cfg.DataTimeout
	var c *net.TCPConn
	var err error
	if pasv != nil {
		c, err = ss.acceptData(ctx, pasv, timeout)
		if err != nil {
			pasv.Close()
		} else {
			ss.keepSpare(pasv)
		}
	} else {
		d := net.Dialer{Timeout: timeout, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: ss.local.Addr().AsSlice()}}
		var nc net.Conn
		nc, err = d.DialContext(ctx, "tcp", active.String())
		if err == nil {
			c = nc.(*net.TCPConn)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if !ss.protP {
		return c, c, nil
	}
	// GuardEOF lets xfer.Receive tell close_notify from a bare FIN.
	tc := tls.Server(xfer.GuardEOF(c), ss.dataTLS)
	if err := handshake(ctx, tc); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("data TLS handshake: %w", err)
	}
	if ss.srv.cfg.TLSRequireReuse && tlsconf.RequireResumed(tc.ConnectionState()) != nil {
		tc.Close()
		return nil, nil, replyErr(ftpproto.CodeCantOpenData, "TLS session of data connection must resume the control connection's session.")
	}
	return tc, c, nil
}

// acceptData waits for the client's passive connection, dropping any from
// another address (RFC 2577 section 5, port stealing) unless allowed.
func (ss *session) acceptData(ctx context.Context, ln net.Listener, timeout time.Duration) (*net.TCPConn, error) {
	tl := tcpListener(ln)
	tl.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { tl.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		c, err := tl.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("accept data connection: %w", err)
		}
		peer := addrPort(c.RemoteAddr()).Addr().Unmap()
		if len(ss.srv.cfg.ProxyFrom) > 0 {
			if !ss.srv.proxyAllowed(peer) {
				ss.log.Warn("dropped passive data connection: not from a PROXY protocol peer", "peer", peer.String())
				c.Close()
				continue
			}
			ap, err := readProxyHeader(c, min(timeout, proxyHeaderTimeout))
			if err != nil {
				ss.log.Warn("dropped passive data connection", "peer", peer.String(), "err", err)
				c.Close()
				continue
			}
			peer = ap.Addr()
		}
		if !ss.srv.cfg.AllowForeignPassive && peer != ss.remote.Addr().Unmap() {
			ss.log.Warn("dropped passive data connection from a foreign address", "peer", peer.String())
			c.Close()
			continue
		}
		return c, nil
	}
}

func (ss *session) closePasv() {
	if ss.pasv != nil {
		ss.pasv.Close()
		ss.pasv = nil
	}
}

// passiveReuseIdle is how long a session keeps its last passive listener
// for its next PASV or EPSV. A client storing many small files (FileZilla,
// mirror) sends PASV before each, and a fresh listener (socket, bind in
// the range, listen, close) costs more than such a file's data; an idle
// session must not pin a port of the range, so the spare is closed soon.
const passiveReuseIdle = 2 * time.Second

// keepSpare keeps a passive listener whose one connection was accepted,
// for the session's next PASV or EPSV (passiveReuseIdle). Any goroutine.
//
// Listeners are closed after mu is released, never under it: closing a
// passive listener reports PassiveClose through ss.event, which takes mu
// (a session deadlocked on itself 2 s after each transfer whenever
// Config.Events was set).
func (ss *session) keepSpare(ln net.Listener) {
	ss.mu.Lock()
	if ss.state == stateClosed {
		ss.mu.Unlock()
		ln.Close()
		return
	}
	old := ss.spare
	if old != nil {
		ss.spareTimer.Stop()
	}
	ss.spare = ln
	ss.spareTimer = time.AfterFunc(passiveReuseIdle, func() {
		ss.mu.Lock()
		expired := ss.spare == ln
		if expired {
			ss.spare = nil
		}
		ss.mu.Unlock()
		if expired {
			ln.Close()
		}
	})
	ss.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// takeSpare returns the kept passive listener, if any, with every
// connection that reached it meanwhile closed unread: a listener's next
// accepted connection must be one made after its PASV reply.
func (ss *session) takeSpare() net.Listener {
	ss.mu.Lock()
	ln := ss.spare
	ss.spare = nil
	if ln != nil {
		ss.spareTimer.Stop()
	}
	ss.mu.Unlock()
	if ln == nil {
		return nil
	}
	rc, err := tcpListener(ln).SyscallConn()
	if err != nil {
		ln.Close()
		return nil
	}
	err = rc.Control(func(fd uintptr) {
		for {
			nfd, _, err := unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			unix.Close(nfd)
		}
	})
	if err != nil {
		ln.Close()
		return nil
	}
	return ln
}

// dropSpare closes the kept passive listener (session end, REIN).
func (ss *session) dropSpare() {
	ss.mu.Lock()
	ln := ss.spare
	ss.spare = nil
	if ln != nil {
		ss.spareTimer.Stop()
	}
	ss.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// errTooManyPassive refuses a passive listener to a user holding
// Config.MaxPassivePerUser of them idle already.
var errTooManyPassive = errors.New("too many idle passive listeners for this account")

func (ss *session) passiveRefused(err error) error {
	if errors.Is(err, errTooManyPassive) {
		ss.log.Warn("passive listen refused", "err", err)
		return replyErr(ftpproto.CodeCantOpenData, "Too many open passive ports for this account; use or close them first.")
	}
	ss.log.Warn("passive listen failed", "err", err)
	return replyErr(ftpproto.CodeCantOpenData, "Can't open passive connection.")
}

// passiveListener returns a listener for PASV or EPSV: the session's kept
// one, else a new one (closing any earlier one: one per session), unless
// the user holds Config.MaxPassivePerUser idle already. It is armed: closed
// at the data timeout unless a transfer claims it first.
func (ss *session) passiveListener() (net.Listener, error) {
	ss.closePasv()
	ss.active = netip.AddrPort{}
	owner := ss.user().Name
	if !ss.srv.passiveTake(owner, time.Now()) {
		ss.dropSpare()
		return nil, errTooManyPassive
	}
	if ln := ss.takeSpare(); ln != nil {
		if p, ok := ln.(*passiveListener); ok && p.owner == owner {
			p.arm()
			return p, nil
		}
		ln.Close()
	}
	ln, err := ss.listenPassive()
	if err != nil {
		return nil, err
	}
	p := ss.observePassive(ln, owner)
	p.arm()
	return p, nil
}

// listenPassive opens a passive listener on the control connection's local
// address, in the configured port range.
func (ss *session) listenPassive() (*net.TCPListener, error) {
	ip := ss.local.Addr()
	lo, hi := ss.srv.cfg.PassivePorts[0], ss.srv.cfg.PassivePorts[1]
	// Plain TCP: Go listens with MPTCP by default, whose socket setup and
	// teardown cost a one-file transfer more than its data (a data
	// connection gains nothing from several paths).
	// No TCP keep-alive either: Go sets four socket options per accepted
	// connection for it, and a stalled data connection is the watchdog's
	// business (Config.DataTimeout).
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	listen := func(port uint16) (*net.TCPListener, error) {
		ln, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(ip, port).String())
		if err != nil {
			return nil, err
		}
		return ln.(*net.TCPListener), nil
	}
	if lo == 0 {
		ln, err := listen(0)
		if err != nil {
			return nil, fmt.Errorf("passive listen: %w", err)
		}
		return ln, nil
	}
	n := hi - lo + 1
	first := rand.IntN(n)
	var lastErr error
	for i := range n {
		port := lo + (first+i)%n
		ln, err := listen(uint16(port))
		if err == nil {
			return ln, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("passive listen in %d-%d: %w", lo, hi, lastErr)
}

func (ss *session) cmdPASV(string) error {
	if ss.epsvAll {
		return replyErr(ftpproto.CodeBadSequence, "PASV not allowed after EPSV ALL.")
	}
	announce := ss.local.Addr().Unmap()
	if ss.srv.public.IsValid() {
		announce = ss.srv.public
	}
	if !announce.Is4() {
		// PASV can only carry an IPv4 address (RFC 2428 section 1).
		return replyErr(ftpproto.CodeCantOpenData, "PASV needs IPv4; use EPSV.")
	}
	ln, err := ss.passiveListener()
	if err != nil {
		return ss.passiveRefused(err)
	}
	ss.pasv = ln
	port := addrPort(ln.Addr()).Port()
	a := announce.As4()
	ss.reply(ftpproto.CodePassive, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xFF))
	return nil
}

func (ss *session) cmdEPSV(arg string) error {
	switch strings.ToUpper(arg) {
	case "ALL":
		ss.epsvAll = true
		ss.reply(ftpproto.CodeOK, "EPSV ALL OK.")
		return nil
	case "":
	case "1", "2":
		want := "1"
		if !ss.local.Addr().Unmap().Is4() {
			want = "2"
		}
		if arg != want {
			return replyErr(ftpproto.CodeBadProtocol, "Network protocol not supported, use ("+want+").")
		}
	default:
		if n, err := strconv.ParseUint(arg, 10, 8); err == nil && n > 0 {
			// RFC 2428 section 3: an unknown network protocol gets 522
			// and the list of those the host supports.
			return replyErr(ftpproto.CodeBadProtocol, "Network protocol not supported, use (1,2).")
		}
		return replyErr(ftpproto.CodeArgSyntaxError, "EPSV: bad argument.")
	}
	ln, err := ss.passiveListener()
	if err != nil {
		return ss.passiveRefused(err)
	}
	ss.pasv = ln
	ss.reply(ftpproto.CodeExtendedPassive, fmt.Sprintf("Entering Extended Passive Mode (|||%d|).", addrPort(ln.Addr()).Port()))
	return nil
}

func (ss *session) cmdPORT(arg string) error {
	if ss.epsvAll {
		return replyErr(ftpproto.CodeBadSequence, "PORT not allowed after EPSV ALL.")
	}
	parts := strings.Split(arg, ",")
	if len(parts) != 6 {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax error in PORT parameters.")
	}
	var b [6]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.Trim(p, " "), 10, 8)
		if err != nil {
			return replyErr(ftpproto.CodeArgSyntaxError, "Syntax error in PORT parameters.")
		}
		b[i] = byte(v)
	}
	ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(b[4])<<8|uint16(b[5]))
	return ss.setActive(ap, "PORT")
}

func (ss *session) cmdEPRT(arg string) error {
	if ss.epsvAll {
		return replyErr(ftpproto.CodeBadSequence, "EPRT not allowed after EPSV ALL.")
	}
	if len(arg) < 2 {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax error in EPRT parameters.")
	}
	d := arg[:1]
	f := strings.Split(arg[1:], d)
	if len(f) != 4 || f[3] != "" {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax error in EPRT parameters.")
	}
	if f[0] != "1" && f[0] != "2" {
		return replyErr(ftpproto.CodeBadProtocol, "Network protocol not supported, use (1,2).")
	}
	ip, err := netip.ParseAddr(f[1])
	port, perr := strconv.ParseUint(f[2], 10, 16)
	if err != nil || perr != nil || ip.Zone() != "" {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax error in EPRT parameters.")
	}
	if f[0] == "1" && !ip.Is4() || f[0] == "2" && (!ip.Is6() || ip.Is4In6()) {
		return replyErr(ftpproto.CodeArgSyntaxError, "EPRT address does not match its protocol.")
	}
	return ss.setActive(netip.AddrPortFrom(ip, uint16(port)), "EPRT")
}

// setActive records an active-mode target after the bounce checks of RFC
// 2577 section 3: only the client's own address, and no privileged port.
func (ss *session) setActive(ap netip.AddrPort, verb string) error {
	if ss.local.Addr().Unmap().Is4() != ap.Addr().Unmap().Is4() {
		return replyErr(ftpproto.CodeBadProtocol, "Network protocol not supported.")
	}
	if !ss.srv.cfg.AllowForeignActive {
		if ap.Addr().Unmap() != ss.remote.Addr().Unmap() || ap.Port() < 1024 {
			ss.log.Warn("refused "+verb+" to a foreign address or privileged port (bounce attack?)", "target", ap.String())
			return replyErr(ftpproto.CodeSyntaxError, "Illegal "+verb+" command: data connections go only to your own address.")
		}
	}
	if ap.Port() == 0 {
		return replyErr(ftpproto.CodeArgSyntaxError, "Illegal "+verb+" port.")
	}
	ss.closePasv()
	ss.active = ap
	ss.reply(ftpproto.CodeOK, verb+" command successful. Consider using PASV.")
	return nil
}

func (ss *session) cmdABOR(string) error {
	ss.mu.Lock()
	x := ss.xfer
	ss.mu.Unlock()
	if x != nil {
		x.abort()
		<-x.done // its 426 goes out first, as RFC 959 asks
		ss.reply(ftpproto.CodeClosingData, "ABOR command successful.")
		return nil
	}
	ss.closePasv()
	ss.active = netip.AddrPort{}
	ss.reply(ftpproto.CodeClosingData, "No transfer to abort.")
	return nil
}
