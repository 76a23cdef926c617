package cli

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// startWithClosingPipes runs the wharf binary with stdout and stderr on one
// pipe, reads it until ready matches a line, then closes the pipe's read
// end, as `wharf serve | tee log` leaves it once Ctrl-C has ended tee. It
// returns the submatches of ready and the process.
func startWithClosingPipes(t *testing.T, ready *regexp.Regexp, args ...string) ([]string, *exec.Cmd) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	found := scanLines(r, ready, nil)
	select {
	case m, ok := <-found:
		if !ok {
			t.Fatalf("wharf %s ended before it was ready", strings.Join(args, " "))
		}
		r.Close() // the log reader is gone
		return m, cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("wharf %s not ready", strings.Join(args, " "))
	}
	return nil, nil
}

// stopsCleanly sends SIGINT and wants exit 0, not death by SIGPIPE.
func stopsCleanly(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after its log pipe closed and Ctrl-C, wharf ended with %v (want exit 0, a graceful shutdown)", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("wharf did not stop after SIGINT")
	}
}

// Regression (issue 10): `wharf serve ... | tee log`, then Ctrl-C: tee
// ended first and the server died of SIGPIPE at its next log line instead
// of shutting down. A closed log pipe must not kill serve or share, before
// or during the shutdown.
func TestServeAndShareSurviveAClosedLogPipe(t *testing.T) {
	t.Run("serve", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		e := newClientEnv(t)
		if code, _, errs := e.run("pw\n", "user", "add", "alice", "--data", data, "--password-stdin"); code != 0 {
			t.Fatalf("user add: %d %s", code, errs)
		}
		m, cmd := startWithClosingPipes(t, regexp.MustCompile(`msg="serving ftp" listen=(\S+)`),
			"serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "debug")
		// Sessions log; every line now hits the broken pipe.
		for range 2 {
			c, err := ftp.Dial(m[1], ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatalf("serve died with its log pipe: %v", err)
			}
			if err := c.Login("alice", "pw"); err != nil {
				t.Fatal(err)
			}
			c.Quit()
		}
		stopsCleanly(t, cmd)
	})
	t.Run("share", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "f.txt"), []byte("hi"), 0o644)
		m, cmd := startWithClosingPipes(t, regexp.MustCompile(`^  Web  (http://\S+/)$`),
			"share", dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr")
		time.Sleep(100 * time.Millisecond) // the banner's last lines went to the pipe before it closed
		for range 2 {
			resp, err := http.Get(m[1] + "f.txt") // an event line per request
			if err != nil {
				t.Fatalf("share died with its output pipe: %v", err)
			}
			resp.Body.Close()
		}
		stopsCleanly(t, cmd)
	})
}
