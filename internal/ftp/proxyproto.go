package ftp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyHeaderTimeout bounds the wait for a PROXY header: a balancer sends
// it with the connection's first bytes.
const proxyHeaderTimeout = 5 * time.Second

// proxyV2Sig opens every PROXY protocol v2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyAllowed reports whether a connection from peer may carry a PROXY
// header (Config.ProxyFrom).
func (s *Server) proxyAllowed(peer netip.Addr) bool {
	peer = peer.Unmap()
	for _, p := range s.cfg.ProxyFrom {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// readProxyHeader reads a PROXY protocol v1 or v2 header from c, exactly
// and no further, so that c itself (a *net.TCPConn, with TLS, splice and
// socket options to come) carries on with the client's first byte. It
// returns the client's address; a LOCAL header (a balancer's health check)
// gives c's own peer.
func readProxyHeader(c net.Conn, timeout time.Duration) (netip.AddrPort, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	// 13 bytes: v2's signature and command, and shorter than the shortest
	// v1 header ("PROXY UNKNOWN\r\n"), so nothing of the client is read.
	buf := make([]byte, 13, 232)
	if _, err := io.ReadFull(c, buf); err != nil {
		return netip.AddrPort{}, fmt.Errorf("no PROXY header: %w", err)
	}
	switch {
	case bytes.Equal(buf[:12], proxyV2Sig):
		var fl [3]byte // family, then the address block's length
		if _, err := io.ReadFull(c, fl[:]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: %w", err)
		}
		n := int(fl[1])<<8 | int(fl[2])
		if n > 4096 {
			return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: %d-byte address block", n)
		}
		buf = append(buf, fl[:]...)
		rest := make([]byte, n)
		if _, err := io.ReadFull(c, rest); err != nil {
			return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: %w", err)
		}
		buf = append(buf, rest...)
	case bytes.HasPrefix(buf, []byte("PROXY ")):
		// v1: one line of at most 107 bytes; read it a byte at a time so
		// not one byte past its LF is taken from the client.
		var b [1]byte
		for buf[len(buf)-1] != '\n' {
			if len(buf) >= 107 {
				return netip.AddrPort{}, errors.New("PROXY v1 header too long")
			}
			if _, err := io.ReadFull(c, b[:]); err != nil {
				return netip.AddrPort{}, fmt.Errorf("PROXY v1 header: %w", err)
			}
			buf = append(buf, b[0])
		}
	default:
		return netip.AddrPort{}, errors.New("no PROXY header")
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(buf)))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("PROXY header: %w", err)
	}
	if h.Command.IsLocal() {
		return addrPort(c.RemoteAddr()), nil
	}
	src, _, ok := h.TCPAddrs()
	if !ok {
		return netip.AddrPort{}, errors.New("PROXY header: not a TCP connection")
	}
	ap := src.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
