package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// logAddr waits for a "serving WHAT" log line and returns its address.
func logAddr(t *testing.T, logs *syncBuffer, what string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving ` + what + `" listen=(\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %q log line:\n%s", what, logs)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeMetricsListenAndAdminListenFromEnv(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, logs := startServe(t, []string{"WHARF_ADMIN_LISTEN=127.0.0.1:0"}, "--init", "--data", data, "--listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0")
	rawFTP(t, addr, "USER nobody", "PASS x", "QUIT")
	m := logAddr(t, logs, "metrics")
	a := logAddr(t, logs, "admin")
	code, body := get(t, "http://"+m+"/metrics")
	if code != 200 || !strings.Contains(body, `wharf_logins_total{result="failed"} 1`) || !strings.Contains(body, "wharf_sessions_total 1") {
		t.Fatalf("metrics listener: %d\n%s", code, body)
	}
	if code, _ := get(t, "http://"+m+"/api/v1/sessions"); code != 404 {
		t.Errorf("metrics listener serves the API: %d", code)
	}
	if code, body := get(t, "http://"+a+"/metrics"); code != 200 || !strings.Contains(body, "wharf_sessions_total") {
		t.Errorf("admin listener /metrics: %d", code)
	}
}

func TestServeHooksFlags(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("alicepw\n", "user", "add", "alice", "--data", data, "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	got := make(chan string, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer recv.Close()
	out := filepath.Join(t.TempDir(), "hook.json")
	addr, _ := startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--node", "n1",
		"--on-upload", "cat > "+out, "--webhook", recv.URL)
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "alicepw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("x.txt", strings.NewReader("hi\n")); err != nil {
		t.Fatal(err)
	}
	const sum = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4" // sha256 of "hi\n"
	select {
	case b := <-got:
		if !strings.Contains(b, `"event":"upload"`) || !strings.Contains(b, `"sha256":"`+sum+`"`) || !strings.Contains(b, `"node":"n1"`) {
			t.Errorf("webhook body %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), sum) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook output %q", b)
		}
	}
}

func TestServeOpsFlagsBadInput(t *testing.T) {
	e := newClientEnv(t)
	for _, args := range [][]string{
		{"--webhook", "ftp://x"},
		{"--webhook", "::"},
		{"--admin-listen", "nonsense"},
		{"--metrics-listen", "1.2.3.4"},
	} {
		code, _, errs := e.run("", append([]string{"serve", "--data", t.TempDir()}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and one line", args, code, errs)
		}
	}
}

// The admin listener serves the API to a token made by `wharf admin token`
// on the same data directory, and names the node.
func TestServeAdminAPIWithCLIToken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("rootpw\n", "admin", "add", "root", "--data", data, "--password-stdin"); code != 0 {
		t.Fatalf("admin add: %d %s", code, errs)
	}
	code, tok, errs := e.run("", "admin", "token", "root", "--data", data)
	if code != 0 {
		t.Fatalf("admin token: %d %s", code, errs)
	}
	_, logs := startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--node", "n7", "--admin-listen", "127.0.0.1:0")
	a := logAddr(t, logs, "admin")
	for _, c := range []struct {
		tok  string
		want int
	}{{strings.TrimSpace(tok), 200}, {"wharf_nope", 401}} {
		req, _ := http.NewRequest("GET", "http://"+a+"/api/v1/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(b), `"node": "n7"`) {
			t.Fatalf("sessions with %q: %d %s", c.tok, resp.StatusCode, b)
		}
	}
}

// Under TLS the admin listener is HTTPS with the server's certificate, and
// the page session cookie is Secure.
func TestServeAdminListenHTTPSUnderTLS(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("rootpw\n", "admin", "add", "root", "--data", data, "--password-stdin"); code != 0 {
		t.Fatalf("admin add: %d %s", code, errs)
	}
	_, logs := startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--tls-self-signed", "--admin-listen", "127.0.0.1:0")
	a := logAddr(t, logs, "admin")
	if !strings.Contains(logs.String(), `msg="serving admin" listen=`+a+` scheme=https`) {
		t.Fatalf("admin not served over https:\n%s", logs)
	}
	// The certificate is the one serve made in the data directory.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Post("https://"+a+"/api/v1/login", "application/json", strings.NewReader(`{"name":"root","password":"rootpw"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatalf("login over https: %d", resp.StatusCode)
	}
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(cert); blk == nil || !bytes.Equal(blk.Bytes, resp.TLS.PeerCertificates[0].Raw) {
		t.Errorf("the admin listener's certificate is not the FTP server's")
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "wharf_admin" {
			ck = k
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie over https: %+v", ck)
	}
	// Plain HTTP to the TLS listener gets Go's 400, never the API.
	if code, body := get(t, "http://"+a+"/api/v1/me"); code != 400 || strings.Contains(body, `"node"`) {
		t.Errorf("plain HTTP to the https admin: %d %q", code, body)
	}
}
