package tlsconf

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/testenv"
)

// handshakeResult is what the server side of one loopback connection saw.
type handshakeResult struct {
	state tls.ConnectionState
	err   error
}

// serve accepts n connections on a loopback listener, handshakes each with
// conf and, after a successful handshake, writes one byte so a TLS 1.3 client
// reading it also processes the session tickets sent after the handshake, as
// an FTP client does when it reads the next reply.
func serve(t *testing.T, confs ...*tls.Config) (addr string, results <-chan handshakeResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan handshakeResult, len(confs))
	go func() {
		for _, conf := range confs {
			raw, err := ln.Accept()
			if err != nil {
				ch <- handshakeResult{err: err}
				return
			}
			c := tls.Server(raw, conf)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = c.HandshakeContext(ctx)
			cancel()
			if err == nil {
				_, err = c.Write([]byte{'!'})
			}
			ch <- handshakeResult{state: c.ConnectionState(), err: err}
			c.Close()
		}
	}()
	return ln.Addr().String(), ch
}

// dial connects a client, handshakes and reads the server's byte.
func dial(addr string, conf *tls.Config) (tls.ConnectionState, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, conf)
	if err := c.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return c.ConnectionState(), err
	}
	return c.ConnectionState(), nil
}

func testServerConfig(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	conf, err := SelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(conf.Certificates[0].Leaf)
	return conf, pool
}

func TestALPNOnlyHTTPClientIsRefused(t *testing.T) {
	conf, pool := testServerConfig(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		addr, results := serve(t, conf)
		_, cerr := dial(addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: v, NextProtos: []string{"http/1.1", "h2"}})
		if cerr == nil {
			t.Fatalf("%s client offering only HTTP protocols completed a handshake with the FTP server", tls.VersionName(v))
		}
		r := <-results
		if r.err == nil || !strings.Contains(r.err.Error(), "application protocol") {
			t.Fatalf("%s: server error = %v, want an ALPN refusal", tls.VersionName(v), r.err)
		}
	}
}

func TestServerConfigLoadsAdminRSACertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "ftp.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"ftp.example.test"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)

	conf, err := ServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	addr, results := serve(t, conf)
	st, err := dial(addr, &tls.Config{RootCAs: pool, ServerName: "ftp.example.test", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.err != nil {
		t.Fatal(r.err)
	}
	if name := tls.CipherSuiteName(st.CipherSuite); !strings.HasPrefix(name, "TLS_ECDHE_RSA_") {
		t.Fatalf("RSA certificate negotiated %s", name)
	}

	if _, err := ServerConfig(filepath.Join(dir, "missing.pem"), keyFile); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing certificate: %v, want an error naming the file", err)
	}
}

func TestClientWithoutALPNIsAccepted(t *testing.T) {
	conf, pool := testServerConfig(t)
	addr, results := serve(t, conf, conf)
	st, err := dial(addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("client without ALPN refused: %v", err)
	}
	if st.NegotiatedProtocol != "" {
		t.Errorf("negotiated %q with a client that offered nothing", st.NegotiatedProtocol)
	}
	if r := <-results; r.err != nil {
		t.Fatal(r.err)
	}
	st, err = dial(addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1", ALPN}})
	if err != nil {
		t.Fatalf("client offering ftp refused: %v", err)
	}
	if st.NegotiatedProtocol != ALPN {
		t.Errorf("negotiated %q, want %q", st.NegotiatedProtocol, ALPN)
	}
	if r := <-results; r.err != nil {
		t.Fatal(r.err)
	}
}

func TestTLS11IsRefused(t *testing.T) {
	conf, pool := testServerConfig(t)
	addr, results := serve(t, conf)
	_, err := dial(addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 client completed a handshake")
	}
	if r := <-results; r.err == nil {
		t.Fatal("server accepted TLS 1.1")
	}
}

func TestTLS12CBCOnlyClientIsRefused(t *testing.T) {
	conf, pool := testServerConfig(t)
	addr, results := serve(t, conf)
	_, err := dial(addr, &tls.Config{
		RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA},
	})
	if err == nil {
		t.Fatal("client offering only CBC suites completed a TLS 1.2 handshake")
	}
	<-results
}

func TestTLS12AEADClientIsAccepted(t *testing.T) {
	conf, pool := testServerConfig(t)
	addr, results := serve(t, conf)
	st, err := dial(addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS12 {
		t.Fatalf("version %x, want TLS 1.2", st.Version)
	}
	name := tls.CipherSuiteName(st.CipherSuite)
	if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
		t.Fatalf("negotiated %s, want an ECDHE AEAD suite", name)
	}
	if r := <-results; r.err != nil {
		t.Fatal(r.err)
	}
}

func TestSelfSignedIsReusedAcrossCalls(t *testing.T) {
	dir := t.TempDir()
	first, err := SelfSigned(dir, []string{"ftp.example.test", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CertFileName, KeyFileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	fp1, _ := ConfigFingerprint(first)

	// Same hosts, and a subset of them: same certificate.
	for _, hosts := range [][]string{{"ftp.example.test", "192.0.2.7"}, {"192.0.2.7"}, nil} {
		again, err := SelfSigned(dir, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if fp, _ := ConfigFingerprint(again); fp != fp1 {
			t.Fatalf("hosts %v: fingerprint changed from %s to %s", hosts, fp1, fp)
		}
	}

	// A host the certificate lacks: a new certificate covering it.
	grown, err := SelfSigned(dir, []string{"other.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := ConfigFingerprint(grown); fp == fp1 {
		t.Fatal("certificate reused although it does not cover the new host")
	}
	if err := grown.Certificates[0].Leaf.VerifyHostname("other.example.test"); err != nil {
		t.Fatal(err)
	}
}

func TestSelfSignedCoversRequestedAndLoopbackHosts(t *testing.T) {
	conf, err := SelfSigned(t.TempDir(), []string{"ftp.example.test", "192.0.2.7", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conf.Certificates[0].Leaf
	for _, h := range []string{"ftp.example.test", "192.0.2.7", "2001:db8::1", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := leaf.VerifyHostname("evil.example.test"); err == nil {
		t.Error("certificate valid for a host nobody asked for")
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA P-256 for client compatibility", leaf.PublicKeyAlgorithm)
	}
}

func TestSelfSignedReplacesExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	names, ips := splitHosts(nil)
	certPEM, keyPEM, err := generate(names, ips, time.Now().Add(-2*selfSignedLifetime))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(dir, KeyFileName), keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(dir, CertFileName), certPEM); err != nil {
		t.Fatal(err)
	}
	conf, err := SelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := conf.Certificates[0].Leaf; !time.Now().Before(leaf.NotAfter) {
		t.Fatalf("expired certificate (NotAfter %v) reused", leaf.NotAfter)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, CertFileName))
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) == string(certPEM) {
		t.Fatal("expired certificate left on disk")
	}
}

func TestSelfSignedRefusesCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CertFileName), []byte("not pem"), 0o600)
	os.WriteFile(filepath.Join(dir, KeyFileName), []byte("not pem"), 0o600)
	if _, err := SelfSigned(dir, nil); err == nil {
		t.Fatal("corrupt certificate files accepted or silently replaced")
	}
}

func TestFingerprintMatchesOpenSSHFormatComputedByOpenSSL(t *testing.T) {
	dir := t.TempDir()
	conf, err := SelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := Fingerprint(conf.Certificates[0].Leaf)
	if !strings.HasPrefix(got, "SHA256:") || strings.HasSuffix(got, "=") || len(got) != len("SHA256:")+43 {
		t.Fatalf("fingerprint %q is not SHA256:<43 unpadded base64 chars>", got)
	}

	// Recompute from the file on disk, independently of the parsed config.
	raw, err := os.ReadFile(filepath.Join(dir, CertFileName))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	sum := sha256.Sum256(block.Bytes)
	if want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}

	// And with the openssl tool, as an admin would check it by hand.
	testenv.Tool(t, "openssl")
	out, err := exec.Command("openssl", "x509", "-in", filepath.Join(dir, CertFileName), "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatal(err)
	}
	hexPart := strings.TrimSpace(string(out[strings.IndexByte(string(out), '=')+1:]))
	var fromTool []byte
	for _, h := range strings.Split(hexPart, ":") {
		var b byte
		for _, c := range strings.ToLower(h) {
			b = b<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		fromTool = append(fromTool, b)
	}
	if want := "SHA256:" + base64.RawStdEncoding.EncodeToString(fromTool); got != want {
		t.Fatalf("fingerprint %s, openssl says %s", got, want)
	}
	// Regression (issue 10): only the base64 form was printed, which no
	// browser shows. The hex form is openssl's, byte for byte.
	if hex := FingerprintHex(got); hex != hexPart {
		t.Errorf("FingerprintHex = %q, openssl says %q", hex, hexPart)
	}
	if FingerprintHex("SHA256:nope") != "" || FingerprintHex("MD5:"+got[7:]) != "" {
		t.Errorf("FingerprintHex of a malformed fingerprint is not empty")
	}
}

// resumptionCase dials a control connection, then a data connection, each
// with its own client configuration, and returns the server's check of the
// data connection.
func resumptionCase(t *testing.T, ctrlSrv, dataSrv *tls.Config, ctrlCli, dataCli *tls.Config) error {
	t.Helper()
	addr, results := serve(t, ctrlSrv, dataSrv)
	if _, err := dial(addr, ctrlCli); err != nil {
		t.Fatalf("control handshake: %v", err)
	}
	if r := <-results; r.err != nil {
		t.Fatalf("control handshake (server): %v", r.err)
	}
	if _, err := dial(addr, dataCli); err != nil {
		t.Fatalf("data handshake: %v", err)
	}
	r := <-results
	if r.err != nil {
		t.Fatalf("data handshake (server): %v", r.err)
	}
	return RequireResumed(r.state)
}

func TestDataConnectionMustResumeControlSession(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			base, pool := testServerConfig(t)
			client := func(cache tls.ClientSessionCache) *tls.Config {
				return &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: v, ClientSessionCache: cache}
			}

			t.Run("client with session cache resumes", func(t *testing.T) {
				ctrl, data := ForControl(base)
				cli := client(tls.NewLRUClientSessionCache(4))
				if err := resumptionCase(t, ctrl, data, cli, cli); err != nil {
					t.Fatalf("client that caches sessions refused: %v", err)
				}
			})

			t.Run("client without session cache refused", func(t *testing.T) {
				ctrl, data := ForControl(base)
				cli := client(nil)
				if err := resumptionCase(t, ctrl, data, cli, cli); !errors.Is(err, ErrNotResumed) {
					t.Fatalf("RequireResumed = %v, want ErrNotResumed", err)
				}
			})

			t.Run("ticket of another control session refused", func(t *testing.T) {
				// Fixed ticket keys shared by both sessions, as when keys are
				// shared across processes: only the binding tag tells the
				// sessions apart, so this pins the tag check itself.
				shared := base.Clone()
				shared.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
				ctrlA, _ := ForControl(shared)
				_, dataB := ForControl(shared)
				cli := client(tls.NewLRUClientSessionCache(4))
				if err := resumptionCase(t, ctrlA, dataB, cli, cli); !errors.Is(err, ErrNotResumed) {
					t.Fatalf("RequireResumed = %v, want ErrNotResumed", err)
				}

				// Same keys, same session: resumes, so the refusal above is
				// the tag's doing and not a key mismatch.
				ctrlC, dataC := ForControl(shared)
				cli = client(tls.NewLRUClientSessionCache(4))
				if err := resumptionCase(t, ctrlC, dataC, cli, cli); err != nil {
					t.Fatalf("same session refused: %v", err)
				}
			})

			t.Run("second data connection resumes too", func(t *testing.T) {
				ctrl, data := ForControl(base)
				cli := client(tls.NewLRUClientSessionCache(4))
				addr, results := serve(t, ctrl, data, data)
				for i := range 3 {
					if _, err := dial(addr, cli); err != nil {
						t.Fatal(err)
					}
					r := <-results
					if r.err != nil {
						t.Fatal(r.err)
					}
					if i > 0 {
						if err := RequireResumed(r.state); err != nil {
							t.Fatalf("data connection %d: %v", i, err)
						}
					}
				}
			})
		})
	}
}

func TestRequireResumedRefusesIncompleteHandshake(t *testing.T) {
	if err := RequireResumed(tls.ConnectionState{DidResume: true}); !errors.Is(err, ErrNotResumed) {
		t.Fatalf("got %v", err)
	}
}

// TestCurlOverHTTPSIsRefused drives a real browser-like client: curl speaking
// HTTPS offers ALPN h2/http/1.1, which the FTP port must refuse (ALPACA),
// while curl told to send no ALPN gets through the handshake.
func TestCurlOverHTTPSIsRefused(t *testing.T) {
	testenv.Tool(t, "curl")
	conf, _ := testServerConfig(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: conf.Certificates[0].Certificate[0]}), 0o600)

	addr, results := serve(t, conf, conf)
	url := "https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/"
	out, err := exec.Command("curl", "-sS", "--max-time", "5", "--cacert", caFile, url).CombinedOutput()
	if err == nil {
		t.Fatalf("curl succeeded: %s", out)
	}
	if r := <-results; r.err == nil || !strings.Contains(r.err.Error(), "application protocol") {
		t.Fatalf("server error = %v (curl: %s), want an ALPN refusal", r.err, out)
	}

	// Without ALPN the handshake succeeds; curl then fails on the HTTP
	// exchange, which is not our concern here.
	out, _ = exec.Command("curl", "-sS", "--max-time", "5", "--no-alpn", "--http1.1", "--cacert", caFile, url).CombinedOutput()
	if r := <-results; r.err != nil {
		t.Fatalf("curl without ALPN refused by server: %v (curl: %s)", r.err, out)
	}
}

// TestOpenSSLClientResumesControlSession checks the binding with the TLS
// stack curl and most FTPS clients use: a session saved from the control
// connection resumes on a data connection of the same control session, and
// is refused by another one.
func TestOpenSSLClientResumesControlSession(t *testing.T) {
	testenv.Tool(t, "openssl")
	for _, proto := range []string{"-tls1_2", "-tls1_3"} {
		t.Run(proto, func(t *testing.T) {
			base, _ := testServerConfig(t)
			base.SetSessionTicketKeys([][32]byte{{9}}) // only the tag separates sessions
			sess := filepath.Join(t.TempDir(), "sess.pem")
			sClient := func(addr string, extra ...string) string {
				args := append([]string{"s_client", proto, "-connect", addr, "-servername", "localhost", "-ign_eof"}, extra...)
				cmd := exec.Command("openssl", args...)
				cmd.Stdin = strings.NewReader("")
				out, _ := cmd.CombinedOutput()
				return string(out)
			}

			ctrl, data := ForControl(base)
			_, otherData := ForControl(base)
			addr, results := serve(t, ctrl, data, otherData)
			out := sClient(addr, "-sess_out", sess)
			if r := <-results; r.err != nil {
				t.Fatalf("control handshake: %v\n%s", r.err, out)
			}
			out = sClient(addr, "-sess_in", sess)
			r := <-results
			if r.err != nil {
				t.Fatalf("data handshake: %v\n%s", r.err, out)
			}
			if err := RequireResumed(r.state); err != nil {
				t.Fatalf("openssl did not resume the control session: %v\n%s", err, out)
			}
			out = sClient(addr, "-sess_in", sess)
			r = <-results
			if r.err != nil {
				t.Fatalf("foreign data handshake: %v\n%s", r.err, out)
			}
			if err := RequireResumed(r.state); !errors.Is(err, ErrNotResumed) {
				t.Fatalf("another control session's ticket resumed: %v", err)
			}
		})
	}
}
