package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

// Regression (#10, #14): Ctrl-C in one-shot get drew a doubled bar
// fragment and printed a raw Go error ("context canceled (... i/o
// timeout)"). The screen shows one bar and one sentence saying what was
// kept and how to resume, right for the direction.
func TestCtrlCInOneShotTransferLeavesOneBarAndOneSentence(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20, RateUp: 1 << 20}, "pw")
	writeRandom(t, filepath.Join(u.Home, "big.bin"), 4<<20)
	e := newClientEnv(t)
	base := "ftp://slow:pw@" + srv.Addr + "/"
	src := filepath.Join(t.TempDir(), "up.bin")
	writeRandom(t, src, 4<<20)

	for _, tc := range []struct {
		name  string
		args  []string
		wait  func(dir string)
		want  string
		avoid string
	}{
		{"get", []string{"get", base + "big.bin"}, func(dir string) {
			waitForSize(t, filepath.Join(dir, "big.bin.part"), 3<<19)
		}, "big.bin is partly downloaded", "upload"},
		{"put", []string{"put", src, base}, func(string) {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if tmp, _ := filepath.Glob(filepath.Join(u.Home, ".*")); len(tmp) == 1 {
					waitForSize(t, tmp[0], 3<<19)
					return
				}
			}
			t.Fatal("the upload never started")
		}, "up.bin is partly uploaded: the server keeps what arrived", "download"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := startScreen(t, e, tc.args...)
			tc.wait(sh.cmd.Dir)
			time.Sleep(300 * time.Millisecond) // a few redraws
			sh.typ("\x03")
			if code := sh.exit(); code != ExitInterrupted {
				t.Fatalf("exit %d, want %d:\n%s", code, ExitInterrupted, sh.text())
			}
			lines := sh.screenLines()
			var bars, words []string
			for _, l := range lines {
				switch {
				case strings.Contains(l, "%"):
					bars = append(bars, l)
				case strings.TrimSpace(l) != "" && strings.TrimSpace(l) != "^C":
					words = append(words, l)
				}
			}
			if len(bars) != 1 || strings.Count(bars[0], "big.bin")+strings.Count(bars[0], "up.bin") != 1 {
				t.Errorf("bar rows %q, want one bar", bars)
			}
			if len(words) != 1 || !strings.Contains(words[0], tc.want) || strings.Contains(words[0], tc.avoid) ||
				!strings.HasSuffix(words[0], "; the same command with -c resumes it") ||
				strings.Contains(words[0], "context") || strings.Contains(words[0], "tcp") {
				t.Errorf("lines besides the bar: %q, want one sentence with %q", words, tc.want)
			}
			// A "^C" echoed beside the bar makes the next redraw start
			// mid-row: the doubled fragment ("bibig.bin 28% ...").
			if m := regexp.MustCompile(`[^\n]\x1b\[[0-9]*A`).FindString(sh.raw()); m != "" {
				t.Errorf("a redraw began away from the start of a row: %q", m)
			}
			if t.Failed() || os.Getenv("SHOWRAW") != "" {
				t.Logf("screen:\n%s\nraw:\n%q", strings.Join(lines, "\n"), sh.raw())
			}
		})
	}
}

// Regression (#10): Ctrl-C during put in the shell said "a partial
// download stays as NAME.part; get -c resumes it". It says what happened
// to the upload, and put -c finishes it.
func TestCtrlCDuringShellPutSaysUpload(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateUp: 1 << 20}, "pw")
	e := newClientEnv(t)
	sh := startScreen(t, e, "ftp", "ftp://slow:pw@"+srv.Addr+"/")
	want := writeRandom(t, filepath.Join(sh.cmd.Dir, "up.bin"), 4<<20)
	sh.waitFor("wharf:/> ", 1)
	sh.typ("put up.bin\r")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if tmp, _ := filepath.Glob(filepath.Join(u.Home, ".*")); len(tmp) == 1 {
			waitForSize(t, tmp[0], 3<<19)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never started")
		}
	}
	sh.typ("\x03")
	sh.waitFor("interrupted: put: up.bin is partly uploaded", 1)
	sh.waitFor("wharf:/> ", 2)
	if txt := sh.text(); !strings.Contains(txt, "; put -c resumes it") || strings.Contains(txt, "get -c") || strings.Contains(txt, ".part") {
		t.Fatalf("screen:\n%s", txt)
	}
	sh.typ("put -c up.bin\r")
	sh.waitFor("verified SHA-256", 1)
	sh.typ("quit\r")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, sh.text())
	}
	if fileSum(t, filepath.Join(u.Home, "up.bin")) != sum(want) {
		t.Fatal("the resumed upload differs")
	}
}
