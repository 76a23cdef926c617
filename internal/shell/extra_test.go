package shell

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/progress"
	"github.com/wharfftp/wharf/internal/testenv"
)

// runAll runs each line and fails the test on the first error.
func runAll(t *testing.T, s *Shell, errb *bytes.Buffer, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%q: %v\n%s", l, err, errb.String())
		}
	}
}

// fails runs a line that must fail with one "error: " line and leave the
// session usable.
func fails(t *testing.T, s *Shell, errb *bytes.Buffer, line, want string) {
	t.Helper()
	errb.Reset()
	err := s.Exec(context.Background(), line)
	if err == nil || !strings.HasPrefix(errb.String(), "error: ") || strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), want) {
		t.Errorf("%q: %v, printed %q; want one error line with %q", line, err, errb.String(), want)
	}
	if err := s.Exec(context.Background(), "pwd"); err != nil {
		t.Fatalf("after %q the session is broken: %v", line, err)
	}
}

func TestShellQuote(t *testing.T) {
	s, _, _, out, errb := newShell(t)
	runAll(t, s, errb, "quote NOOP", "quote feat")
	o := out.String()
	if !strings.HasPrefix(o, "200 ") || !strings.Contains(o, "211-") || !strings.Contains(o, "\n211 End") {
		t.Errorf("quote printed %q", o)
	}
	out.Reset()
	runAll(t, s, errb, "quote site help")
	if !strings.HasPrefix(out.String(), "214") {
		t.Errorf("quote SITE HELP: %q", out.String())
	}
	fails(t, s, errb, "quote", "usage: quote RAW")
	fails(t, s, errb, "quote BOGUS", "500")
	fails(t, s, errb, "quote pasv", "not sent")
	fails(t, s, errb, "quote RETR x", "use get or cat")
	fails(t, s, errb, "quote QUIT", "use quit")
}

func TestShellCatMoreLessAndBang(t *testing.T) {
	s, home, local, out, errb := newShell(t)
	env := map[string]string{}
	s.cfg.Getenv = func(k string) string { return env[k] }
	os.WriteFile(filepath.Join(home, "a.txt"), []byte("hello\nworld\n"), 0o644)
	os.WriteFile(filepath.Join(home, "b.txt"), []byte("two\n"), 0o644)
	runAll(t, s, errb, "cat a.txt b.txt")
	if out.String() != "hello\nworld\ntwo\n" {
		t.Errorf("cat printed %q", out.String())
	}
	fails(t, s, errb, "cat missing.txt", "550")
	fails(t, s, errb, "cat", "usage: cat FILE...")

	env["PAGER"] = "sed 's/^/P:/'"
	out.Reset()
	runAll(t, s, errb, "more a.txt", "less b.txt")
	if out.String() != "P:hello\nP:world\nP:two\n" {
		t.Errorf("more/less through $PAGER printed %q", out.String())
	}
	env["PAGER"] = "head -c 1 >/dev/null" // quits before reading all
	runAll(t, s, errb, "more a.txt")
	env["PAGER"] = "exit 3"
	fails(t, s, errb, "less a.txt", "exit status 3")
	fails(t, s, errb, "more", "usage: more FILE...")

	out.Reset()
	runAll(t, s, errb, "!pwd", "! echo 'a  b' > made.txt", "!cat") // a script's !cat reads nothing
	if strings.TrimSpace(out.String()) != local {
		t.Errorf("!pwd printed %q, want the local folder %s", out.String(), local)
	}
	if b, _ := os.ReadFile(filepath.Join(local, "made.txt")); string(b) != "a  b\n" {
		t.Errorf("! kept quotes wrong: %q", b)
	}
	fails(t, s, errb, "!exit 4", "exit status 4")
	fails(t, s, errb, "!", "needs a terminal")
}

func TestTerminalSafeEscapesControlBytes(t *testing.T) {
	var b bytes.Buffer
	terminalSafe{&b}.Write([]byte("ok\tline\n\x1b]0;owned\x07\x9b2J\xffé"))
	if got := b.String(); got != "ok\tline\n\\x1b]0;owned\\x07\\xc2\\x9b2J\\xffé" && got != "ok\tline\n\\x1b]0;owned\\x07\\x9b2J\\xffé" {
		t.Errorf("got %q", got)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Error("control bytes reached the terminal")
	}
}

func TestShellDuFindRmAndHelp(t *testing.T) {
	s, home, _, out, errb := newShell(t)
	os.MkdirAll(filepath.Join(home, "d", "e"), 0o755)
	os.WriteFile(filepath.Join(home, "d", "one.txt"), make([]byte, 1000), 0o644)
	os.WriteFile(filepath.Join(home, "d", "e", "two.bin"), make([]byte, 2048), 0o644)
	runAll(t, s, errb, "du -s d")
	if out.String() != "3048\td/\t(2 files)\n" {
		t.Errorf("du -s printed %q", out.String())
	}
	out.Reset()
	runAll(t, s, errb, "du -h d")
	if out.String() != "2KiB\td/e/\n2.9KiB\td/\n" {
		t.Errorf("du -h printed %q", out.String())
	}
	fails(t, s, errb, "du missing", "550")
	fails(t, s, errb, "du -x d", "unknown flag -x")
	out.Reset()
	runAll(t, s, errb, "find d", "find d *.bin")
	if out.String() != "d/e/\nd/e/two.bin\nd/one.txt\nd/e/two.bin\n" {
		t.Errorf("find printed %q", out.String())
	}
	fails(t, s, errb, "find d [", "pattern")
	fails(t, s, errb, "find nowhere", "550")

	fails(t, s, errb, "rm -r d", "only with -f")
	if _, err := os.Stat(filepath.Join(home, "d")); err != nil {
		t.Fatal("rm -r without -f removed the folder in a script")
	}
	runAll(t, s, errb, "rm -r -f d")
	if _, err := os.Stat(filepath.Join(home, "d")); err == nil {
		t.Fatal("rm -r -f left the folder")
	}
	for _, n := range s.names {
		out.Reset()
		runAll(t, s, errb, "help "+n)
		c := s.table[n]
		if !strings.HasPrefix(out.String(), n+" "+c.usage+"\n  "+c.help) {
			t.Errorf("help %s printed %q", n, out.String())
		}
	}
	fails(t, s, errb, "help nosuch", "unknown command")
}

func TestShellBookmarks(t *testing.T) {
	s, _, _, out, errb := newShell(t)
	cfg := t.TempDir()
	s.cfg.Getenv = func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return cfg
		}
		return ""
	}
	s.cfg.Password = "secret"
	runAll(t, s, errb, "mkdir site", "cd site", "bookmark add here", "bookmark add other ftp://bob:pw@example.org/pub", "bookmark list")
	file := filepath.Join(cfg, "wharf", "bookmarks")
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), "secret") || strings.Contains(string(b), "pw") {
		t.Fatalf("a password was saved without -p: %q", b)
	}
	host := s.c.Target().HostPort()
	if !strings.Contains(out.String(), "here             ftp://alice@"+host+"/site") || !strings.Contains(out.String(), "other            ftp://bob@example.org:21/pub") {
		t.Errorf("bookmark list printed %q", out.String())
	}
	runAll(t, s, errb, "bookmark add -p here")
	b, _ = os.ReadFile(file)
	fi, _ := os.Stat(file)
	if !strings.Contains(string(b), "alice:secret@") || fi.Mode().Perm() != 0o600 || strings.Count(string(b), "here ") != 1 {
		t.Errorf("bookmark add -p: %q, mode %v", b, fi.Mode().Perm())
	}
	runAll(t, s, errb, "bookmark del here")
	fi, _ = os.Stat(file)
	if b, _ = os.ReadFile(file); strings.Contains(string(b), "here") || fi.Mode().Perm() != 0o644 {
		t.Errorf("after del: %q, mode %v", b, fi.Mode().Perm())
	}
	fails(t, s, errb, "bookmark frob", "usage: bookmark")
	fails(t, s, errb, "bookmark add", "usage: bookmark")
	fails(t, s, errb, "bookmark add 'a b'", "no spaces")
	fails(t, s, errb, "bookmark del nothere", "no such bookmark")
	fails(t, s, errb, "bookmark add x ftp://[::1", "bookmark add")
}

// pyftpShell is a shell on pyftpdlib, which has SITE CHMOD.
func pyftpShell(t *testing.T, dir string) (*Shell, *bytes.Buffer, *bytes.Buffer) {
	py := testenv.PythonWith(t, "pyftpdlib")
	script, _ := filepath.Abs("../client/testdata/pyftpd.py")
	cmd := exec.Command(py, script, "--dir", dir)
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(pipe).ReadString('\n')
	port := strings.TrimSpace(strings.TrimPrefix(line, "PORT "))
	tg := &client.Target{Host: "127.0.0.1", Port: port}
	c, err := client.Connect(context.Background(), tg, client.Options{}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var out, errb bytes.Buffer
	s := New(Config{Conn: c, Out: &out, Err: &errb, Progress: progress.Plain, LocalDir: t.TempDir()})
	return s, &out, &errb
}

func TestShellChmod(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("x"), 0o644)
	s, _, errb := pyftpShell(t, dir)
	runAll(t, s, errb, "chmod 600 f.txt")
	if fi, _ := os.Stat(filepath.Join(dir, "f.txt")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after chmod 600", fi.Mode().Perm())
	}
	fails(t, s, errb, "chmod 999 f.txt", "octal")
	fails(t, s, errb, "chmod rwx f.txt", "octal")
	fails(t, s, errb, "chmod 644", "usage: chmod")
	fails(t, s, errb, "chmod 644 missing.txt", "550")

	w, _, _, _, werrb := newShell(t)
	fails(t, w, werrb, "chmod 644 x", "has no SITE CHMOD")
}

// While nobody types, the shell sends NOOP every Keepalive, so a server's
// idle timer does not end a session someone is sitting at; a command in
// between is not disturbed.
func TestShellKeepaliveWhileIdle(t *testing.T) {
	var mu sync.Mutex
	noops := 0
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(ev ftp.Event) {
			if ev.Kind == ftp.Command && ev.Verb == "NOOP" {
				mu.Lock()
				noops++
				mu.Unlock()
			}
		}
	}})
	srv.Users.Add("alice", "secret", accounts.PresetFull)
	host, port, _ := net.SplitHostPort(srv.Addr)
	c, err := client.Connect(context.Background(), &client.Target{Host: host, Port: port}, client.Options{}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, typing := io.Pipe()
	var out, errb bytes.Buffer
	s := New(Config{Conn: c, In: in, Out: &out, Err: &errb, Progress: progress.Plain, LocalDir: t.TempDir(), Keepalive: 100 * time.Millisecond})
	ran := make(chan error, 1)
	go func() { ran <- s.Run(context.Background()) }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return noops }
	start := time.Now()
	for count() < 3 && time.Since(start) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	// Each NOOP comes after 100 ms of quiet, never more often.
	if n, el := count(), time.Since(start); n < 3 || time.Duration(n) > el/(100*time.Millisecond)+1 {
		t.Errorf("%d NOOPs in %v idle at a 100 ms keepalive", n, el)
	}
	io.WriteString(typing, "pwd\n")
	typing.Close()
	if err := <-ran; err != nil || out.String() != "/\n" {
		t.Fatalf("a command after the keepalives: %v %q %s", err, out.String(), errb.String())
	}
	n := count()
	time.Sleep(300 * time.Millisecond)
	if count() != n {
		t.Error("NOOPs went on after the shell ended")
	}
}

// The local-folder commands and mkdir -p, with good and bad arguments.
func TestShellLocalFolderCommandsAndMkdirP(t *testing.T) {
	s, home, local, out, errb := newShell(t)
	os.MkdirAll(filepath.Join(local, "down", "deep"), 0o755)
	os.WriteFile(filepath.Join(local, "file.txt"), []byte("x"), 0o644)
	runAll(t, s, errb, "lls")
	if out.String() != "down/\nfile.txt\n" {
		t.Errorf("lls printed %q", out.String())
	}
	out.Reset()
	runAll(t, s, errb, "lcd down", "lpwd", "lls")
	if out.String() != filepath.Join(local, "down")+"\ndeep/\n" {
		t.Errorf("lcd, lpwd, lls printed %q", out.String())
	}
	fails(t, s, errb, "lcd nowhere", "no such file")
	fails(t, s, errb, "lcd ../file.txt", "not a folder")
	fails(t, s, errb, "lls nowhere", "no such file")
	fails(t, s, errb, "lcd a b", "usage: lcd")
	fails(t, s, errb, "lpwd x", "usage: lpwd")

	runAll(t, s, errb, "mkdir -p x/y/z", "mkdir -p x/y/z") // twice: already there is fine
	if fi, err := os.Stat(filepath.Join(home, "x", "y", "z")); err != nil || !fi.IsDir() {
		t.Fatalf("mkdir -p: %v", err)
	}
	fails(t, s, errb, "mkdir x", "550")
	fails(t, s, errb, "mkdir", "usage: mkdir")
	fails(t, s, errb, "mkdir -q y", "unknown flag -q")
}
