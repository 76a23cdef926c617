package ftp

import (
	"fmt"
	"net"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tcpProgress reads the kernel's byte counters of a data connection. The
// zero-copy paths (sendfile, splice) move data without passing through user
// space, so the kernel is the only place that sees progress while they run.
func tcpProgress(c *net.TCPConn) (int64, bool) {
	if c == nil {
		return 0, false
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var gerr error
	cerr := raw.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || gerr != nil {
		return 0, false
	}
	return int64(info.Bytes_acked + info.Bytes_received), true
}

// progress reports the bytes moved so far, for STAT during a transfer.
func (x *transfer) progress() int64 {
	x.mu.Lock()
	raw := x.raw
	x.mu.Unlock()
	if n, ok := tcpProgress(raw); ok {
		return n
	}
	return x.bytes.Load()
}

// watch closes the data connection when it stops moving for timeout: a
// timer checks the kernel counters, so no deadline has to be re-armed inside
// the zero-copy loops (which would mean wrapping the connection and losing
// sendfile). It returns a stop function.
func (x *transfer) watch(timeout time.Duration) (stop func()) {
	step := max(timeout/4, 10*time.Millisecond)
	// A new connection's counters start at zero: no getsockopt per
	// transfer just to learn that (one-file transfers are many).
	var last int64
	lastMove := time.Now()
	var t *time.Timer
	done := make(chan struct{})
	check := func() {}
	check = func() {
		select {
		case <-done:
			return
		default:
		}
		n, ok := tcpProgress(x.raw)
		now := time.Now()
		if !ok || n != last {
			last, lastMove = n, now
		} else if now.Sub(lastMove) >= timeout {
			x.timedOut.Store(true)
			x.mu.Lock()
			if x.conn != nil {
				x.conn.Close()
			}
			x.mu.Unlock()
			return
		}
		t.Reset(step)
	}
	t = time.AfterFunc(step, func() { check() })
	return func() {
		close(done)
		t.Stop()
	}
}

// writeXferLog appends one wu-ftpd xferlog line:
// current-time transfer-time remote-host file-size filename transfer-type
// special-action-flag direction access-mode username service-name
// authentication-method authenticated-user-id completion-status
func (ss *session) writeXferLog(x *transfer, n int64, d time.Duration, complete bool) {
	w := ss.srv.cfg.XferLog
	if w == nil || x.listing {
		return
	}
	typ, dir, status := 'b', 'o', 'c'
	if !ss.binary {
		typ = 'a'
	}
	if x.upload {
		dir = 'i'
	}
	if !complete {
		status = 'i'
	}
	secs := int64(d.Round(time.Second) / time.Second)
	name := strings.Map(func(r rune) rune {
		if r == ' ' {
			return '_'
		}
		return r
	}, path.Clean(x.path))
	line := fmt.Sprintf("%s %d %s %d %s %c _ %c r %s ftp 0 * %c\n",
		time.Now().Format("Mon Jan _2 15:04:05 2006"), secs, ss.remote.Addr().Unmap(), n, name, typ, dir, ss.userName, status)
	ss.srv.xferMu.Lock()
	defer ss.srv.xferMu.Unlock()
	w.Write([]byte(line))
}
