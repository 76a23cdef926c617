package share

import (
	"net"
	"net/netip"
	"sync"

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
	// certificates, the listeners).
	fdReserve = 64
)

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
// total overall; one over either is closed at once (HTTP has no greeting
// to refuse it with), before any handler or buffer is spent on it.
type capListener struct {
	net.Listener
	perAddr, total int

	mu    sync.Mutex
	open  int                // guarded by mu
	addrs map[netip.Addr]int // guarded by mu
}

func newCapListener(ln net.Listener, perAddr, total int) *capListener {
	return &capListener{Listener: ln, perAddr: perAddr, total: total, addrs: make(map[netip.Addr]int)}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, perr := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := ap.Addr().Unmap()
		l.mu.Lock()
		ok := perr == nil && l.open < l.total && l.addrs[ip] < l.perAddr
		if ok {
			l.open++
			l.addrs[ip]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &capConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *capListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.addrs[ip]--; l.addrs[ip] <= 0 {
		delete(l.addrs, ip)
	}
}

// capConn gives its place back once, at its first Close.
type capConn struct {
	net.Conn
	l    *capListener
	ip   netip.Addr
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
