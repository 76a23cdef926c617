package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/testenv"
)

// The README opens with the two commands a newcomer runs first, exactly.
var readmeFirst = []string{"go run ./cmd/wharf share", "go test ./..."}

// Regression (issue 10): the README's first command, run in a clone of
// this repository, published .git and every dotfile to the network without
// a login. Run in a fresh clone (with a developer's .env added), `wharf
// share` lists and serves no dot name on either protocol; and the README's
// first two commands are still the ones this test means.
func TestReadmeFirstCommandInAFreshCloneSharesNothingPrivate(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(b), "```\n")
	lines := strings.SplitN(block, "\n", 3)
	for i, want := range readmeFirst {
		cmd, _, _ := strings.Cut(lines[i], "#")
		if got := strings.TrimSpace(cmd); got != want {
			t.Errorf("README command %d is %q, want %q", i+1, got, want)
		}
	}
	if !strings.Contains(string(b), "go install github.com/wharfftp/wharf/cmd/wharf@latest") && !strings.Contains(string(b), "go install\ngithub.com/wharfftp/wharf/cmd/wharf@latest") {
		t.Error("README does not give the go install alternative to the first slow go run")
	}

	git := testenv.Tool(t, "git")
	if _, err := os.Stat("../../.git"); err != nil {
		t.Skip("not a git checkout: nothing to clone")
	}
	clone := filepath.Join(t.TempDir(), "wharf")
	if out, err := exec.Command(git, "clone", "-q", "--depth", "1", "file://"+mustAbs(t, "../.."), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(clone, ".env"), []byte("API_KEY=secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var dots []string
	entries, _ := os.ReadDir(clone)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			dots = append(dots, e.Name())
		}
	}
	if len(dots) < 2 {
		t.Fatalf("the clone has dot names %v: the test would prove nothing", dots)
	}

	// `go run ./cmd/wharf share` is this binary run in the clone's folder;
	// loopback and free ports only so parallel runs cannot collide.
	var out syncBuffer
	cmd := exec.Command(binary(t), "share", "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0", "--no-qr")
	cmd.Dir, cmd.Stdout, cmd.Stderr = clone, &out, &out
	cmd.Env = newClientEnv(t).environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ftpRe, webRe := regexp.MustCompile(`FTP  (ftp://127\.0\.0\.1:\d+/)`), regexp.MustCompile(`Web  (http://127\.0\.0\.1:\d+/)`)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Press Ctrl-C to stop."); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("share printed no addresses:\n%s", out.String())
		}
	}
	banner := out.String()
	if !strings.Contains(banner, "hidden names left out") {
		t.Errorf("the banner does not say dot names are left out:\n%s", banner)
	}
	ftpURL, webURL := ftpRe.FindStringSubmatch(banner), webRe.FindStringSubmatch(banner)
	if ftpURL == nil || webURL == nil {
		t.Fatalf("no FTP and Web address in:\n%s", banner)
	}

	resp, err := http.Get(webURL[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "README.md") {
		t.Fatalf("the web page does not list the repository (%d)", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	target, err := client.ParseURL(ftpURL[1])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Connect(ctx, target, client.Options{TLS: client.TLSOff}, "anonymous", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(ctx)
	listed, err := c.NameList(ctx, "/")
	if err != nil || len(listed) == 0 {
		t.Fatalf("FTP NLST /: %v %v", listed, err)
	}
	for _, n := range listed {
		if strings.HasPrefix(path1(n), ".") {
			t.Errorf("FTP lists %s", n)
		}
	}
	for _, name := range append(dots, ".git/config", ".git/HEAD") {
		if strings.Contains(string(page), ">"+name+"<") || strings.Contains(string(page), `href="/`+name) {
			t.Errorf("the web page lists %s", name)
		}
		if r, err := http.Get(webURL[1] + name); err == nil {
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("GET /%s: %d %q, want 404", name, r.StatusCode, body)
			}
		}
		if _, err := c.Retr(ctx, "/"+name, 0, io.Discard); err == nil {
			t.Errorf("FTP RETR /%s succeeded", name)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// path1 is the last element of an NLST name (servers give names or paths).
func path1(n string) string { return filepath.Base(strings.TrimSuffix(n, "/")) }
