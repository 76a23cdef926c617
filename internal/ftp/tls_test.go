package ftp_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func tlsServer(t *testing.T, required bool) (*ftptest.Server, string) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{ImplicitTLS: true, Configure: func(c *ftp.Config) {
		c.TLSRequired = required
		c.TLSRequireReuse = true
	}})
	return srv, srv.Users.Add("alice", "secret", 0xFFFF)
}

func TestJlaffayeExplicitAndImplicitTLSWithSessionReuse(t *testing.T) {
	srv, home := tlsServer(t, true)
	data := randomBytes(t, 1<<20)
	for _, tc := range []struct {
		name string
		addr string
		opt  jftp.DialOption
	}{
		{"explicit", srv.Addr, jftp.DialWithExplicitTLS(srv.ClientTLS())},
		{"implicit", srv.ImplicitAddr, jftp.DialWithTLS(srv.ClientTLS())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := login(t, tc.addr, "alice", "secret", tc.opt)
			if err := c.Stor(tc.name+".bin", bytes.NewReader(data)); err != nil {
				t.Fatalf("STOR: %v", err)
			}
			if fileSum(t, filepath.Join(home, tc.name+".bin")) != sum(data) {
				t.Fatal("stored file differs")
			}
			r, err := c.Retr(tc.name + ".bin")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			if err := r.Close(); err != nil {
				t.Fatalf("RETR close: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("RETR differs")
			}
			if _, err := c.List("/"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTLSDataConnectionWithoutSessionReuseIsRefused(t *testing.T) {
	srv, home := tlsServer(t, true)
	writeFile(t, filepath.Join(home, "f"), []byte("x"))
	conf := srv.ClientTLS()
	conf.ClientSessionCache = nil // every data handshake is a fresh session
	c := login(t, srv.Addr, "alice", "secret", jftp.DialWithExplicitTLS(conf))
	resp, err := c.Retr("f")
	if err == nil {
		io.ReadAll(resp)
		err = resp.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "425") {
		t.Fatalf("RETR without session reuse: %v, want 425", err)
	}
}

func TestTLSRequiredRefusesPlainLoginAndClearData(t *testing.T) {
	srv, _ := tlsServer(t, true)
	r := dialRaw(t, srv.Addr)
	r.must("USER alice", 530)
	r.must("PASS secret", 503)
	r.must("PROT P", 503) // before AUTH TLS
	r.must("AUTH FOO", 504)
	tr := upgrade(t, r, srv)
	tr.must("PROT C", 503) // PBSZ first
	tr.must("PBSZ 0", 200)
	tr.must("PROT C", 534)
	tr.must("PROT S", 536)
	tr.must("CCC", 530) // not before login
	tr.login("alice", "secret")
	tr.must("CCC", 534)
	tr.must("EPSV", 229)
	tr.must("LIST", 521) // still PROT C: plain data refused
}

// upgrade runs AUTH TLS on a raw connection and returns it over TLS.
func upgrade(t testing.TB, r *raw, srv *ftptest.Server) *raw {
	t.Helper()
	r.must("AUTH TLS", 234)
	tc := tls.Client(r.c, srv.ClientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return &raw{t: t, c: tc, tp: textproto.NewConn(tc)}
}

func TestCommandsSmuggledBehindAUTHTLSCloseTheSession(t *testing.T) {
	srv, _ := tlsServer(t, false)
	r := dialRaw(t, srv.Addr)
	// Both lines in one segment: the USER must never run as if encrypted.
	r.c.Write([]byte("AUTH TLS\r\nUSER alice\r\n"))
	r.expect(234)
	if !r.closed() {
		t.Fatal("session stayed open with plaintext queued behind AUTH TLS")
	}
}

func TestTLSUploadEndingWithoutCloseNotifyIsBrokenAndKept(t *testing.T) {
	srv, home := tlsServer(t, true)
	conf := srv.ClientTLS()
	r := dialRaw(t, srv.Addr)
	r.must("AUTH TLS", 234)
	tc := tls.Client(r.c, conf)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := &raw{t: t, c: tc, tp: textproto.NewConn(tc)}
	tr.must("PBSZ 0", 200)
	tr.must("PROT P", 200)
	tr.login("alice", "secret")
	tr.must("TYPE I", 200)
	port := epsvPort(t, tr.must("EPSV", 229))
	tr.tp.PrintfLine("STOR cut.bin")
	dc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	tr.expect(150)
	dtls := tls.Client(dc, conf)
	if err := dtls.Handshake(); err != nil {
		t.Fatal(err)
	}
	part := randomBytes(t, 200000)
	if _, err := dtls.Write(part); err != nil {
		t.Fatal(err)
	}
	// A plain FIN, no close_notify: what an attacker forging a FIN does.
	dc.(*net.TCPConn).CloseWrite()
	tr.expect(426)
	dc.Close()
	b, err := os.ReadFile(filepath.Join(home, "cut.bin"))
	if err != nil {
		t.Fatalf("partial upload not kept: %v", err)
	}
	if !bytes.Equal(b, part[:len(b)]) || len(b) == 0 {
		t.Fatalf("kept %d bytes that are not a prefix of the upload", len(b))
	}
	tr.must("NOOP", 200)
}

// epsvPort extracts the port from a 229 reply.
func epsvPort(t testing.TB, msg string) string {
	t.Helper()
	i := strings.Index(msg, "(|||")
	j := strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		t.Fatalf("bad EPSV reply %q", msg)
	}
	p := msg[i+4 : j]
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatalf("bad EPSV port %q", p)
	}
	return p
}

// dataConn opens a passive data connection for a raw session.
func dataConn(t testing.TB, r *raw) net.Conn {
	t.Helper()
	port := epsvPort(t, r.must("EPSV", 229))
	host, _ := hostPort(t, r.c.RemoteAddr().String())
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPerAccountTLSRequirement(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{TLS: true})
	srv.Users.Set(accounts.User{Name: "strict", Perms: accounts.PresetFull, TLSRequired: true}, "pw")
	r := dialRaw(t, srv.Addr)
	r.must("USER strict", 331)
	r.must("PASS pw", 530) // plain control connection
	tr := upgrade(t, dialRaw(t, srv.Addr), srv)
	tr.must("PBSZ 0", 200)
	tr.login("strict", "pw")
	tr.must("PROT C", 534)
	tr.must("EPSV", 229)
	tr.must("NLST", 521) // data still unprotected
}

func TestMaxLineLenIsConfigurable(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.MaxLineLen = 64 }})
	srv.Users.Add("alice", "secret", 0xFFFF)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("MKD "+strings.Repeat("d", 60), 257) // 64 bytes: at the cap
	r.must("MKD "+strings.Repeat("e", 61), 500)
	r.must("NOOP", 200)
}
