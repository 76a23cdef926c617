package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

// waitForSize waits until name holds more than n bytes.
func waitForSize(t *testing.T, name string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(name); err == nil && fi.Size() > n {
			return
		}
	}
	t.Fatalf("%s never grew past %d bytes", name, n)
}

// interrupt sends SIGINT, as Ctrl-C at a terminal does, and returns the
// exit code.
func interrupt(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// Regression: get and put stopped by Ctrl-C exited 1, like any failure;
// they exit 130 (128+SIGINT) as shells and curl do, and a download keeps
// its .part for get -c (TestKilledDownloadResumesMovingOnlyMissingBytes
// shows -c finishing one).
func TestCtrlCExitsWith130AndKeepsThePart(t *testing.T) {
	bin := binary(t)
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20, RateUp: 1 << 20}, "pw")
	want := writeRandom(t, filepath.Join(u.Home, "big.bin"), 3<<20)
	e := newClientEnv(t)
	base := "ftp://slow:pw@" + srv.Addr + "/"

	t.Run("get", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "big.bin")
		var stderr strings.Builder
		cmd := exec.Command(bin, "get", "-q", base+"big.bin", dst)
		cmd.Env, cmd.Stderr = e.environ(), &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForSize(t, dst+".part", 3<<19) // past the limiter's first-second burst
		if code := interrupt(t, cmd); code != ExitInterrupted {
			t.Fatalf("get after Ctrl-C exited %d, want %d; stderr:\n%s", code, ExitInterrupted, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
		}
		fi, err := os.Stat(dst + ".part")
		if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(want)) {
			t.Fatalf("after Ctrl-C: %v %v, want a partial .part", fi, err)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Fatal("the final name exists though the download was interrupted")
		}
	})

	t.Run("ftp script", func(t *testing.T) {
		dir := t.TempDir()
		var stderr strings.Builder
		cmd := exec.Command(bin, "ftp", "-q", base)
		cmd.Env, cmd.Dir, cmd.Stderr = e.environ(), dir, &stderr
		cmd.Stdin = strings.NewReader("get big.bin\n")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForSize(t, filepath.Join(dir, "big.bin.part"), 3<<19)
		if code := interrupt(t, cmd); code != ExitInterrupted {
			t.Fatalf("a script after Ctrl-C exited %d, want %d; stderr:\n%s", code, ExitInterrupted, stderr.String())
		}
	})

	t.Run("put", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "up.bin")
		writeRandom(t, src, 3<<20)
		var stderr strings.Builder
		cmd := exec.Command(bin, "put", "-q", src, base)
		cmd.Env, cmd.Stderr = e.environ(), &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The server receives into a temporary name, renamed at the end.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if tmp, _ := filepath.Glob(filepath.Join(u.Home, ".*")); len(tmp) == 1 {
				waitForSize(t, tmp[0], 3<<19)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the upload never started")
			}
		}
		if code := interrupt(t, cmd); code != ExitInterrupted {
			t.Fatalf("put after Ctrl-C exited %d, want %d; stderr:\n%s", code, ExitInterrupted, stderr.String())
		}
	})
}

// Ctrl-C at the password prompt ends the command at once with 130: the
// prompt must not swallow it and wait for a line.
func TestCtrlCAtPasswordPromptExits130(t *testing.T) {
	srv, _, _ := startServer(t, false)
	sh := startScreen(t, newClientEnv(t), "ls", "ftp://alice@"+srv.Addr+"/")
	sh.waitFor("Password for alice@127.0.0.1: ", 1)
	sh.typ("\x03")
	if code := sh.exit(); code != ExitInterrupted {
		t.Fatalf("exit %d, want %d; screen:\n%s", code, ExitInterrupted, sh.text())
	}
}
