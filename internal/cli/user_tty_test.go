package cli_test

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/cli"
)

// runOnTerminal runs `wharf user ARGS...` with a pseudo-terminal as stdin,
// typing each answer after its prompt appears, and returns the exit code
// and what the command wrote to stderr (prompts included).
func runOnTerminal(t *testing.T, answers []string, args ...string) (int, string) {
	t.Helper()
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	stderr := &promptWatcher{buf: &errb, prompts: make(chan struct{}, 4)}
	go func() {
		done <- cli.Main(append([]string{"user"}, args...), &cli.Env{
			Stdin: tty, Stdout: &out, Stderr: stderr, Getenv: func(string) string { return "" },
		})
	}()
	go io.Copy(io.Discard, ptm) // drain whatever the terminal echoes
	for _, a := range answers {
		select {
		case <-stderr.prompts:
		case <-time.After(10 * time.Second):
			t.Fatalf("no password prompt; stderr so far %q", errb.String())
		}
		ptm.Write([]byte(a + "\r"))
	}
	select {
	case code := <-done:
		return code, stderr.String()
	case <-time.After(20 * time.Second):
		t.Fatal("command did not finish")
	}
	return 0, ""
}

// promptWatcher signals each password prompt written to stderr.
type promptWatcher struct {
	buf     *bytes.Buffer
	prompts chan struct{}
}

func (p *promptWatcher) Write(b []byte) (int, error) {
	n, err := p.buf.Write(b)
	if strings.Contains(string(b), "password: ") {
		p.prompts <- struct{}{}
	}
	return n, err
}

func (p *promptWatcher) String() string { return p.buf.String() }

func TestUserAddAsksPasswordTwiceOnTerminal(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, errs := runOnTerminal(t, []string{"tty-secret", "tty-secret"}, "add", "alice", "--data", data)
	if code != 0 {
		t.Fatalf("add on a terminal: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(errs, "New password: ") || !strings.Contains(errs, "Retype password: ") {
		t.Fatalf("prompts: %q", errs)
	}
	if strings.Contains(errs, "tty-secret") {
		t.Fatal("the password was echoed")
	}
	db, err := accounts.Open(context.Background(), data, accounts.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.Login(context.Background(), "alice", "tty-secret", accounts.LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatalf("login with the typed password: %v", err)
	}
	s.Close()

	code, errs = runOnTerminal(t, []string{"one", "two"}, "passwd", "alice", "--data", data)
	if code != cli.ExitUsage || !strings.Contains(errs, "do not match") {
		t.Fatalf("mismatched retype: exit %d, stderr %q", code, errs)
	}
}
