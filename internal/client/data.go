package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// dataPlan is a data connection being set up: dialed already (passive) or
// waiting for the server to connect (active).
type dataPlan struct {
	conn net.Conn
	ln   net.Listener
}

func (p *dataPlan) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
}

func (c *Conn) prepareData(ctx context.Context) (*dataPlan, error) {
	if c.opts.Active {
		return c.prepareActive(ctx)
	}
	if !c.noEPSV {
		code, msg, err := c.cmd(ctx, "EPSV")
		if err != nil {
			return nil, err
		}
		if code == 229 {
			port, perr := parseEPSV(msg)
			if perr == nil {
				host, _, _ := net.SplitHostPort(c.raw.RemoteAddr().String())
				conn, derr := c.dialData(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
				if derr == nil {
					return &dataPlan{conn: conn}, nil
				}
				// An EPSV port we cannot reach (a NAT in the way): PASV
				// next time and now.
			}
		}
		c.noEPSV = true
	}
	code, msg, err := c.cmd(ctx, "PASV")
	if err != nil {
		return nil, err
	}
	if code != 227 {
		return nil, &Error{Code: code, Msg: msg}
	}
	ip, port, err := parsePASV(msg)
	if err != nil {
		return nil, err
	}
	// The address in the reply is the server's word only: connecting to it
	// would let a hostile server aim the data (an upload's bytes) at any
	// host (the CVE-2021-4189 class that Python's ftplib and curl, with
	// --ftp-skip-pasv-ip by default since 7.74, closed). The data goes
	// where the user named, the control peer, unless the user asked for the
	// reply's address (which also covers a server behind NAT announcing
	// its private one).
	if ctrlIP := c.peerIP(); !c.opts.PasvAddress {
		if ctrlIP != nil && !ip.Equal(ctrlIP) {
			c.trace("# ", fmt.Sprintf("PASV named %s; connecting to the server's host %s instead (--pasv-address uses the reply's)", ip, ctrlIP))
		}
		ip = ctrlIP
	}
	if ip == nil {
		return nil, fmt.Errorf("PASV: no address to connect to (control peer %s)", c.raw.RemoteAddr())
	}
	conn, err := c.dialData(ctx, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return &dataPlan{conn: conn}, nil
}

// peerIP is the control connection's peer: the host the user named.
func (c *Conn) peerIP() net.IP {
	if ta, ok := c.raw.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	host, _, _ := net.SplitHostPort(c.raw.RemoteAddr().String())
	return net.ParseIP(host)
}

func (c *Conn) dialData(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.opts.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("open data connection to %s: %w", addr, err)
	}
	return conn, nil
}

func (c *Conn) prepareActive(ctx context.Context) (*dataPlan, error) {
	local, _, _ := net.SplitHostPort(c.raw.LocalAddr().String())
	ln, err := net.Listen("tcp", net.JoinHostPort(local, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for active data connection: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	proto := 1
	if addr.IP.To4() == nil {
		proto = 2
	}
	code, msg, err := c.cmd(ctx, fmt.Sprintf("EPRT |%d|%s|%d|", proto, addr.IP, addr.Port))
	if err == nil && code/100 != 2 && proto == 1 {
		ip4 := addr.IP.To4()
		code, msg, err = c.cmd(ctx, fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip4[0], ip4[1], ip4[2], ip4[3], addr.Port>>8, addr.Port&0xff))
	}
	if err == nil && code/100 != 2 {
		err = &Error{Code: code, Msg: msg}
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &dataPlan{ln: ln}, nil
}

// maxForeignData bounds the connections from other hosts an active-mode
// listener turns away before it gives up on the server's.
const maxForeignData = 16

// acceptServer accepts the server's active-mode data connection: only one
// from the control connection's peer. Anyone who can reach the listening
// port could connect first and take an upload's bytes or feed a download
// (port theft); the server's side refuses the same (AllowForeignPassive).
func (c *Conn) acceptServer(ln net.Listener) (net.Conn, error) {
	want := c.peerIP()
	for range maxForeignData {
		conn, err := ln.Accept()
		if err != nil {
			return nil, err
		}
		ta, ok := conn.RemoteAddr().(*net.TCPAddr)
		if ok && want != nil && ta.IP.Equal(want) {
			return conn, nil
		}
		c.trace("# ", fmt.Sprintf("refused a data connection from %s: not the server %s", conn.RemoteAddr(), want))
		conn.Close()
	}
	return nil, fmt.Errorf("%d data connections from hosts other than the server %s", maxForeignData, want)
}

func parseEPSV(msg string) (int, error) {
	i, j := strings.Index(msg, "("), strings.LastIndex(msg, ")")
	if i < 0 || j < i+5 {
		return 0, fmt.Errorf("bad EPSV reply %q", msg)
	}
	inner := msg[i+1 : j]
	parts := strings.Split(inner, inner[:1])
	if len(parts) != 5 {
		return 0, fmt.Errorf("bad EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(parts[3])
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("bad EPSV port in %q", msg)
	}
	return port, nil
}

func parsePASV(msg string) (net.IP, int, error) {
	isNum := func(c byte) bool { return c == ',' || c >= '0' && c <= '9' }
	for start := 0; start < len(msg); {
		if !isNum(msg[start]) {
			start++
			continue
		}
		// A maximal run of digits and commas: exactly six numbers, no
		// empty one (",1,2,3,4,5,6" and "1,2,3,4,5,6," are no address).
		end := start
		for end < len(msg) && isNum(msg[end]) {
			end++
		}
		nums := strings.Split(msg[start:end], ",")
		start = end
		if len(nums) != 6 {
			continue
		}
		var b [6]int
		ok := true
		for k, s := range nums {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 255 {
				ok = false
				break
			}
			b[k] = n
		}
		if port := b[4]<<8 | b[5]; ok && port > 0 {
			return net.IPv4(byte(b[0]), byte(b[1]), byte(b[2]), byte(b[3])).To4(), port, nil
		}
	}
	return nil, 0, fmt.Errorf("bad PASV reply %q", msg)
}

// transfer runs one data command (RETR, STOR, LIST ...): sets up the data
// connection, sends REST when offset > 0, then line, lets fn move the data,
// and reads the final reply. A failure inside fn aborts the transfer; if the
// context ended, the control connection is dropped (its state is unknown).
func (c *Conn) transfer(ctx context.Context, line string, offset int64, fn func(net.Conn) error) error {
	if c.broken != nil {
		return c.broken
	}
	plan, err := c.prepareData(ctx)
	if err != nil {
		return err
	}
	defer plan.close()
	if offset > 0 {
		code, msg, err := c.cmd(ctx, fmt.Sprintf("REST %d", offset))
		if err != nil {
			return err
		}
		if code != 350 {
			return &Error{Code: code, Msg: msg}
		}
	}
	code, msg, err := c.cmd(ctx, line)
	if err != nil {
		return err
	}
	if code/100 == 2 {
		return nil // nothing to send (some servers answer an empty LIST this way)
	}
	if code/100 != 1 {
		return &Error{Code: code, Msg: msg}
	}
	conn := plan.conn
	if plan.ln != nil {
		stop := context.AfterFunc(ctx, func() { plan.ln.Close() })
		if tl, ok := plan.ln.(*net.TCPListener); ok {
			tl.SetDeadline(time.Now().Add(c.opts.Timeout))
		}
		conn, err = c.acceptServer(plan.ln)
		stop()
		if err != nil {
			return c.fail(ctx, fmt.Errorf("wait for the server's active data connection: %w", err))
		}
		plan.conn = conn
	}
	if c.dataTLS != nil {
		tc := tls.Client(conn, c.dataTLS)
		conn = tc
		plan.conn = tc
	}
	dc := &deadlineConn{Conn: conn, timeout: c.opts.Timeout, ctx: ctx}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	ferr := fn(dc)
	stop()
	cerr := conn.Close()
	if ferr == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		ferr = fmt.Errorf("close data connection: %w", cerr)
	}
	if errors.Is(ferr, errRangeDone) {
		// All the bytes asked for are in: the server's reply to the abort
		// says nothing about them.
		c.abort(ctx)
		return ferr
	}
	if ferr != nil {
		if ctx.Err() != nil {
			// Cancelled (Ctrl-C in the shell): try to leave the control
			// connection usable; abort drops it if the server does not follow.
			c.abort(context.WithoutCancel(ctx))
			return fmt.Errorf("%w (%v)", ctx.Err(), ferr)
		}
		if refusal := c.abort(ctx); refusal != nil {
			return refusal // the server's reason (552 quota ...) beats our broken pipe
		}
		return ferr
	}
	code, msg, err = c.readReply(ctx)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return &Error{Code: code, Msg: msg}
	}
	return nil
}

// abort ends a transfer the client gave up on: ABOR, then the transfer's
// own final reply and ABOR's (RFC 959 4.1.3). When the transfer's reply is a
// refusal (a server that stopped reading an upload over quota), that is the
// real cause and is returned. A server that does not follow leaves the
// connection broken.
func (c *Conn) abort(ctx context.Context) *Error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	code, msg, err := c.cmd(ctx, "ABOR")
	if err != nil || code == 225 {
		return nil
	}
	// The first reply was the transfer's (426 because we cut it, 226 if it
	// had finished, or the server's own refusal); ABOR's follows.
	c.readReply(ctx)
	if code >= 400 && code != 426 {
		return &Error{Code: code, Msg: msg}
	}
	return nil
}

// deadlineConn re-arms the deadline before each read and write, so only a
// stalled transfer times out, never a long one.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	ctx     context.Context // checked before each read and write: kernel buffers must not outrun a cancel
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.Conn.Write(p)
}

var _ io.ReadWriter = (*deadlineConn)(nil)
