package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
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

func TestSplitKeepsQuotedAndEscapedSpaces(t *testing.T) {
	for in, want := range map[string][]string{
		`get "my file.txt" local`: {"get", "my file.txt", "local"},
		`put my\ file.txt`:        {"put", "my file.txt"},
		`mv 'a b' c`:              {"mv", "a b", "c"},
		"  ls   -l  ":             {"ls", "-l"},
		`rm ""`:                   {"rm", ""},
	} {
		got, err := split(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("split(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := split(`get "open`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func newShell(t *testing.T) (*Shell, string, string, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	host, port, _ := net.SplitHostPort(srv.Addr)
	tg := &client.Target{Host: host, Port: port}
	dial := func(ctx context.Context) (*client.Conn, error) {
		return client.Connect(ctx, tg, client.Options{}, "alice", "secret")
	}
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	local := t.TempDir()
	var out, errb bytes.Buffer
	s := New(Config{Conn: c, Dial: dial, Out: &out, Err: &errb, Progress: progress.Plain, LocalDir: local, Parallel: 2})
	s.cwd, _ = c.Pwd(context.Background())
	return s, home, local, &out, &errb
}

func complete(s *Shell, line string) []string {
	cands, _ := s.Do([]rune(line), len([]rune(line)))
	var out []string
	for _, c := range cands {
		out = append(out, string(c))
	}
	sort.Strings(out)
	return out
}

func TestCompletionOfCommandsRemoteAndLocalPaths(t *testing.T) {
	s, home, local, _, _ := newShell(t)
	os.MkdirAll(filepath.Join(home, "photos", "2024"), 0o755)
	os.WriteFile(filepath.Join(home, "photos", "cat one.jpg"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, "photos", "cat two.jpg"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(local, "notes.txt"), nil, 0o644)
	os.Mkdir(filepath.Join(local, "notebooks"), 0o755)
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"m", []string{"get ", "irror ", "kdir ", "ore ", "put ", "v "}},
		{"get ph", []string{"otos/"}},
		{"get photos/c", []string{`at\ one.jpg `, `at\ two.jpg `}},
		{`get photos/cat\ t`, []string{"wo.jpg "}},
		{"cd photos/2", []string{"024/"}},
		{"ls /pho", []string{"tos/"}},
		{"get /photos/cat\\ o", []string{"ne.jpg "}},
		{"put no", []string{"tebooks/", "tes.txt "}},
		{"get photos/cat\\ one.jpg no", []string{"tebooks/", "tes.txt "}}, // get's second argument is local
		{"put notes.txt ph", []string{"otos/"}},                           // put's second argument is remote
		{"lcd note", []string{"books/", "s.txt "}},
		{"nosuchcmd x", nil},
	} {
		if got := complete(s, tc.line); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("complete(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestGlobsErrorsAndLocalFolder(t *testing.T) {
	s, home, local, out, errb := newShell(t)
	ctx := context.Background()
	for _, n := range []string{"a.log", "b.log", "c.txt"} {
		os.WriteFile(filepath.Join(local, n), []byte(n), 0o644)
	}
	run := func(line string) error { return s.Exec(ctx, line) }
	if err := run("mput *.log"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "c.txt")); err == nil {
		t.Fatal("mput *.log uploaded c.txt")
	}
	for _, n := range []string{"a.log", "b.log"} {
		if b, _ := os.ReadFile(filepath.Join(home, n)); string(b) != n {
			t.Fatalf("%s not uploaded", n)
		}
	}
	os.Mkdir(filepath.Join(local, "down"), 0o755)
	if err := run("lcd down"); err != nil {
		t.Fatal(err)
	}
	if err := run("mget ?.log"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.log", "b.log"} {
		if _, err := os.Stat(filepath.Join(local, "down", n)); err != nil {
			t.Fatalf("mget into the lcd folder: %v", err)
		}
	}
	if err := run("mget /?.log"); err != nil {
		t.Fatalf("a glob from the root: %v", err)
	}
	if err := run("mget *.nothing"); err == nil || !strings.Contains(errb.String(), "nothing matches") {
		t.Fatalf("a glob that matches nothing: %v %q", err, errb.String())
	}
	if err := run("frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run("get -x a.log"); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := run("mv onlyone"); err == nil || !strings.Contains(errb.String(), "usage: mv FROM TO") {
		t.Fatal("missing argument not reported with usage")
	}
	if err := run("rmdir missing"); client.KindOf(err) != client.KindNotFound {
		t.Fatalf("rmdir missing: %v", err)
	}
	out.Reset()
	if err := run("help"); err != nil || !strings.Contains(out.String(), "HASH SHA-256") || !strings.Contains(out.String(), "Server help (HELP)") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

func TestReconnectsAfterTheServerDroppedTheSession(t *testing.T) {
	s, home, _, out, errb := newShell(t)
	os.WriteFile(filepath.Join(home, "f"), []byte("x"), 0o644)
	s.c.Close() // as if the server had timed us out
	out.Reset()
	if err := s.Exec(context.Background(), "ls"); err != nil || out.String() != "f\n" || !strings.Contains(errb.String(), "reconnecting") {
		t.Fatalf("ls after a lost connection: %v %q %q", err, out.String(), errb.String())
	}
}

// A session the server dropped while idle is noticed by NOOP before the
// command runs, so the command itself does not fail.
func TestStaleSessionIsCheckedBeforeTheCommand(t *testing.T) {
	s, home, _, out, errb := newShell(t)
	os.WriteFile(filepath.Join(home, "g"), []byte("x"), 0o644)
	s.lastUse = time.Now().Add(-time.Hour)
	s.c.Quote(context.Background(), "QUIT") // the server closes its side; the client has not noticed
	out.Reset()
	if err := s.Exec(context.Background(), "ls"); err != nil || out.String() != "g\n" {
		t.Fatalf("ls on a stale session: %v %q %q", err, out.String(), errb.String())
	}
}

// A name on the server is the server's to choose, the terminal is not: an
// ESC in a listed or downloaded name would retitle, clear or recolour the
// screen. ls, get and errors show it escaped.
func TestServerNamesCannotDriveTheTerminal(t *testing.T) {
	s, home, _, out, errb := newShell(t)
	ctx := context.Background()
	evil := "\x1b]0;owned\x07\x1b[2J.txt"
	if err := os.WriteFile(filepath.Join(home, evil), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ls", "ls -l", "pwd"} {
		if err := s.Exec(ctx, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	// wharf refuses control characters in arguments (501): the error
	// names the file, and is shown escaped too.
	if err := s.Exec(ctx, "mget *.txt"); err == nil {
		t.Fatal("wharf served a name with control characters")
	}
	shown := out.String() + errb.String()
	if strings.ContainsAny(shown, "\x1b\x07") {
		t.Fatalf("terminal control characters reached the screen:\n%q", shown)
	}
	if !strings.Contains(out.String(), `\x1b]0;owned\x07\x1b[2J.txt`) {
		t.Fatalf("the name is not shown escaped:\n%q", out.String())
	}
}

// Regression (issue 4): running "put -r tree" or "get -r tree" twice must
// not nest a second copy, and "tree/" (kept through the shell's local path
// handling) copies what is inside.
func TestRecursiveTransfersTwiceDoNotNest(t *testing.T) {
	s, home, local, _, _ := newShell(t)
	ctx := context.Background()
	os.MkdirAll(filepath.Join(local, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(local, "tree", "sub", "f.txt"), []byte("f"), 0o644)
	for _, line := range []string{"put -r tree", "put -r tree", "mkdir inside", "put -r tree/ inside", "put -r tree/ inside"} {
		if err := s.Exec(ctx, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	for _, p := range []string{"tree/sub/f.txt", "inside/sub/f.txt"} {
		if b, err := os.ReadFile(filepath.Join(home, p)); err != nil || string(b) != "f" {
			t.Errorf("server lacks %s: %v", p, err)
		}
	}
	for _, p := range []string{"tree/tree", "inside/tree"} {
		if _, err := os.Stat(filepath.Join(home, p)); err == nil {
			t.Errorf("server holds %s: a nested copy", p)
		}
	}
	os.Mkdir(filepath.Join(local, "down"), 0o755)
	for _, line := range []string{"lcd down", "get -r tree", "get -r -c tree", "get -r tree/ flat", "get -r tree/ flat"} {
		if err := s.Exec(ctx, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	for _, p := range []string{"tree/sub/f.txt", "flat/sub/f.txt"} {
		if b, err := os.ReadFile(filepath.Join(local, "down", p)); err != nil || string(b) != "f" {
			t.Errorf("local lacks down/%s: %v", p, err)
		}
	}
	for _, p := range []string{"tree/tree", "flat/tree"} {
		if _, err := os.Stat(filepath.Join(local, "down", p)); err == nil {
			t.Errorf("local holds down/%s: a nested copy", p)
		}
	}
}

// newShellFor is newShell for a user set up as u, on a server whose
// transfers are reported to ev.
func newShellFor(t *testing.T, u accounts.User, parallel int, ev func(ftp.Event)) (*Shell, accounts.User, string, *bytes.Buffer) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Events = ev }})
	u = srv.Users.Set(u, "pw")
	host, port, _ := net.SplitHostPort(srv.Addr)
	tg := &client.Target{Host: host, Port: port}
	dial := func(ctx context.Context) (*client.Conn, error) {
		return client.Connect(ctx, tg, client.Options{}, u.Name, "pw")
	}
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	local := t.TempDir()
	var out bytes.Buffer
	s := New(Config{Conn: c, Dial: dial, Out: &out, Err: &out, Progress: progress.Plain, LocalDir: local, Parallel: parallel})
	s.cwd, _ = c.Pwd(context.Background())
	return s, u, local, &out
}

// Regression (QA round 2, #2): mget and mput called Get/Put once per
// file, so -P never ran two files at once and no total was shown. The
// server's events show three transfers running together from three
// sessions, under a per-user rate limit.
func TestMgetMputRunParallelWithOneTotal(t *testing.T) {
	var mu sync.Mutex
	var evs []ftp.Event
	rec := func(e ftp.Event) {
		if e.Kind == ftp.TransferDone && !e.Listing && e.Err == nil {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		}
	}
	s, u, local, out := newShellFor(t, accounts.User{Name: "slow", Perms: accounts.PresetFull, RateUp: 192 << 10, RateDown: 192 << 10}, 3, rec)
	ctx := context.Background()
	// 256 KiB at 192 KiB/s: over a second each, so three started together
	// overlap even when the machine is loaded and they start unevenly.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		os.WriteFile(filepath.Join(local, n), payload, 0o644)
	}
	check := func(what string, upload bool) {
		t.Helper()
		mu.Lock()
		var got []ftp.Event
		for _, e := range evs {
			if e.Upload == upload {
				got = append(got, e)
			}
		}
		evs = nil
		mu.Unlock()
		sessions := map[string]bool{}
		for _, e := range got {
			sessions[e.Remote.String()] = true
		}
		most := 0
		for _, a := range got {
			n := 0
			for _, b := range got {
				if b.Time.Add(-b.Duration).Before(a.Time) && !b.Time.Before(a.Time) {
					n++
				}
			}
			most = max(most, n)
		}
		if len(got) != 3 || len(sessions) != 3 || most != 3 {
			t.Fatalf("%s: %d transfers from %d sessions, at most %d at once; want 3, 3, 3", what, len(got), len(sessions), most)
		}
		if !strings.Contains(out.String(), "total  3 files") {
			t.Fatalf("%s: no total:\n%s", what, out.String())
		}
		out.Reset()
	}
	if err := s.Exec(ctx, "mput *.bin"); err != nil {
		t.Fatal(err)
	}
	check("mput", true)
	os.Mkdir(filepath.Join(local, "down"), 0o755)
	if err := s.Exec(ctx, "lcd down"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "mget *.bin"); err != nil {
		t.Fatal(err)
	}
	check("mget", false)
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		if b, _ := os.ReadFile(filepath.Join(local, "down", n)); !bytes.Equal(b, payload) {
			t.Fatalf("down/%s differs", n)
		}
		if b, _ := os.ReadFile(filepath.Join(u.Home, n)); !bytes.Equal(b, payload) {
			t.Fatalf("server's %s differs", n)
		}
	}
}

// Regression (QA round 2, #4): after cd, Tab offered the old folder's
// names (the listing cache was keyed by the relative folder and cd kept it).
func TestCompletionAfterCdListsTheNewFolder(t *testing.T) {
	s, home, _, _, _ := newShell(t)
	os.MkdirAll(filepath.Join(home, "a"), 0o755)
	os.MkdirAll(filepath.Join(home, "b"), 0o755)
	os.WriteFile(filepath.Join(home, "a", "x1.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(home, "b", "y1.txt"), nil, 0o644)
	ctx := context.Background()
	if got := complete(s, "get "); !reflect.DeepEqual(got, []string{"a/", "b/"}) {
		t.Fatalf("at the root: %q", got)
	}
	for _, tc := range []struct{ cd, want string }{{"a", "x1.txt "}, {"/b", "y1.txt "}, {"/a", "x1.txt "}} {
		if err := s.Exec(ctx, "cd "+tc.cd); err != nil {
			t.Fatal(err)
		}
		if got := complete(s, "get "); !reflect.DeepEqual(got, []string{tc.want}) {
			t.Fatalf("after cd %s: %q, want %q", tc.cd, got, tc.want)
		}
	}
}

// Regression (QA round 2, #4): names with quotes or backslashes completed
// to lines the shell's own parser refused or read as another name. Every
// completion, typed bare, in "double" or in 'single' quotes, and cut
// before or after the special character, parses back to the very name.
func TestCompletionRoundTripsSpecialNames(t *testing.T) {
	s, home, local, _, _ := newShell(t)
	names := []string{"it's.txt", `dq"x.txt`, `back\slash.txt`, "sp ace.txt", "ta\tb.txt", `qu'o"te\ all.txt`}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(home, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(local, n), nil, 0o644)
	}
	for _, n := range names {
		for _, cut := range []int{2, 3} {
			for _, q := range []rune{0, '"', '\''} {
				for _, cmd := range []string{"get ", "put "} {
					typed := cmd
					if q != 0 {
						typed += string(q)
					}
					typed += escapeIn(n[:cut], q)
					cands := complete(s, typed)
					if len(cands) != 1 {
						t.Errorf("%q: candidates %q, want one", typed, cands)
						continue
					}
					line := typed + cands[0]
					words, err := split(line)
					if err != nil || len(words) != 2 || words[1] != n {
						t.Errorf("%q completes to %q, which parses as %q (%v), want %q", typed, line, words, err, n)
					}
				}
			}
		}
	}
}

// Regression (QA round 2, #5): status showed "4B used, no limit" to a user
// allowed two files: the file quota was left out.
func TestStatusShowsTheFileQuota(t *testing.T) {
	s, _, local, out := newShellFor(t, accounts.User{Name: "few", Perms: accounts.PresetFull, QuotaFiles: 2}, 1, nil)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		os.WriteFile(filepath.Join(local, n), []byte("xy"), 0o644)
		if err := s.Exec(ctx, "put "+n); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := s.Exec(ctx, "status"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "quota:     4B used, no limit; 2 of 2 files, 0 left\n") {
		t.Fatalf("status:\n%s", out.String())
	}
}

// Regression (QA round 2, #6): mkdir -p through a file said nothing and
// succeeded.
func TestMkdirPThroughAFileFails(t *testing.T) {
	s, home, _, _, errb := newShell(t)
	os.WriteFile(filepath.Join(home, "f"), []byte("x"), 0o644)
	err := s.Exec(context.Background(), "mkdir -p f/sub")
	if !errors.Is(err, client.ErrNotFolder) || !strings.Contains(errb.String(), "error: mkdir f/sub: f exists and is not a folder") {
		t.Fatalf("mkdir -p f/sub: %v %q", err, errb.String())
	}
}

// pyftpdOld starts pyftpdlib (the client package's interop server) without
// FEAT, SIZE, MDTM and MLST: a server that can verify nothing.
func pyftpdOld(t *testing.T, dir string) *client.Target {
	t.Helper()
	py := testenv.PythonWith(t, "pyftpdlib")
	script, _ := filepath.Abs("../client/testdata/pyftpd.py")
	cmd := exec.Command(py, script, "--dir", dir, "--strip", "EPSV,EPRT,MLSD,MLST,MFMT,SIZE,MDTM,FEAT")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORT ") {
		t.Fatalf("pyftpdlib did not start: %q %v", line, err)
	}
	return &client.Target{Host: "127.0.0.1", Port: strings.TrimSpace(strings.TrimPrefix(line, "PORT "))}
}

// Regression (QA round 2, #7): status said "checked by size only" on a
// server without SIZE, where nothing is checked at all.
func TestStatusWithoutSIZESaysNotVerified(t *testing.T) {
	tg := pyftpdOld(t, t.TempDir())
	c, err := client.Connect(context.Background(), tg, client.Options{}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	s := New(Config{Conn: c, Out: &out, Err: &out, Progress: progress.Plain, LocalDir: t.TempDir()})
	if err := s.Exec(context.Background(), "status"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "size only") || !strings.Contains(out.String(), "checksum:  none offered, nor SIZE: transfers are not verified") {
		t.Fatalf("status:\n%s", out.String())
	}
}

func TestShellMirrorBothWaysAndBadArguments(t *testing.T) {
	s, home, local, out, errb := newShell(t)
	ctx := context.Background()
	os.MkdirAll(filepath.Join(home, "site", "sub"), 0o755)
	os.WriteFile(filepath.Join(home, "site", "sub", "a.txt"), []byte("hello"), 0o644)
	if err := s.Exec(ctx, "mirror --dry-run site copy"); err != nil {
		t.Fatal(err, errb.String())
	}
	if !strings.Contains(out.String(), "new      sub/a.txt  5B") {
		t.Fatalf("dry run printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(local, "copy")); err == nil {
		t.Fatal("--dry-run created the folder")
	}
	if err := s.Exec(ctx, "mirror site copy"); err != nil {
		t.Fatal(err, errb.String())
	}
	if b, _ := os.ReadFile(filepath.Join(local, "copy", "sub", "a.txt")); string(b) != "hello" {
		t.Fatalf("mirror copied %q", b)
	}
	os.WriteFile(filepath.Join(local, "copy", "up.txt"), []byte("up"), 0o644)
	os.Remove(filepath.Join(local, "copy", "sub", "a.txt"))
	out.Reset()
	if err := s.Exec(ctx, "mirror -R --delete copy site"); err != nil {
		t.Fatal(err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(home, "site", "sub", "a.txt")); err == nil {
		t.Error("mirror -R --delete left sub/a.txt on the server")
	}
	if b, _ := os.ReadFile(filepath.Join(home, "site", "up.txt")); string(b) != "up" || !strings.Contains(out.String(), "deleted  sub/a.txt") {
		t.Errorf("mirror -R: server has %q; printed %q", b, out.String())
	}
	for _, bad := range []string{"mirror --bogus", "mirror -P 99 site x", "mirror a b c", "mirror --exclude [ site x", "mirror nothere x"} {
		errb.Reset()
		if err := s.Exec(ctx, bad); err == nil || !strings.HasPrefix(errb.String(), "error: ") {
			t.Errorf("%q: %v, printed %q", bad, err, errb.String())
		}
	}
}

// pget in the shell is `wharf get -n`: N ranges over N connections, the
// file identical, and the same refusals as the command line.
func TestShellPgetUsesNConnectionsAndBadArguments(t *testing.T) {
	var mu sync.Mutex
	retr := 0
	s, u, local, out := newShellFor(t, accounts.User{Name: "pg", Perms: accounts.PresetFull}, 2, func(ev ftp.Event) {
		if ev.Kind == ftp.TransferDone && !ev.Upload && !ev.Listing {
			mu.Lock()
			retr++
			mu.Unlock()
		}
	})
	want := make([]byte, 6<<20+777)
	rand.New(rand.NewSource(7)).Read(want)
	if err := os.WriteFile(filepath.Join(u.Home, "big.bin"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Exec(ctx, "pget -n 3 big.bin"); err != nil {
		t.Fatal(err, out.String())
	}
	got, _ := os.ReadFile(filepath.Join(local, "big.bin"))
	if !bytes.Equal(got, want) {
		t.Fatalf("pget: %d bytes, identical %v", len(got), bytes.Equal(got, want))
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := retr
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server saw %d downloads, want 3 ranges", n)
		}
	}
	// The file is there now: another file of that name is refused, -f
	// replaces it.
	os.WriteFile(filepath.Join(local, "big.bin"), []byte("other"), 0o644)
	if err := s.Exec(ctx, "pget big.bin"); err == nil {
		t.Error("pget replaced an existing different file without -f")
	}
	if err := s.Exec(ctx, "pget -f -n 2 big.bin copy.bin"); err != nil {
		t.Fatal(err, out.String())
	}
	if got, _ := os.ReadFile(filepath.Join(local, "copy.bin")); !bytes.Equal(got, want) {
		t.Error("pget to a new local name: not identical")
	}
	for _, bad := range []string{"pget", "pget -n 0 big.bin", "pget -n 33 big.bin", "pget --bogus big.bin", "pget a b c", "pget nothere.bin"} {
		out.Reset()
		if err := s.Exec(ctx, bad); err == nil || !strings.HasPrefix(out.String(), "error: ") {
			t.Errorf("%q: %v, printed %q", bad, err, out.String())
		}
	}
}
