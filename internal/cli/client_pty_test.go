package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/wharfftp/wharf/internal/accounts"
)

// screen is wharf running in a real pseudo-terminal: the test types and
// reads what a person would see.
type screen struct {
	t   *testing.T
	f   *os.File
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
	end chan struct{}
}

func startScreen(t *testing.T, e *clientEnv, args ...string) *screen {
	t.Helper()
	return startScreenSize(t, e, &pty.Winsize{Rows: 40, Cols: 140}, args...)
}

// startScreenSize is startScreen on a terminal of the given size; nil
// leaves it 0x0, as a pty nobody sized (TIOCSWINSZ never called) is.
func startScreenSize(t *testing.T, e *clientEnv, size *pty.Winsize, args ...string) *screen {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = e.environ()
	cmd.Dir = t.TempDir()
	f, err := pty.StartWithSize(cmd, size)
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{t: t, f: f, cmd: cmd, end: make(chan struct{})}
	go func() {
		defer close(s.end)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return s
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\r`)

// text is the output so far without escape sequences.
func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.ReplaceAllString(s.out.String(), "")
}

func (s *screen) raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitFor waits until the screen shows want, n times in all.
func (s *screen) waitFor(want string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(s.text(), want) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("screen never showed %q (%d times); it shows:\n%s", want, n, s.text())
}

func (s *screen) typ(keys string) {
	s.t.Helper()
	if _, err := s.f.Write([]byte(keys)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *screen) exit() int {
	s.t.Helper()
	select {
	case <-s.end:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("wharf did not exit; screen:\n%s", s.text())
	}
	s.cmd.Wait()
	return s.cmd.ProcessState.ExitCode()
}

func TestInteractiveShellInTerminal(t *testing.T) {
	srv, home, _ := startServer(t, true)
	want := writeRandom(t, filepath.Join(home, "big report.bin"), 300_000)
	os.MkdirAll(filepath.Join(home, "subfolder"), 0o755)
	e := newClientEnv(t)
	sh := startScreen(t, e, "ftp", "ftp://alice:secret@"+srv.Addr+"/")
	local := sh.cmd.Dir
	writeRandom(t, filepath.Join(local, "local-only.txt"), 100)

	// First contact with a self-signed certificate: asked, answered, pinned.
	sh.waitFor("Trust it and remember it", 1)
	sh.waitFor("SHA256:", 1)
	sh.typ("yes\r")
	sh.waitFor("wharf:/> ", 1)

	sh.typ("ls\r")
	sh.waitFor("subfolder/", 1)

	// Tab completes commands, remote names (escaping the space) and folders.
	sh.typ("sta\t")
	sh.waitFor("wharf:/> status", 1)
	sh.typ("\r")
	sh.waitFor("PROT P", 1)
	sh.waitFor("quota:", 1)

	sh.typ("get big\t")
	sh.waitFor(`get big\ report.bin`, 1)
	sh.typ("\r")
	sh.waitFor("verified SHA-256", 1)
	if fileSum(t, filepath.Join(local, "big report.bin")) != sum(want) {
		t.Fatal("downloaded file differs")
	}
	if !strings.Contains(sh.raw(), "\x1b[") {
		t.Error("no terminal drawing during the transfer")
	}

	sh.typ("cd sub\t")
	sh.waitFor("cd subfolder/", 1)
	sh.typ("\r")
	sh.waitFor("wharf:/subfolder> ", 1)

	// Local completion for put.
	sh.typ("put local-\t")
	sh.waitFor("put local-only.txt", 1)
	sh.typ("\r")
	sh.waitFor("verified SHA-256", 2)

	// An error shows the server's reply, and the session goes on.
	sh.typ("rm no-such-file\r")
	sh.waitFor("error: rm no-such-file: 550", 1)
	sh.typ("pwd\r")
	sh.waitFor("\n/subfolder\n", 1)

	sh.typ("quit\r")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, sh.text())
	}
	if _, err := os.Stat(filepath.Join(home, "subfolder", "local-only.txt")); err != nil {
		t.Fatal("put did not land on the server")
	}
	hist, _ := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "wharf", "history"))
	if !strings.Contains(string(hist), "get big\\ report.bin") {
		t.Errorf("history file: %q", hist)
	}
	pins, _ := os.ReadFile(filepath.Join(e.vars["XDG_CONFIG_HOME"], "wharf", "known_servers"))
	if !strings.HasPrefix(string(pins), srv.Addr+" SHA256:") {
		t.Errorf("known_servers: %q", pins)
	}
}

// On a terminal a transfer draws a live bar; in a pipe the same command
// prints one plain line (TestScriptCommandsAndExitCodes).
func TestProgressBarOnTerminal(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20}, "pw")
	writeRandom(t, filepath.Join(u.Home, "movie.bin"), 5<<19) // the burst, then 1.5s of paced bytes
	e := newClientEnv(t)
	sh := startScreen(t, e, "get", "ftp://slow:pw@"+srv.Addr+"/movie.bin")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, sh.text())
	}
	raw := sh.raw()
	for _, want := range []string{"\x1b[", "movie.bin", "%", "MiB/s", "ETA", "verified SHA-256"} {
		if !strings.Contains(raw, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, raw)
		}
	}
	if n := strings.Count(raw, "movie.bin"); n < 3 || n > 40 {
		t.Errorf("bar drawn %d times in ~1.5s: want redraws, but only when something changed", n)
	}
}

// Regression: on a terminal whose size is 0x0 (a pty never sized) get
// printed nothing at all and exited 0: mpb drew its bars zero columns
// wide. Plain summary lines are shown instead.
func TestProgressOnTerminalOfSizeZero(t *testing.T) {
	srv, home, _ := startServer(t, false)
	writeRandom(t, filepath.Join(home, "movie.bin"), 300_000)
	e := newClientEnv(t)
	sh := startScreenSize(t, e, nil, "get", "ftp://alice:secret@"+srv.Addr+"/movie.bin")
	if cols, rows, err := pty.Getsize(sh.f); err != nil || cols != 0 || rows != 0 {
		t.Fatalf("terminal is %dx%d (%v), want 0x0", cols, rows, err)
	}
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, sh.text())
	}
	if text := sh.text(); !strings.Contains(text, "movie.bin") || !strings.Contains(text, "verified SHA-256") {
		t.Fatalf("a 0x0 terminal shows %q: want the file's line with its verification", sh.raw())
	}
}

// Ctrl-C during a transfer interrupts that transfer and brings the prompt
// back; get -c then finishes it, moving only the missing bytes.
func TestCtrlCInterruptsTransferNotSession(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20}, "pw")
	want := writeRandom(t, filepath.Join(u.Home, "movie.bin"), 3<<20)
	e := newClientEnv(t)
	sh := startScreen(t, e, "ftp", "ftp://slow:pw@"+srv.Addr+"/")
	sh.waitFor("wharf:/> ", 1)
	sh.typ("get movie.bin\r")
	part := filepath.Join(sh.cmd.Dir, "movie.bin.part")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(part); err == nil && fi.Size() > 3<<19 {
			break
		}
	}
	sh.typ("\x03")
	sh.waitFor("interrupted: get", 1)
	sh.waitFor("wharf:/> ", 2)
	fi, err := os.Stat(part)
	if err != nil || fi.Size() >= int64(len(want)) {
		t.Fatalf("after Ctrl-C: %v %v", fi, err)
	}
	before := len(ev.transfers())
	sh.typ("get -c movie.bin\r")
	sh.waitFor("verified SHA-256", 1)
	sh.typ("quit\r")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, sh.text())
	}
	if fileSum(t, filepath.Join(sh.cmd.Dir, "movie.bin")) != sum(want) {
		t.Fatal("resumed file differs")
	}
	var moved int64 = -1
	for _, x := range ev.transfers()[before:] {
		if x.Path == "/movie.bin" && x.Err == nil {
			moved = x.Bytes
		}
	}
	if moved != int64(len(want))-fi.Size() {
		t.Fatalf("get -c moved %d bytes, want the missing %d", moved, int64(len(want))-fi.Size())
	}
	if strings.Contains(sh.text(), "reconnecting") {
		t.Error("the interrupt cost the control connection (ABOR should have kept it)")
	}
}

// A password asked at the terminal is not echoed.
func TestPasswordPromptWithoutEcho(t *testing.T) {
	srv, home, _ := startServer(t, false)
	os.WriteFile(filepath.Join(home, "visible.txt"), nil, 0o644)
	e := newClientEnv(t)
	sh := startScreen(t, e, "ls", "ftp://alice@"+srv.Addr+"/")
	sh.waitFor("Password for alice@127.0.0.1: ", 1)
	sh.typ("secret\r")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, sh.text())
	}
	if !strings.Contains(sh.text(), "visible.txt") || strings.Contains(sh.text(), "secret") {
		t.Fatalf("screen:\n%s", sh.text())
	}
}

// screenLines replays the output as a terminal would (the subset mpb and
// readline use: CR, LF, cursor up/down/left/right/column, erase line and
// erase below) and returns the rows on the screen, trailing spaces cut.
// Redraws land on top of what they replace, so a bar drawn twice into one
// row shows as the person saw it.
func (s *screen) screenLines() []string {
	raw := s.raw()
	var rows [][]rune
	r, c := 0, 0
	row := func() []rune {
		for len(rows) <= r {
			rows = append(rows, nil)
		}
		return rows[r]
	}
	put := func(ch rune) {
		line := row()
		for len(line) <= c {
			line = append(line, ' ')
		}
		line[c] = ch
		rows[r] = line
		c++
	}
	seq := regexp.MustCompile(`^\x1b\[([0-9;?]*)([A-Za-z])`)
	for i := 0; i < len(raw); {
		if m := seq.FindStringSubmatch(raw[i:]); m != nil {
			i += len(m[0])
			n := 1
			if v, err := strconv.Atoi(m[1]); err == nil && v > 0 {
				n = v
			}
			switch m[2] {
			case "A":
				r = max(r-n, 0)
			case "B":
				r += n
			case "C":
				c += n
			case "D":
				c = max(c-n, 0)
			case "G":
				c = n - 1
			case "K":
				line := row()
				if m[1] == "2" {
					rows[r] = nil
				} else if c < len(line) {
					rows[r] = line[:c]
				}
			case "J":
				line := row()
				if c < len(line) {
					rows[r] = line[:c]
				}
				rows = rows[:r+1]
			}
			continue
		}
		ch, size := utf8.DecodeRuneInString(raw[i:])
		i += size
		switch ch {
		case '\r':
			c = 0
		case '\n':
			r++
			c = 0
			row()
		case '\x1b', '\a', '\b':
			if ch == '\b' {
				c = max(c-1, 0)
			}
		default:
			put(ch)
		}
	}
	out := make([]string, len(rows))
	for i, l := range rows {
		out[i] = strings.TrimRight(string(l), " ")
	}
	return out
}

// Regression (QA round 2, #3): after get -r the total bar was drawn empty
// at 100% ("100% [------] 6B / 6B") and its rate printed twice; put of
// several named files showed no total at all.
func TestTotalBarIsFilledAndShowsOneRate(t *testing.T) {
	srv, home, _ := startServer(t, false)
	src := t.TempDir()
	var names []string
	for _, n := range []string{"a", "b", "c"} {
		writeRandom(t, filepath.Join(home, "tree", n+".bin"), 50_000)
		writeRandom(t, filepath.Join(src, n+".up"), 50_000)
		names = append(names, filepath.Join(src, n+".up"))
	}
	e := newClientEnv(t)
	for _, args := range [][]string{
		{"get", "-r", "ftp://alice:secret@" + srv.Addr + "/tree"},
		append(append([]string{"put"}, names...), "ftp://alice:secret@"+srv.Addr+"/"),
	} {
		sh := startScreen(t, e, args...)
		if code := sh.exit(); code != 0 {
			t.Fatalf("%s: exit %d:\n%s", args[0], code, sh.text())
		}
		lines := sh.screenLines()
		total := ""
		for _, l := range lines {
			if strings.HasPrefix(l, "total (3 files)") {
				if total != "" {
					t.Fatalf("%s: two total lines on the screen:\n%s", args[0], strings.Join(lines, "\n"))
				}
				total = l
			}
		}
		if total == "" {
			t.Fatalf("%s: no total line on the screen:\n%s", args[0], strings.Join(lines, "\n"))
		}
		if !strings.Contains(total, "100%") || strings.Contains(total, "-]") || strings.Contains(total, "[-") ||
			!strings.Contains(total, "3 verified SHA-256") {
			t.Fatalf("%s: total line %q, want a full bar at 100%% and 3 verified", args[0], total)
		}
		if n := len(regexp.MustCompile(`[0-9.]+(B|KiB|MiB|GiB)/s`).FindAllString(total, -1)); n != 1 {
			t.Fatalf("%s: total line shows %d rates, want 1: %q", args[0], n, total)
		}
	}
}

// Regression (QA round 2, #7): Ctrl-C during a shell get left the bar
// drawn twice into one row ("f1f1 48% [...] failed").
func TestCtrlCLeavesOneBarOnTheScreen(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20}, "pw")
	writeRandom(t, filepath.Join(u.Home, "f1"), 3<<20)
	e := newClientEnv(t)
	sh := startScreen(t, e, "ftp", "ftp://slow:pw@"+srv.Addr+"/")
	sh.waitFor("wharf:/> ", 1)
	sh.typ("get f1\r")
	part := filepath.Join(sh.cmd.Dir, "f1.part")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(part); err == nil && fi.Size() > 3<<19 {
			break
		}
	}
	sh.typ("\x03")
	sh.waitFor("interrupted: get", 1)
	sh.waitFor("wharf:/> ", 2)
	sh.typ("quit\r")
	sh.exit()
	lines := sh.screenLines()
	bars := 0
	for _, l := range lines {
		if strings.Contains(l, "%") {
			bars++
			if !strings.HasPrefix(l, "f1 ") || strings.Count(l, "f1") != 1 || !strings.HasSuffix(l, "failed") {
				t.Errorf("bar row %q: want one bar, \"f1 ... failed\"", l)
			}
		}
	}
	// mpb moves up over its rows from the start of the row below them:
	// anything echoed there (the terminal's "^C") shifts every redraw.
	if m := regexp.MustCompile(`[^\n]\x1b\[[0-9]*A`).FindString(sh.raw()); m != "" {
		t.Errorf("a redraw began away from the start of a row: %q", m)
	}
	if bars != 1 {
		t.Errorf("%d bar rows on the screen, want 1:\n%s", bars, strings.Join(lines, "\n"))
	}
	if t.Failed() || os.Getenv("SHOWRAW") != "" {
		t.Logf("raw:\n%q", sh.raw())
	}
}
