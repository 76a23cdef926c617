package share

import (
	"bytes"
	"container/list"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Connection limits of a share. 4,500 silent FTP connections from one
// address exhausted the process's 4,096 descriptors: new FTP visitors and
// the web page both timed out. Every listener now has a cap per address
// and all of them together stay within the descriptor limit.
const (
	// maxConnsPerAddr caps one address's connections on each protocol: a
	// browser opens 6 to a host, wharf's client up to 32.
	maxConnsPerAddr = 32
	// fdsPerFTPSession: control, passive listener, data connection and
	// the file it moves. An HTTP connection needs two (socket, file).
	fdsPerFTPSession = 4
	fdsPerHTTPConn   = 2
	// fdReserve is kept for the process itself (folder roots, logs,
	// certificates, the listeners, HTTP refusals being written).
	fdReserve = 64
	// addrShareDen: one address holds at most this fraction of a
	// protocol's connections, so under a low descriptor limit (256: 24
	// FTP sessions) one address cannot take them all.
	addrShareDen = 4
	// maxRefusalsInFlight bounds the HTTP refusals being answered at
	// once; past it a connection is closed without a word.
	maxRefusalsInFlight = 16
	// refusalFor bounds the life of one refusal: read the request, answer.
	refusalFor = 2 * time.Second
)

// perAddrCap is how many of a protocol's total connections one address
// may hold.
func perAddrCap(total int) int {
	return max(1, min(maxConnsPerAddr, total/addrShareDen))
}

// httpRefusalBody is what a plain-HTTP visitor past a cap reads: a
// browser shows the words instead of "connection reset".
const httpRefusalBody = "503 too many connections at once; try again in a moment.\n"

var httpRefusal = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 10\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(httpRefusalBody)) + "\r\n\r\n" +
	httpRefusalBody

// raiseFileLimit raises the soft descriptor limit to the hard one (Go does
// this itself at start on Linux; a share may run where it did not) and
// returns the soft limit now in force; 0 when unknown.
func raiseFileLimit() uint64 {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		up := l
		up.Cur = l.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &up) == nil {
			l = up
		}
	}
	return l.Cur
}

// connBudget splits a descriptor limit between the FTP sessions and the
// HTTP connections a share admits: half each, after the reserve.
func connBudget(nofile uint64) (ftpSessions, httpConns int) {
	if nofile == 0 || nofile == unix.RLIM_INFINITY || nofile > 1<<20 {
		nofile = 1 << 20
	}
	free := max(int(nofile)-fdReserve, 2*fdsPerFTPSession)
	return max(1, free/2/fdsPerFTPSession), max(1, free/2/fdsPerHTTPConn)
}

// capListener admits at most perAddr connections from one address and
// total overall. When the total is reached, the oldest connection not
// serving a request (one that sent nothing yet, or an idle keep-alive)
// is closed to make room, as the FTP engine closes its oldest silent
// pre-login session: silent connections from many addresses cannot lock
// the web page. A connection refused anyway (past its address's cap, or
// every place busy with a request) is closed at once when its own address
// is past its cap (a browser opens 6), and otherwise answered 503 in
// words when refuse is set and fewer than maxRefusalsInFlight are being
// answered (its request read first, so the answer is not lost to a
// reset). Nothing of a handler is spent on a refused one.
type capListener struct {
	net.Listener
	perAddr, total int
	refuse         bool          // answer httpRefusal (plain HTTP only)
	refusing       chan struct{} // a place per refusal being answered

	mu    sync.Mutex
	open  int                // guarded by mu
	addrs map[netip.Addr]int // guarded by mu
	order list.List          // guarded by mu: the admitted *capConn, oldest first
}

func newCapListener(ln net.Listener, perAddr, total int, refuse bool) *capListener {
	return &capListener{Listener: ln, perAddr: perAddr, total: total, refuse: refuse,
		refusing: make(chan struct{}, maxRefusalsInFlight), addrs: make(map[netip.Addr]int)}
}

// turnAway refuses c, in words (off the accept loop) if words and refuse.
func (l *capListener) turnAway(c net.Conn, words bool) {
	if !l.refuse || !words {
		c.Close()
		return
	}
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close() // a flood: no words for it
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(refusalFor))
		// Read what the request sends first (its headers, up to 4 KiB):
		// closing with unread bytes would reset the connection and the
		// client could lose the answer.
		b := make([]byte, 4096)
		for n := 0; n < len(b); {
			m, err := c.Read(b[n:])
			n += m
			if err != nil || bytes.Contains(b[:n], []byte("\r\n\r\n")) {
				break
			}
		}
		io.WriteString(c, httpRefusal)
	}()
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, perr := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := ap.Addr().Unmap()
		var victim *capConn
		var cc *capConn
		l.mu.Lock()
		mine := perr == nil && l.addrs[ip] < l.perAddr // within its address's cap
		if mine && l.open >= l.total {
			victim = l.evictableLocked()
		}
		if mine && l.open < l.total {
			l.open++
			l.addrs[ip]++
			cc = &capConn{Conn: c, l: l, ip: ip}
			cc.el = l.order.PushBack(cc)
		}
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close()
		}
		if cc == nil {
			l.turnAway(c, mine)
			continue
		}
		return cc, nil
	}
}

// evictableLocked gives up the place of the oldest connection serving no
// request and returns it to be closed; nil when every one is busy. Caller
// holds mu.
func (l *capListener) evictableLocked() *capConn {
	for e := l.order.Front(); e != nil; e = e.Next() {
		if cc := e.Value.(*capConn); !cc.busy {
			l.releaseLocked(cc)
			return cc
		}
	}
	return nil
}

// releaseLocked gives cc's place back, once. Caller holds mu.
func (l *capListener) releaseLocked(cc *capConn) {
	if cc.el == nil {
		return
	}
	l.order.Remove(cc.el)
	cc.el = nil
	l.open--
	if l.addrs[cc.ip]--; l.addrs[cc.ip] <= 0 {
		delete(l.addrs, cc.ip)
	}
}

// ConnState is the http.Server hook that tells the listener which
// connections are serving a request (never evicted) and which are not.
func (l *capListener) ConnState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	cc, ok := c.(*capConn)
	if !ok {
		return
	}
	l.mu.Lock()
	cc.busy = st == http.StateActive || st == http.StateHijacked
	l.mu.Unlock()
}

// capConn gives its place back at its first Close, unless it was evicted.
type capConn struct {
	net.Conn
	l    *capListener
	ip   netip.Addr
	el   *list.Element // guarded by l.mu; nil once the place is given back
	busy bool          // guarded by l.mu: serving a request
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return err
}
