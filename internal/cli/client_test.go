package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// wharfBinary builds cmd/wharf once per test binary, for the tests that need
// a real process (a terminal, a kill).
var wharfBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wharf-cli-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wharf")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/wharf").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build wharf: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := wharfBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := wharfBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type clientEnv struct {
	home string
	vars map[string]string
}

func newClientEnv(t *testing.T) *clientEnv {
	home := t.TempDir()
	return &clientEnv{home: home, vars: map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config")}}
}

func (e *clientEnv) environ() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "TERM=xterm"}
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// run calls the command line in-process, as a script would run it.
func (e *clientEnv) run(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return e.vars[k] }})
	return code, out.String(), errb.String()
}

func writeRandom(t *testing.T, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	os.MkdirAll(filepath.Dir(name), 0o755)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func fileSum(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sum(b)
}

type events struct {
	mu  sync.Mutex
	all []ftp.Event
}

func (e *events) add(ev ftp.Event) {
	if ev.Kind == ftp.TransferDone {
		e.mu.Lock()
		e.all = append(e.all, ev)
		e.mu.Unlock()
	}
}

func (e *events) transfers() []ftp.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ftp.Event(nil), e.all...)
}

func startServer(t *testing.T, tls bool) (*ftptest.Server, string, *events) {
	ev := &events{}
	srv := ftptest.Start(t, ftptest.Options{TLS: tls, Configure: func(c *ftp.Config) {
		c.Events = ev.add
		c.TLSRequireReuse = tls
	}})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	return srv, home, ev
}

var plainLine = regexp.MustCompile(`^(\S+)  ([0-9.]+(B|KiB|MiB))  ([0-9.]+(B|KiB|MiB|GiB)/s|-)  verified SHA-256$`)

func TestScriptCommandsAndExitCodes(t *testing.T) {
	srv, home, _ := startServer(t, false)
	srv.Users.Add("reader", "pw", accounts.PresetReadOnly)
	srv.Users.Set(accounts.User{Name: "small", Perms: accounts.PresetFull, QuotaBytes: 1000}, "pw")
	want := writeRandom(t, filepath.Join(home, "docs", "report.bin"), 150_000)
	e := newClientEnv(t)
	local := t.TempDir()
	url := "ftp://alice:secret@" + srv.Addr

	code, out, errs := e.run("", "get", url+"/docs/report.bin", local)
	if code != ExitOK {
		t.Fatalf("get: exit %d: %s", code, errs)
	}
	if !plainLine.MatchString(strings.TrimSpace(out)) || strings.Contains(out, "\x1b") {
		t.Fatalf("get in a pipe printed %q, want one plain line `name  size  rate  verified SHA-256`", out)
	}
	if fileSum(t, filepath.Join(local, "report.bin")) != sum(want) {
		t.Fatal("downloaded file differs")
	}
	code, out, _ = e.run("", "ls", url+"/docs")
	if code != 0 || out != "report.bin\n" {
		t.Fatalf("ls: %d %q", code, out)
	}
	code, out, _ = e.run("", "ls", "-l", url+"/")
	if code != 0 || !strings.Contains(out, "d ") || !strings.Contains(out, "docs/") {
		t.Fatalf("ls -l: %d %q", code, out)
	}
	code, out, errs = e.run("", "put", filepath.Join(local, "report.bin"), url+"/copy.bin")
	if code != 0 || !strings.Contains(out, "verified SHA-256") || fileSum(t, filepath.Join(home, "copy.bin")) != sum(want) {
		t.Fatalf("put: %d %q %s", code, out, errs)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"get", url + "/nope.bin", local}, ExitNotFound, "550"},
		{"wrong password", []string{"ls", "ftp://alice:wrong@" + srv.Addr + "/"}, ExitLogin, "530"},
		{"read-only user uploads", []string{"put", filepath.Join(local, "report.bin"), "ftp://reader:pw@" + srv.Addr + "/x.bin"}, ExitPermission, "550"},
		{"over quota", []string{"put", filepath.Join(local, "report.bin"), "ftp://small:pw@" + srv.Addr + "/x.bin"}, ExitQuota, "552"},
		{"nobody listening", []string{"ls", "ftp://a:b@" + closedPort(t) + "/"}, ExitConnection, "connect"},
		{"contradicting flags", []string{"ls", "--tls", "--no-tls", url}, ExitUsage, "contradict"},
		{"TLS required but not offered", []string{"ls", "--tls", url}, ExitConnection, "AUTH TLS"},
		{"folder without -r", []string{"get", url + "/docs", local}, ExitUsage, "-r"},
		{"local file missing", []string{"put", filepath.Join(local, "absent"), url + "/"}, ExitNotFound, "absent"},
	} {
		code, _, errs := e.run("", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q in it)", tc.name, code, tc.code, errs, tc.msg)
		}
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPasswordFromNetrcAndEnvironment(t *testing.T) {
	srv, home, _ := startServer(t, false)
	os.WriteFile(filepath.Join(home, "f"), []byte("x"), 0o644)
	e := newClientEnv(t)
	netrc := filepath.Join(e.home, "my-netrc")
	host, _, _ := net.SplitHostPort(srv.Addr)
	os.WriteFile(netrc, []byte("machine "+host+"\n  login alice\n  password secret\n"), 0o600)
	e.vars["NETRC"] = netrc
	if code, out, errs := e.run("", "ls", "ftp://"+srv.Addr+"/"); code != 0 || out != "f\n" {
		t.Fatalf("login from netrc: %d %q %s", code, out, errs)
	}
	delete(e.vars, "NETRC")
	e.vars["WHARF_PASSWORD"] = "secret"
	if code, _, errs := e.run("", "ls", "ftp://alice@"+srv.Addr+"/"); code != 0 {
		t.Fatalf("login from WHARF_PASSWORD: %d %s", code, errs)
	}
	delete(e.vars, "WHARF_PASSWORD")
	if code, _, errs := e.run("", "ls", "ftp://alice@"+srv.Addr+"/"); code != ExitLogin || !strings.Contains(errs, "WHARF_PASSWORD") {
		t.Fatalf("no password and no terminal: %d %s", code, errs)
	}
}

func TestChecksumMismatchExitCode(t *testing.T) {
	srv, home, _ := startServer(t, false)
	writeRandom(t, filepath.Join(home, "f.bin"), 10_000)
	host, port, _ := net.SplitHostPort(srv.Addr)
	c, err := client.Connect(context.Background(), &client.Target{Host: host, Port: port}, client.Options{}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(context.Background())
	_, err = client.Get(context.Background(), c, "f.bin", filepath.Join(t.TempDir(), "f.bin"), client.TransferOptions{
		BeforeVerify: func(_, remote string) { os.WriteFile(filepath.Join(home, remote), []byte("changed"), 0o644) },
	})
	if code := clientExitCode(err); code != ExitChecksum {
		t.Fatalf("checksum mismatch %v: exit %d, want %d", err, code, ExitChecksum)
	}
}

func TestTrustOnFirstUseWithoutTerminal(t *testing.T) {
	srv, home, _ := startServer(t, true)
	os.WriteFile(filepath.Join(home, "f"), []byte("x"), 0o644)
	e := newClientEnv(t)
	url := "ftp://alice:secret@" + srv.Addr + "/"
	code, _, errs := e.run("", "ls", url)
	m := regexp.MustCompile(`--trust (SHA256:[A-Za-z0-9+/]{43})`).FindStringSubmatch(errs)
	if code != ExitConnection || m == nil || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("unknown certificate without a terminal: exit %d, stderr %q (want one line naming --trust SHA256:...)", code, errs)
	}
	if code, out, errs := e.run("", "ls", "--trust", m[1], url); code != 0 || out != "f\n" {
		t.Fatalf("--trust: %d %q %s", code, out, errs)
	}
	pins, _ := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "wharf", "known_servers"))
	if string(pins) != srv.Addr+" "+m[1]+"\n" {
		t.Fatalf("known_servers: %q", pins)
	}
	if code, _, errs := e.run("", "ls", "--tls", url); code != 0 {
		t.Fatalf("pinned certificate refused: %s", errs)
	}
	other := filepath.Join(t.TempDir(), "ks")
	if code, _, _ := e.run("", "ls", "--known-servers", other, url); code != ExitConnection {
		t.Fatal("--known-servers did not replace the default file")
	}
}

func TestShellScriptFromStdin(t *testing.T) {
	srv, home, _ := startServer(t, false)
	e := newClientEnv(t)
	local := t.TempDir()
	want := writeRandom(t, filepath.Join(local, "data.bin"), 70_000)
	script := strings.Join([]string{
		"lcd " + local,
		"mkdir -p a/b",
		"cd a",
		"pwd",
		"put data.bin b/",
		"ls -l b",
		"hash b/data.bin",
		"mv b/data.bin b/renamed.bin",
		"mget b/*.bin",
		"status",
		"rm b/nothing-here",
		"pwd",
		"quit",
		"ls never-run",
	}, "\n")
	code, out, errs := e.run(script, "ftp", "ftp://alice:secret@"+srv.Addr)
	if code != ExitNotFound {
		t.Errorf("script with one failing rm: exit %d, want %d (the failure's code)", code, ExitNotFound)
	}
	if fileSum(t, filepath.Join(home, "a", "b", "renamed.bin")) != sum(want) || fileSum(t, filepath.Join(local, "renamed.bin")) != sum(want) {
		t.Fatal("files differ after put, mv and mget")
	}
	for _, w := range []string{"/a\n", "data.bin  68.3KiB", "verified SHA-256", "SHA-256  " + sum(want) + "  b/data.bin", "renamed.bin", "user:      alice", "quota:", "TLS:       none"} {
		if !strings.Contains(out, w) {
			t.Errorf("script output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errs, "error: rm b/nothing-here: 550") || strings.Contains(out+errs, "never-run") {
		t.Errorf("stderr %q: want the server's code and text for rm, and nothing after quit", errs)
	}
	if strings.Count("\n"+out, "\n/a\n") != 2 {
		t.Errorf("the session did not go on after the failed rm:\n%s", out)
	}
}

func TestParallelRecursiveCopyWithTotal(t *testing.T) {
	srv, home, _ := startServer(t, false)
	for i := range 8 {
		writeRandom(t, filepath.Join(home, "tree", fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%d.bin", i)), 20_000+i)
	}
	e := newClientEnv(t)
	local := t.TempDir()
	code, out, errs := e.run("", "get", "-r", "-P", "4", "ftp://alice:secret@"+srv.Addr+"/tree", local)
	if code != 0 {
		t.Fatalf("get -r -P 4: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 9 || !strings.HasPrefix(lines[8], "total  8 files") {
		t.Fatalf("want 8 file lines and a total:\n%s", out)
	}
	code, out, _ = e.run("", "get", "-r", "--active", "ftp://alice:secret@"+srv.Addr+"/tree", local)
	if code != 0 || strings.Count(out, "skipped, identical: same size and SHA-256") != 8 {
		t.Fatalf("second get -r (active mode) should skip all 8 files:\n%s", out)
	}
}

// A download killed half-way (SIGKILL of the client process) is finished by
// the same command with -c: identical SHA-256, and only the missing bytes
// cross the network (counted by the server).
func TestKilledDownloadResumesMovingOnlyMissingBytes(t *testing.T) {
	bin := binary(t)
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20}, "pw")
	want := writeRandom(t, filepath.Join(u.Home, "big.bin"), 4<<20)
	e := newClientEnv(t)
	dst := filepath.Join(t.TempDir(), "big.bin")
	url := "ftp://slow:pw@" + srv.Addr + "/big.bin"

	cmd := exec.Command(bin, "get", "-q", url, dst)
	cmd.Env = e.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var part int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(dst + ".part"); err == nil && fi.Size() > 3<<19 { // past the limiter's first-second burst
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	fi, err := os.Stat(dst + ".part")
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(want)) {
		t.Fatalf("after the kill: %v %v, want a partial .part", fi, err)
	}
	part = fi.Size()
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("the final name exists before the download completed")
	}
	before := len(ev.transfers())
	cmd = exec.Command(bin, "get", "-c", url, dst)
	cmd.Env = e.environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if fileSum(t, dst) != sum(want) || !strings.Contains(string(out), "verified SHA-256") {
		t.Fatalf("resumed file differs, or unverified: %s", out)
	}
	var moved int64 = -1
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && moved < 0; time.Sleep(10 * time.Millisecond) {
		for _, x := range ev.transfers()[before:] {
			if !x.Upload && x.Path == "/big.bin" && x.Err == nil {
				moved = x.Bytes
			}
		}
	}
	if moved != int64(len(want))-part {
		t.Fatalf("the resume moved %d bytes, want only the missing %d", moved, int64(len(want))-part)
	}
}

func TestImplicitFTPSAndNoTLS(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{ImplicitTLS: true})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	os.WriteFile(filepath.Join(home, "f"), []byte("x"), 0o644)
	e := newClientEnv(t)
	code, _, errs := e.run("", "ls", "ftps://alice:secret@"+srv.ImplicitAddr+"/")
	m := regexp.MustCompile(`--trust (SHA256:\S+)`).FindStringSubmatch(errs)
	if code != ExitConnection || m == nil {
		t.Fatalf("implicit FTPS, unknown certificate: %d %q", code, errs)
	}
	if code, out, errs := e.run("", "ls", "--trust", m[1], "ftps://alice:secret@"+srv.ImplicitAddr+"/"); code != 0 || out != "f\n" {
		t.Fatalf("ftps:// with --trust: %d %q %s", code, out, errs)
	}
	// --no-tls: the same server's explicit port, in clear, no certificate involved.
	if code, out, errs := e.run("", "ls", "--no-tls", "--known-servers", filepath.Join(t.TempDir(), "none"), "ftp://alice:secret@"+srv.Addr+"/"); code != 0 || out != "f\n" {
		t.Fatalf("--no-tls: %d %q %s", code, out, errs)
	}
}

// Two servers with different self-signed certificates behind one host:port
// (a forwarder we switch): the second is refused loudly once the first is
// pinned.
func TestChangedCertificateRefused(t *testing.T) {
	srv1, home1, _ := startServer(t, true)
	srv2, _, _ := startServer(t, true)
	os.WriteFile(filepath.Join(home1, "f"), nil, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	target := srv1.Addr
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			to := target
			mu.Unlock()
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	e := newClientEnv(t)
	url := "ftp://alice:secret@" + ln.Addr().String() + "/"
	_, _, errs := e.run("", "ls", url)
	fp := regexp.MustCompile(`--trust (SHA256:\S+)`).FindStringSubmatch(errs)
	if fp == nil {
		t.Fatalf("no fingerprint offered: %q", errs)
	}
	if code, _, errs := e.run("", "ls", "--trust", fp[1], url); code != 0 {
		t.Fatalf("trusting the first server: %s", errs)
	}
	mu.Lock()
	target = srv2.Addr
	mu.Unlock()
	code, _, errs := e.run("", "ls", url)
	if code != ExitConnection || !strings.Contains(errs, "WARNING: THE SERVER'S CERTIFICATE HAS CHANGED!") || !strings.Contains(errs, "pinned:    "+fp[1]) {
		t.Fatalf("changed certificate: exit %d\n%s", code, errs)
	}
}

// Regression (QA round 2, #1): `wharf ls` listed a pinned host that had come
// back without TLS, exit 0, password in clear. Now exit 3, a message naming
// the pin and --no-tls, and --no-tls as the explicit way through.
func TestPinnedHostWithoutTLSExitsConnection(t *testing.T) {
	tlsSrv, _, _ := startServer(t, true)
	plain, home, _ := startServer(t, false)
	os.WriteFile(filepath.Join(home, "f"), nil, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	target := tlsSrv.Addr
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			to := target
			mu.Unlock()
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	e := newClientEnv(t)
	url := "ftp://alice:secret@" + ln.Addr().String() + "/"
	_, _, errs := e.run("", "ls", url)
	fp := regexp.MustCompile(`--trust (SHA256:\S+)`).FindStringSubmatch(errs)
	if fp == nil {
		t.Fatalf("no fingerprint offered: %q", errs)
	}
	if code, _, errs := e.run("", "ls", "--trust", fp[1], url); code != 0 {
		t.Fatalf("trusting the TLS server: %s", errs)
	}
	mu.Lock()
	target = plain.Addr
	mu.Unlock()
	code, out, errs := e.run("", "ls", "--debug", url)
	if code != ExitConnection || out != "" || !strings.Contains(errs, "NO LONGER OFFERS TLS") ||
		!strings.Contains(errs, "pinned:    "+fp[1]) || !strings.Contains(errs, "--no-tls") || strings.Contains(errs, "> USER") {
		t.Fatalf("pinned host without TLS: exit %d out %q\n%s", code, out, errs)
	}
	if code, out, errs := e.run("", "ls", "--no-tls", url); code != 0 || out != "f\n" {
		t.Fatalf("--no-tls override: %d %q %s", code, out, errs)
	}
}

// maxOverlap is the most transfers the server had running at one moment,
// from its TransferDone events (each ends at Time, after Duration).
func maxOverlap(evs []ftp.Event) int {
	most := 0
	for _, a := range evs {
		n := 0
		for _, b := range evs {
			if b.Time.Add(-b.Duration).Before(a.Time) && !b.Time.Before(a.Time) {
				n++ // b was running when a ended
			}
		}
		most = max(most, n)
	}
	return most
}

// Regression (QA round 2, #2): `put -P 3 a b c URL/` sent the files one
// after the other, one Put per file; and without -r no total was shown.
// The server's own events prove three uploads ran at once, from three
// sessions, under a per-user rate limit (so timing alone proves nothing).
func TestPutSeveralFilesRunsParallelWithOneTotal(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateUp: 192 << 10}, "pw")
	dir := t.TempDir()
	var args []string
	sums := map[string]string{}
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		sums[n] = sum(writeRandom(t, filepath.Join(dir, n), 64<<10))
		args = append(args, filepath.Join(dir, n))
	}
	os.MkdirAll(filepath.Join(u.Home, "in"), 0o755)
	e := newClientEnv(t)
	code, out, errs := e.run("", append(append([]string{"put", "-P", "3"}, args...), "ftp://slow:pw@"+srv.Addr+"/in")...)
	if code != 0 {
		t.Fatalf("put -P 3: %d %s", code, errs)
	}
	for n, s := range sums {
		if fileSum(t, filepath.Join(u.Home, "in", n)) != s {
			t.Fatalf("%s differs on the server", n)
		}
	}
	var ups []ftp.Event
	sessions := map[string]bool{}
	for _, x := range ev.transfers() {
		if x.Upload && !x.Listing && x.Err == nil {
			ups = append(ups, x)
			sessions[x.Remote.String()] = true
		}
	}
	if len(ups) != 3 || len(sessions) != 3 || maxOverlap(ups) != 3 {
		t.Fatalf("%d uploads from %d sessions, at most %d at once: want 3, 3, 3", len(ups), len(sessions), maxOverlap(ups))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[3], "total  3 files") {
		t.Fatalf("want 3 file lines and a total:\n%s", out)
	}
}

// Regression (QA round 2, #7): an upload-only user's put said "server
// offers no checksum or size" although the server offers HASH: it refused
// it to this user, and the line must say so.
func TestPutByUploadOnlyUserSaysTheChecksumWasRefused(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "drop", Perms: accounts.PresetUploadOnly}, "pw")
	local := filepath.Join(t.TempDir(), "r.bin")
	want := writeRandom(t, local, 10_000)
	e := newClientEnv(t)
	code, out, errs := e.run("", "put", local, "ftp://drop:pw@"+srv.Addr+"/")
	if code != 0 {
		t.Fatalf("put: %d %s", code, errs)
	}
	if fileSum(t, filepath.Join(u.Home, "r.bin")) != sum(want) {
		t.Fatal("uploaded file differs")
	}
	if strings.Contains(out, "offers no checksum") || !strings.Contains(out, "(the server refused its checksum: 550") {
		t.Fatalf("put by an upload-only user: %q", out)
	}
}
