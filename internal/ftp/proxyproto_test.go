package ftp_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// dialProxied connects from local (a loopback address) to addr and sends
// a PROXY header (version 1 or 2) naming src as the client.
func dialProxied(t *testing.T, local, addr, src string, version byte) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if src != "" {
		h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), c.RemoteAddr())
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func proxiedRaw(t *testing.T, addr, src string, version byte) *raw {
	t.Helper()
	r := newRaw(t, dialProxied(t, "127.0.0.1", addr, src, version))
	r.expect(220)
	return r
}

func TestProxyProtocol(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{ImplicitTLS: true, Configure: func(c *ftp.Config) {
		c.ProxyFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.BanAfter, c.LoginFailDelay = 2, -1
	}})
	srv.Users.Add("alice", "secret", accounts.PresetFull)

	// The header's source is the client's address, v2 and v1 alike.
	for _, v := range []byte{2, 1} {
		src := fmt.Sprintf("203.0.113.%d:5555", v)
		r := proxiedRaw(t, srv.Addr, src, v)
		r.login("alice", "secret")
		if msg := r.must("STAT", 211); !strings.Contains(msg, "Connected to 203.0.113."+fmt.Sprint(v)) {
			t.Errorf("v%d: STAT = %q, want the header's address", v, msg)
		}
	}

	// Refused: a listed peer without a header, and a header from a peer
	// that is not listed. Neither gets a greeting.
	c := dialProxied(t, "127.0.0.1", srv.Addr, "", 2)
	fmt.Fprintf(c, "USER alice\r\nPASS secret\r\n")
	if r := newRaw(t, c); !r.closed() {
		t.Error("a header-less connection from the balancer was served")
	}
	if r := newRaw(t, dialProxied(t, "127.0.0.2", srv.Addr, "203.0.113.9:1", 2)); !r.closed() {
		t.Error("a connection from an unlisted peer was served")
	}

	// Passive data: the data connection's header must name the control
	// connection's client; one without a header and one naming another
	// client are dropped, the right one is used.
	r := proxiedRaw(t, srv.Addr, "203.0.113.7:4000", 2)
	r.login("alice", "secret")
	msg := r.must("EPSV", 229)
	var port int
	fmt.Sscanf(msg[strings.Index(msg, "|||")+3:], "%d", &port)
	daddr := fmt.Sprintf("127.0.0.1:%d", port)
	bare := dialProxied(t, "127.0.0.1", daddr, "", 2)
	fmt.Fprintf(bare, "not a header at all\r\n")
	dialProxied(t, "127.0.0.1", daddr, "198.51.100.1:4001", 2)
	good := dialProxied(t, "127.0.0.1", daddr, "203.0.113.7:4002", 2)
	r.must("TYPE I", 200)
	r.must("STOR up.txt", 150)
	fmt.Fprintf(good, "hello through the balancer")
	good.Close()
	r.expect(226)
	if got := r.must("SIZE up.txt", 213); strings.TrimSpace(got) != "26" {
		t.Errorf("SIZE = %q", got)
	}

	// Implicit TLS: the header comes before the handshake.
	ic := dialProxied(t, "127.0.0.1", srv.ImplicitAddr, "203.0.113.8:4000", 2)
	tc := tls.Client(ic, srv.ClientTLS())
	tr := newRaw(t, tc)
	tr.expect(220)
	tr.login("alice", "secret")
	if msg := tr.must("STAT", 211); !strings.Contains(msg, "Connected to 203.0.113.8") {
		t.Errorf("implicit TLS: STAT = %q", msg)
	}

	// A ban hits the header's address, not the balancer's.
	for range 2 {
		b := proxiedRaw(t, srv.Addr, "203.0.113.50:1", 2)
		b.must("USER alice", 331)
		b.send("PASS wrong")
	}
	bc := newRaw(t, dialProxied(t, "127.0.0.1", srv.Addr, "203.0.113.50:2", 2))
	if code, _ := bc.read(); code != 421 {
		t.Errorf("banned client through the balancer: %d, want 421", code)
	}
	proxiedRaw(t, srv.Addr, "203.0.113.51:1", 2).login("alice", "secret")
}
