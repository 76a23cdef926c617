package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

// A mirror killed with SIGKILL in the middle of a file, run again, finishes
// the copy moving only the missing bytes (the .part is resumed), and a
// third run moves nothing.
func TestMirrorKilledAndRerunFinishes(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 2 << 20, RateUp: 2 << 20}, "pw")
	want := map[string]string{}
	var total int64
	for name, size := range map[string]int{"a.bin": 1536 << 10, "b.bin": 2 << 20, "sub/c.bin": 1536 << 10, "sub/d.txt": 10} {
		want[name] = sum(writeRandom(t, filepath.Join(u.Home, "site", filepath.FromSlash(name)), size))
		total += int64(size)
	}
	e := newClientEnv(t)
	dst := filepath.Join(t.TempDir(), "copy")
	url := "ftp://slow:pw@" + srv.Addr + "/site"
	killWhen(t, e, func() bool {
		n, files := treeBytes(t, dst)
		part := false
		for name, size := range files {
			part = part || strings.HasSuffix(name, ".part") && size > 256<<10
		}
		return part && n > 1<<20 && n < total
	}, "mirror", "-q", url, dst)
	have, files := treeBytes(t, dst)
	t.Logf("killed with %d of %d bytes in place: %v", have, total, files)
	waitAborted(t, ev, false)

	before := len(ev.transfers())
	code, out, errs := e.run("", "mirror", url, dst)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errs)
	}
	_, files = treeBytes(t, dst)
	if len(files) != len(want) {
		t.Errorf("after the rerun the copy holds %v, want exactly %d files (no .part)", files, len(want))
	}
	for name, s := range want {
		if got := fileSum(t, filepath.Join(dst, filepath.FromSlash(name))); got != s {
			t.Errorf("%s differs from the server's", name)
		}
	}
	waitMoved(t, ev, before, false, total-have)
	if !strings.Contains(out, "mirror: ") || !strings.Contains(out, "0 deleted") {
		t.Errorf("no summary line:\n%s", out)
	}

	before = len(ev.transfers())
	code, out, errs = e.run("", "mirror", "--delete", url, dst)
	if code != 0 || !strings.Contains(out, "mirror: 0 new, 0 changed, 0 deleted, 4 skipped; 0B moved") {
		t.Errorf("third run: exit %d, want everything skipped:\n%s%s", code, out, errs)
	}
	if m := movedSince(ev, before, false); m != 0 {
		t.Errorf("third run moved %d bytes", m)
	}

	// The other way: a killed mirror -R continues the file the server kept.
	up := filepath.Join(u.Home, "up")
	url = "ftp://slow:pw@" + srv.Addr + "/up"
	killWhen(t, e, func() bool {
		n, _ := treeBytes(t, up)
		return n > 2<<20 && n < total-(1<<20)
	}, "mirror", "-R", "-q", dst, url)
	waitAborted(t, ev, true)
	have, _ = treeBytes(t, up)
	before = len(ev.transfers())
	if code, out, errs := e.run("", "mirror", "-R", "--delete", dst, url); code != 0 {
		t.Fatalf("rerun of -R: exit %d\n%s%s", code, out, errs)
	}
	for name, s := range want {
		if got := fileSum(t, filepath.Join(up, filepath.FromSlash(name))); got != s {
			t.Errorf("%s on the server differs from the local file", name)
		}
	}
	waitMoved(t, ev, before, true, total-have)
}

func TestMirrorDryRunAndUsage(t *testing.T) {
	srv, home, _ := startServer(t, false)
	writeRandom(t, filepath.Join(home, "site", "a.txt"), 100)
	e := newClientEnv(t)
	dst := filepath.Join(t.TempDir(), "copy")
	url := "ftp://alice:secret@" + srv.Addr + "/site"
	code, out, errs := e.run("", "mirror", "--dry-run", url, dst)
	if code != 0 || !strings.Contains(out, "new      a.txt  100B") || !strings.Contains(out, "dry run: would be 1 new") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("--dry-run created the destination")
	}
	for _, args := range [][]string{
		{"mirror", url},
		{"mirror", dst, url},            // the address must come first without -R
		{"mirror", "-R", url, dst},      // and second with it
		{"mirror", "-P", "0", url, dst}, // out of range
		{"mirror", "--exclude", "[", url, dst},
		{"mirror", "--frobnicate", url, dst},
	} {
		if code, _, errs := e.run("", args...); code != ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", args, code, errs)
		}
	}
	if code, _, errs := e.run("", "mirror", url+"/missing", dst); code != ExitNotFound {
		t.Errorf("missing source: exit %d %s", code, errs)
	}
}

// Ctrl-C during a mirror exits 130 with one sentence that names the kept
// part and says how to go on: mirror has no -c, running it again resumes.
func TestMirrorCtrlCSaysRunItAgain(t *testing.T) {
	srv, _, _ := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20}, "pw")
	writeRandom(t, filepath.Join(u.Home, "site", "big.bin"), 3<<20)
	e := newClientEnv(t)
	dst := filepath.Join(t.TempDir(), "copy")
	var stderr strings.Builder
	cmd := exec.Command(binary(t), "mirror", "-q", "ftp://slow:pw@"+srv.Addr+"/site", dst)
	cmd.Env, cmd.Stderr = e.environ(), &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForSize(t, filepath.Join(dst, "big.bin.part"), 3<<19)
	t0 := time.Now()
	defer func() { t.Logf("stopped %v after Ctrl-C", time.Since(t0)) }()
	if code := interrupt(t, cmd); code != ExitInterrupted {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, stderr.String())
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "big.bin is partly downloaded") || !strings.HasSuffix(msg, "the same mirror command resumes it") {
		t.Errorf("stderr after Ctrl-C: %q", msg)
	}
}

// A bookmark saved in the shell names the server on the command line:
// NAME and NAME/path; without -p the password is asked for elsewhere
// (here WHARF_PASSWORD).
func TestBookmarkNamesTheServerOnTheCommandLine(t *testing.T) {
	srv, home, _ := startServer(t, false)
	os.MkdirAll(filepath.Join(home, "docs"), 0o755)
	writeRandom(t, filepath.Join(home, "docs", "a.txt"), 10)
	e := newClientEnv(t)
	url := "ftp://alice:secret@" + srv.Addr + "/"
	if code, _, errs := e.run("cd docs\nbookmark add docs\n", "ftp", url); code != 0 {
		t.Fatalf("bookmark add: %d %s", code, errs)
	}
	e.vars["WHARF_PASSWORD"] = "secret"
	if code, out, errs := e.run("", "ls", "docs"); code != 0 || out != "a.txt\n" {
		t.Fatalf("ls docs (a bookmark): %d %q %s", code, out, errs)
	}
	dst := t.TempDir()
	if code, _, errs := e.run("", "get", "docs/a.txt", dst); code != 0 {
		t.Fatalf("get docs/a.txt: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dst, "a.txt")); err != nil {
		t.Fatal(err)
	}
	delete(e.vars, "WHARF_PASSWORD")
	if code, _, errs := e.run("", "ls", "docs"); code != ExitLogin {
		t.Errorf("without -p the bookmark holds no password: exit %d %s", code, errs)
	}
}
