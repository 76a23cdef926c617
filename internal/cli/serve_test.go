package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/testenv"
)

// scanLines reads r line by line until it ends, handing each line to each
// (nil: nobody); the submatches of ready's first match arrive on the
// channel, which is closed once r ends (with none, if nothing matched).
func scanLines(r io.Reader, ready *regexp.Regexp, each func(line string)) <-chan []string {
	found := make(chan []string, 1)
	go func() {
		defer close(found)
		sent := false
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if each != nil {
				each(line)
			}
			if m := ready.FindStringSubmatch(line); m != nil && !sent {
				found <- m
				sent = true
			}
		}
	}()
	return found
}

// startServe runs the built wharf binary as `wharf serve ARGS...` and waits
// for its "serving ftp" log line, returning the address it listens on. The
// process gets SIGINT when the test ends, and must then exit 0.
func startServe(t *testing.T, environ []string, args ...string) (addr string, logs *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	logs = &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := scanLines(pr, regexp.MustCompile(`msg="serving ftp" listen=(\S+)`), func(line string) { logs.Write([]byte(line + "\n")) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("wharf serve exited with %v after SIGINT; log:\n%s", err, logs)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("wharf serve did not stop after SIGINT")
		}
	})
	select {
	case m, ok := <-ready:
		if !ok {
			t.Fatalf("wharf serve ended before it was ready; log:\n%s", logs)
		}
		return m[1], logs
	case err := <-done:
		t.Fatalf("wharf serve exited early: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("wharf serve not ready; log:\n%s", logs)
	}
	return "", nil
}

// The issue's promise: `wharf user add alice --data D --password-stdin
// --quota 10MiB` then `wharf serve --data D ...` lets alice log in with any
// FTP client, and the quota holds.
func TestServeUserAddThenLoginWithRealClients(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("alicepw\n", "user", "add", "alice", "--data", data, "--password-stdin", "--quota", "10MiB"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	addr, _ := startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--passive-ports", testenv.PortRange(t, 10))

	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c2, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Quit()
	if err := c2.Login("alice", "alicepw"); err != nil {
		t.Fatalf("login: %v", err)
	}
	payload := make([]byte, 3<<20)
	rand.Read(payload)
	if err := c2.Stor("a.bin", bytes.NewReader(payload)); err != nil {
		t.Fatalf("stor: %v", err)
	}
	r, err := c2.Retr("a.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Fatal("downloaded file differs from the upload")
	}
	if _, err := os.Stat(filepath.Join(data, "home", "alice", "a.bin")); err != nil {
		t.Fatalf("file not in alice's home: %v", err)
	}

	// curl: an 8 MiB upload passes the 10 MiB quota (3 MiB used): refused
	// with 552 and what is stored stays within the quota.
	big := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(big, make([]byte, 8<<20), 0o644)
	// curl maps the 552 reply to its exit code 70, "Exceeded storage
	// allocation"; when the server's close of the data connection reaches
	// curl while it is still sending, it reports 55 (send failure) instead.
	out, err := exec.Command(curl, "-sS", "-T", big, fmt.Sprintf("ftp://alice:alicepw@%s/big.bin", addr)).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 70 && ee.ExitCode() != 55) {
		t.Errorf("curl over quota: want exit 70 (a 552 reply) or 55, got %v %q", err, out)
	}
	var total int64
	filepath.Walk(filepath.Join(data, "home", "alice"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	if total > 10<<20 {
		t.Errorf("home holds %d bytes, over the 10 MiB quota", total)
	}
	// The admin sees the usage the server recorded.
	if code, out, _ := e.run("", "user", "show", "alice", "--data", data); code != 0 || !strings.Contains(out, "of 10MiB") {
		t.Errorf("user show: %d %q", code, out)
	}
}

// Settings come from flags, then WHARF_* variables, then the TOML file.
func TestServeConfigLayers(t *testing.T) {
	testenv.Tool(t, "python3") // rawFTP
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("pw\n", "user", "add", "bob", "--data", data, "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	fileLo, envLo := testenv.FreePorts(t, 2), testenv.FreePorts(t, 2)
	os.WriteFile(filepath.Join(data, "wharf.toml"), []byte(fmt.Sprintf(
		"listen = \"127.0.0.1:0\"\npassive-ports = \"%d-%d\"\nbanner = \"from the file\"\n", fileLo, fileLo+1)), 0o644)
	// The environment overrides the file's passive range.
	addr, _ := startServe(t, []string{"WHARF_DATA=" + data, fmt.Sprintf("WHARF_PASSIVE_PORTS=%d-%d", envLo, envLo+1)})
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithDisabledEPSV(true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	// jlaffaye/ftp does not show the banner or the port, so ask with raw commands.
	raw := rawFTP(t, addr, "USER bob", "PASS pw", "EPSV")
	if !strings.Contains(raw, "from the file") {
		t.Errorf("banner from wharf.toml not used: %q", raw)
	}
	if !strings.Contains(raw, fmt.Sprintf("(|||%d|)", envLo)) && !strings.Contains(raw, fmt.Sprintf("(|||%d|)", envLo+1)) {
		t.Errorf("EPSV port not from WHARF_PASSIVE_PORTS: %q", raw)
	}
}

func rawFTP(t *testing.T, addr string, cmds ...string) string {
	t.Helper()
	script := "import socket,sys\ns=socket.create_connection(sys.argv[1].rsplit(':',1))\nf=s.makefile('rb')\nout=[f.readline()]\n"
	script += "for c in sys.argv[2:]:\n  s.sendall(c.encode()+b'\\r\\n')\n  l=f.readline(); out.append(l)\n  while l[3:4]==b'-':\n    l=f.readline(); out.append(l)\n"
	script += "sys.stdout.write(b''.join(out).decode())\n"
	out, err := exec.Command(testenv.Tool(t, "python3"), append([]string{"-c", script, addr}, cmds...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("raw ftp: %v %s", err, out)
	}
	return string(out)
}

func TestServeBadInput(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--passive-ports", "5000-4000"}, ExitUsage, "passive-ports"}, // refused before listening: testenv:ok
		{[]string{"--passive-ports", "abc"}, ExitUsage, "passive-ports"},
		{[]string{"--tls-cert", "x.pem"}, ExitUsage, "--tls-key"},
		{[]string{"--tls-required"}, ExitUsage, "--tls-required"},
		{[]string{"--log-level", "loud"}, ExitUsage, "log-level"},
		{[]string{"--config", filepath.Join(data, "missing.toml")}, ExitUsage, "missing.toml"},
		{[]string{"--listen", "127.0.0.1:notaport"}, ExitFailure, "listen"},
		{[]string{"extra-arg"}, ExitUsage, "unknown command"},
	}
	for _, c := range cases {
		code, _, errs := e.run("", append([]string{"serve", "--data", data, "--init", "--listen", "127.0.0.1:0"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("serve %v: exit %d, stderr %q; want exit %d mentioning %q in one line", c.args, code, errs, c.code, c.msg)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("no-such-setting = 1\n"), 0o644)
	if code, _, errs := e.run("", "serve", "--data", data, "--listen", "127.0.0.1:0", "--config", bad); code != ExitUsage || !strings.Contains(errs, "no-such-setting") {
		t.Errorf("unknown TOML key: exit %d, %q", code, errs)
	}
	// A second server on the same data directory is refused, not corrupting it.
	startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--init")
	if code, _, errs := e.run("", "serve", "--data", data, "--listen", "127.0.0.1:0"); code == 0 || !strings.Contains(errs, "in use") {
		t.Errorf("second serve on one data dir: exit %d, %q", code, errs)
	}
}

// Regression (issue 10): `wharf serve --data ./nope` created an empty data
// directory and served it with no users, every login refused and the log
// saying only data=./nope. A missing directory is refused in one line;
// --init creates it; the start line says how many users, stored where,
// listening where.
func TestServeRefusesAMissingDataDirectoryAndSaysWhatItServes(t *testing.T) {
	e := newClientEnv(t)
	nope := filepath.Join(t.TempDir(), "nope")
	code, _, errs := e.run("", "serve", "--data", nope, "--listen", "127.0.0.1:0")
	if code != ExitNotFound || !strings.Contains(errs, nope) || !strings.Contains(errs, "--init") ||
		!strings.Contains(errs, "user add") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("serve on a missing data directory: exit %d, stderr %q; want exit %d, one line naming it, --init and user add", code, errs, ExitNotFound)
	}
	if _, err := os.Stat(nope); !os.IsNotExist(err) {
		t.Errorf("the refused data directory was created: %v", err)
	}
	// The environment's data directory is checked the same way.
	e.vars["WHARF_DATA"] = nope
	if code, _, errs := e.run("", "serve", "--listen", "127.0.0.1:0"); code != ExitNotFound || !strings.Contains(errs, nope) {
		t.Errorf("serve with WHARF_DATA missing: exit %d, %q", code, errs)
	}
	delete(e.vars, "WHARF_DATA")

	addr, logs := startServe(t, nil, "--data", nope, "--listen", "127.0.0.1:0", "--init")
	line := regexp.MustCompile(`(?m)^.*msg="serving ftp".*$`).FindString(logs.String())
	for _, want := range []string{"listen=" + addr, "users=0", "data=" + nope, "accounts=" + filepath.Join(nope, "wharf.db"), "homes=" + filepath.Join(nope, "home")} {
		if !strings.Contains(line, want) {
			t.Errorf("start line lacks %q: %s", want, line)
		}
	}
	if !strings.Contains(logs.String(), "no users") {
		t.Errorf("no warning about a server without users:\n%s", logs)
	}

	data := filepath.Join(t.TempDir(), "data")
	for _, name := range []string{"alice", "bob"} {
		if code, _, errs := e.run("pw\n", "user", "add", name, "--data", data, "--password-stdin"); code != 0 {
			t.Fatalf("user add: %d %s", code, errs)
		}
	}
	_, logs = startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0")
	if line := regexp.MustCompile(`(?m)^.*msg="serving ftp".*$`).FindString(logs.String()); !strings.Contains(line, "users=2") {
		t.Errorf("start line with two users: %s", line)
	}
}
