package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/share"
	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

// syncBuffer collects a command's output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startShareCmd runs `wharf share args...` until the returned stop is called.
func startShareCmd(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	out = &syncBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
	root := newRoot(env)
	root.SetArgs(append([]string{"share"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("share did not stop within 10s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-done:
			t.Fatalf("share ended early: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("share printed no addresses:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out, stop
}

func TestShareCommandPrintsEveryAddressServesAndSummarises(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("shared text"), 0o644)
	out, stop := startShareCmd(t, dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--write")
	text := out.String()

	webRe := regexp.MustCompile(`(?m)^  Web  (http://(\S+):(\d+)/)$`)
	ftpRe := regexp.MustCompile(`(?m)^  FTP  ftp://(\S+):(\d+)/$`)
	webs, ftps := webRe.FindAllStringSubmatch(text, -1), ftpRe.FindAllStringSubmatch(text, -1)
	hosts := []string{"127.0.0.1"} // which hosts a share on every address prints: share.TestHostsForListenAddress
	if len(webs) != len(hosts) || len(ftps) != len(hosts) {
		t.Fatalf("printed %d web and %d ftp addresses for hosts %v:\n%s", len(webs), len(ftps), hosts, text)
	}
	for i, h := range hosts {
		if webs[i][2] != h || ftps[i][1] != h {
			t.Errorf("address %d printed as %s / %s, want host %s", i, webs[i][2], ftps[i][1], h)
		}
	}
	if strings.Contains(text, upperHalfBlk) || strings.Contains(text, "QR code") {
		t.Errorf("a QR code printed to a non-terminal (the pty test checks the terminal's):\n%s", text)
	}
	if !strings.Contains(text, "visitors may upload new files and folders, anonymous") {
		t.Errorf("mode line missing:\n%s", text)
	}

	// The printed web address works, for a download and an upload.
	base := webs[0][1]
	resp, err := http.Get(base + "f.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "shared text" {
		t.Fatalf("GET printed address = %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("PUT", base+"up.txt", strings.NewReader("12345"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The FTP port printed is open.
	c, err := net.Dial("tcp", net.JoinHostPort(strings.Trim(ftps[0][1], "[]"), ftps[0][2]))
	if err != nil {
		t.Fatalf("dial printed FTP address: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	greeting := make([]byte, 3)
	io.ReadFull(c, greeting)
	c.Close()
	if string(greeting) != "220" {
		t.Errorf("FTP greeting %q", greeting)
	}

	if err := stop(); err != nil {
		t.Fatalf("share after Ctrl-C: %v", err)
	}
	text = out.String()
	for _, want := range []string{
		" connected",
		" sent /f.txt (11 B",
		" received /up.txt (5 B",
		"Stopped. Sent 1 file (11 B), received 1 file (5 B)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestShareCommandUserGetsAGeneratedPassword(t *testing.T) {
	dir := t.TempDir()
	out, stop := startShareCmd(t, dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--user", "bob", "--no-qr")
	text := out.String()
	m := regexp.MustCompile(`(?m)^  Password  (\S+)$`).FindStringSubmatch(text)
	if m == nil || len(m[1]) < 16 {
		t.Fatalf("no generated password printed:\n%s", text)
	}
	if strings.Contains(text, "█") {
		t.Errorf("--no-qr printed a QR code")
	}
	web := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(text)
	if web == "" || !strings.Contains(text, "ftp://bob@127.0.0.1:") {
		t.Fatalf("addresses not printed for --listen 127.0.0.1:\n%s", text)
	}
	resp, err := http.Get(web)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", web, nil)
	req.SetBasicAuth("bob", m[1])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with the printed password: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestShareCommandExitCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"share", dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", taken}, ExitFailure, "address already in use"},
		{[]string{"share", "--listen", "127.0.0.1", filepath.Join(dir, "missing"), "--ftp-port", "0", "--http-port", "0"}, ExitNotFound, "no such file"},
		{[]string{"share", "--listen", "127.0.0.1", dir, "--ftp-port", "70000"}, ExitUsage, "out of range"},
		{[]string{"share", "--listen", "127.0.0.1", dir, "--user", ":pw"}, ExitUsage, "needs a name"},
		{[]string{"share", "--listen", "127.0.0.1", dir, dir}, ExitUsage, "accepts at most 1 arg"},
	} {
		var out syncBuffer
		code := Main(tc.args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		if code != tc.code || !strings.Contains(out.String(), tc.msg) {
			t.Errorf("wharf %s = %d %q, want %d with %q", strings.Join(tc.args, " "), code, out.String(), tc.code, tc.msg)
		}
	}
}

// TestShareCommandSummaryLeavesOutCutTransfersAndEngineWarnings pins QA
// round 2 (issue #5): the Ctrl-C summary counted the bytes of cut uploads,
// and a raw slog WARN line of the FTP engine (a failed login) was mixed into
// the share's output.
func TestShareCommandSummaryLeavesOutCutTransfersAndEngineWarnings(t *testing.T) {
	dir := t.TempDir()
	out, stop := startShareCmd(t, dir, "--ftp-port", "0", "--http-port", "0", "--write", "--listen", "127.0.0.1", "--no-qr")
	text := out.String()
	port := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s in:\n%s", re, text)
		}
		return m[1]
	}
	ftpPort, httpPort := port(`ftp://127\.0\.0\.1:(\d+)/`), port(`http://127\.0\.0\.1:(\d+)/`)

	// A failed FTP login: the engine logs a warning about it.
	c, err := net.Dial("tcp", "127.0.0.1:"+ftpPort)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "USER bob\r\nPASS wrong\r\nQUIT\r\n")
	io.Copy(io.Discard, c)
	c.Close()

	// An upload cut after 3 MiB of 10.
	c, err = net.Dial("tcp", "127.0.0.1:"+httpPort)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT /cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
	c.Write(make([]byte, 3<<20))
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "INCOMPLETE") || !strings.Contains(out.String(), "login refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no cut upload or failed login shown:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	text = out.String()
	if want := "Stopped. Sent 0 files (0 B), received 0 files (0 B); incomplete: 1 upload; 1 visitor."; !strings.Contains(text, want) {
		t.Errorf("summary lacks %q:\n%s", want, text)
	}
	if strings.Contains(text, "WARN") || strings.Contains(text, "level=") {
		t.Errorf("raw log lines in the share's output:\n%s", text)
	}
}

func TestShareSummaryCountsCutTransfersApart(t *testing.T) {
	got := shareSummary(share.Totals{FilesSent: 2, BytesSent: 3 << 20, FilesReceived: 1, BytesReceived: 50_000,
		IncompleteSent: 1, IncompleteReceived: 3, Visitors: 2})
	want := "Stopped. Sent 2 files (3.0 MiB), received 1 file (48.8 KiB); incomplete: 1 download, 3 uploads; 2 visitors."
	if got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

// Regression (issue 10): the banner did not say what was shared. It says
// the folder, read-only or not, how many files, and how many dot names
// were left out (and that --hidden shares them).
func TestShareBannerSaysWhatIsSharedAndHowManyFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("12345"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.txt"), []byte("12345"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".git", "objects"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "objects", "x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("x"), 0o644)
	out, _ := startShareCmd(t, dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr")
	want := "Sharing " + dir + " (read-only, anonymous): 2 files (10 B) in 1 folder; 2 hidden names left out (--hidden shares them)"
	if !strings.Contains(out.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, out)
	}
	out, _ = startShareCmd(t, dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr", "--hidden", "--write")
	want = "Sharing " + dir + " (visitors may upload new files and folders, anonymous): 4 files (12 B) in 3 folders\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("banner with --hidden lacks %q:\n%s", want, out)
	}
}

// Regression (issue 10): `share --listen 127.0.0.1:50104` failed with
// "lookup 127.0.0.1:50104: no such host" while serve took only HOST:PORT.
// Both take HOST and HOST:PORT (the port being the FTP one).
func TestListenTakesHostOrHostPortOnShareAndServe(t *testing.T) {
	for in, want := range map[string]string{ // parsed only, never listened on: testenv:ok below
		"127.0.0.1": "127.0.0.1:2121", "127.0.0.1:50104": "127.0.0.1:50104", ":21": ":21", // testenv:ok
		"::1": "[::1]:2121", "[::1]": "[::1]:2121", "[::1]:990": "[::1]:990", "ftp.example": "ftp.example:2121", // testenv:ok
	} {
		if got := serveListenAddr(in); got != want {
			t.Errorf("serve --listen %s: listens on %q, want %q", in, got, want)
		}
	}
	dir := t.TempDir()
	port := testenv.FreePort(t)
	out, _ := startShareCmd(t, dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--http-port", "0", "--no-qr")
	if want := fmt.Sprintf("  FTP  ftp://127.0.0.1:%d/\n", port); !strings.Contains(out.String(), want) {
		t.Errorf("share --listen HOST:PORT: no %q:\n%s", want, out)
	}
	e := newClientEnv(t)
	for _, args := range [][]string{
		{"share", dir, "--listen", "127.0.0.1:1", "--ftp-port", "2"},
		{"share", dir, "--listen", "127.0.0.1:notaport"},
		{"share", dir, "--listen", "127.0.0.1", "--passive-ports", "9-8"},
	} {
		if code, _, errs := e.run("", args...); code != ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("wharf %v: exit %d, %q; want a one-line usage error", args, code, errs)
		}
	}
}

// Regression (issue 10): share had no passive range and no public address,
// so behind a firewall opening 2121 and 8080 FTP failed while the web page
// worked. --passive-ports and --public-ip work, and the banner says which
// ports to open.
func TestSharePassivePortsAndPublicIPAndThePortsToOpen(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("passive"), 0o644)
	lo := testenv.FreePorts(t, 3)
	out, _ := startShareCmd(t, dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr",
		"--passive-ports", fmt.Sprintf("%d-%d", lo, lo+2), "--public-ip", "192.0.2.7")
	text := out.String()
	ftpRe := regexp.MustCompile(`(?m)^  FTP  ftp://([^/]+):(\d+)/$`)
	webRe := regexp.MustCompile(`(?m)^  Web  http://[^/]+:(\d+)/$`)
	ftps, web := ftpRe.FindAllStringSubmatch(text, -1), webRe.FindStringSubmatch(text)
	if len(ftps) != 2 || ftps[0][1] != "192.0.2.7" || ftps[1][1] != "127.0.0.1" || web == nil {
		t.Fatalf("want the public address first, then the listen one:\n%s", text)
	}
	if want := fmt.Sprintf("  Open TCP %s (FTP), %s (web) and %d-%d (FTP data)\n", ftps[0][2], web[1], lo, lo+2); !strings.Contains(text, want) {
		t.Errorf("banner lacks %q:\n%s", want, text)
	}
	raw := dialRaw(t, "127.0.0.1:"+ftps[1][2])
	raw.cmd("USER anonymous")
	raw.cmd("PASS x")
	reply := raw.cmd("PASV")
	m := regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`).FindStringSubmatch(reply)
	if m == nil || strings.Join(m[1:5], ".") != "192.0.2.7" {
		t.Fatalf("PASV = %q, want the public address", reply)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	if p := p1*256 + p2; p < lo || p > lo+2 {
		t.Errorf("PASV port %d outside %d-%d", p, lo, lo+2)
	}
}

type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	r.line()
	return r
}

func (r *rawConn) line() string {
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read reply: %v", err)
	}
	return l
}

func (r *rawConn) cmd(s string) string {
	fmt.Fprintf(r.c, "%s\r\n", s)
	return r.line()
}

// Regression (issue 10): the TLS fingerprint was printed in base64 only;
// browsers and openssl show hex. Both are printed, labelled, and are the
// same digest.
func TestShareTLSBannerPrintsTheFingerprintInHexAndBase64(t *testing.T) {
	out, _ := startShareCmd(t, t.TempDir(), "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr", "--tls")
	text := out.String()
	m := regexp.MustCompile(`(?m)^       browser, openssl  ((?:[0-9A-F]{2}:){15}[0-9A-F]{2})\n {25}((?:[0-9A-F]{2}:){15}[0-9A-F]{2})\n       wharf client      (SHA256:\S{43})$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no labelled hex and base64 fingerprints:\n%s", text)
	}
	if tlsconf.FingerprintHex(m[3]) != m[1]+":"+m[2] {
		t.Errorf("hex %s:%s and base64 %s differ", m[1], m[2], m[3])
	}
	for _, l := range strings.Split(text, "\n") {
		if len(l) > 80 && !strings.HasPrefix(l, "Sharing ") {
			t.Errorf("line wider than 80 columns: %q", l)
		}
	}
}

// Issue 9: share --write had no quota. It has --quota and --max-files (the
// names of user add's limits, the defaults of serve's anonymous drop box),
// on by default, said in the banner, 0 lifting a limit; the web side
// refuses an upload past them (the share package tests both protocols).
func TestShareWriteQuotaFlagsAndBanner(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		line string
	}{
		{[]string{"--write"}, "  Uploads   up to 1.0 GiB and 1000 files in all (--quota, --max-files)\n"},
		{[]string{"--delete", "--quota", "2KiB", "--max-files", "0"}, "  Uploads   up to 2.0 KiB in all, any number of files (--quota)\n"},
		{[]string{"--write", "--quota", "0", "--max-files", "0"}, "  Uploads   unlimited (--quota 0 --max-files 0)\n"},
		{nil, ""},
	} {
		out, stop := startShareCmd(t, append([]string{dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr"}, c.args...)...)
		text := out.String()
		if c.line == "" && strings.Contains(text, "Uploads") || c.line != "" && !strings.Contains(text, c.line) {
			t.Errorf("share %v: want the line %q:\n%s", c.args, c.line, text)
		}
		if c.args != nil && c.args[0] == "--delete" {
			port := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)/`).FindStringSubmatch(text)
			req, _ := http.NewRequest("PUT", "http://127.0.0.1:"+port[1]+"/big.bin", bytes.NewReader(make([]byte, 3000)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusInsufficientStorage {
				t.Errorf("a 3000-byte upload to a share with --quota 2KiB = %d, want 507", resp.StatusCode)
			}
		}
		stop()
	}
	e := newClientEnv(t)
	for _, args := range [][]string{{"--quota", "lots"}, {"--quota", "-1"}, {"--max-files", "-2"}} {
		a := append([]string{"share", dir, "--listen", "127.0.0.1", "--write"}, args...)
		if code, _, errs := e.run("", a...); code != ExitUsage || !strings.Contains(errs, "--quota") {
			t.Errorf("wharf %v: exit %d, %q; want a usage error naming --quota", a, code, errs)
		}
	}
}
