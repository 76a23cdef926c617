package cli

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/testenv"
)

// serveProcess runs `wharf serve` on a fixed address (so that a restart
// is the same server to the client) and returns, once it serves, a
// function that kills it and waits for it to be gone.
func serveProcess(t *testing.T, args ...string) (kill func()) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(exited) }() // the only Wait
	kill = func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(kill)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `msg="serving ftp"`) {
				select {
				case ready <- true:
				default:
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("wharf serve not ready")
	}
	return kill
}

// The server process is killed and started again while `wharf get -r`
// runs: the client reopens the connection with backoff, resumes the file
// that was cut and finishes the batch, exit 0, every file identical.
func TestGetRecursiveSurvivesAServerRestart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("pw\n", "user", "add", "slow", "--data", data, "--password-stdin", "--rate-down", "3MiB/s"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	want := map[string]string{}
	for _, n := range []string{"a.bin", "b.bin", "sub/c.bin"} {
		want[n] = sum(writeRandom(t, filepath.Join(data, "home", "slow", "tree", filepath.FromSlash(n)), 2<<20))
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	args := []string{"--data", data, "--listen", addr, "--passive-ports", testenv.PortRange(t, 20)}
	kill := serveProcess(t, args...)
	dst := t.TempDir()
	done := make(chan [3]string, 1)
	go func() {
		code, out, errs := e.run("", "get", "-r", "ftp://slow:pw@"+addr+"/tree", dst)
		done <- [3]string{strconv.Itoa(code), out, errs}
	}()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if fi, err := os.Stat(filepath.Join(dst, "tree", "b.bin.part")); err == nil && fi.Size() > 256<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the download never reached b.bin")
		}
	}
	kill()
	time.Sleep(700 * time.Millisecond) // down for a while: the first attempts fail
	serveProcess(t, args...)
	var r [3]string
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("get -r never finished after the restart")
	}
	if r[0] != "0" {
		t.Fatalf("get -r across a restart: exit %s\n%s%s", r[0], r[1], r[2])
	}
	for n, s := range want {
		if got := fileSum(t, filepath.Join(dst, "tree", filepath.FromSlash(n))); got != s {
			t.Errorf("%s differs", n)
		}
	}
	if _, files := treeBytes(t, dst); len(files) != 3 {
		t.Errorf("left behind: %v", files)
	}
	if !strings.Contains(r[2], "connection lost") || !strings.Contains(r[2], "reconnected") {
		t.Errorf("stderr does not say it reconnected:\n%s", r[2])
	}
	t.Logf("stderr:\n%s", r[2])
}

// The same for an upload batch: mirror -R goes on after the server was
// killed and started again mid-file, and the server ends up with every
// file, identical.
func TestMirrorUploadSurvivesAServerRestart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	if code, _, errs := e.run("pw\n", "user", "add", "slow", "--data", data, "--password-stdin", "--rate-up", "3MiB/s"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	src := t.TempDir()
	want := map[string]string{}
	for _, n := range []string{"a.bin", "b.bin", "sub/c.bin"} {
		want[n] = sum(writeRandom(t, filepath.Join(src, filepath.FromSlash(n)), 2<<20))
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	args := []string{"--data", data, "--listen", addr, "--passive-ports", testenv.PortRange(t, 20)}
	kill := serveProcess(t, args...)
	home := filepath.Join(data, "home", "slow")
	done := make(chan [3]string, 1)
	go func() {
		code, out, errs := e.run("", "mirror", "-R", src, "ftp://slow:pw@"+addr+"/up")
		done <- [3]string{strconv.Itoa(code), out, errs}
	}()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _ := treeBytes(t, home); n > 2<<20+256<<10 {
			break // a.bin is up, b.bin on its way
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never reached the second file")
		}
	}
	kill()
	time.Sleep(700 * time.Millisecond)
	serveProcess(t, args...)
	var r [3]string
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("mirror -R never finished after the restart")
	}
	if r[0] != "0" || !strings.Contains(r[2], "reconnected") {
		t.Fatalf("mirror -R across a restart: exit %s\n%s%s", r[0], r[1], r[2])
	}
	for n, s := range want {
		if got := fileSum(t, filepath.Join(home, "up", filepath.FromSlash(n))); got != s {
			t.Errorf("%s differs on the server", n)
		}
	}
}
