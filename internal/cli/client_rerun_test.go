package cli

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

// treeBytes sums the regular files under dir and lists the .part files.
func treeBytes(t *testing.T, dir string) (total int64, files map[string]int64) {
	t.Helper()
	files = map[string]int64{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = fi.Size()
			total += fi.Size()
		}
		return nil
	})
	return total, files
}

// killWhen starts wharf and SIGKILLs it once ready says so.
func killWhen(t *testing.T, e *clientEnv, ready func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = e.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); !ready(); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("%v finished (%v) before it could be killed", args, err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%v: never reached the point to kill it", args)
		}
	}
	cmd.Process.Kill()
	<-done
}

// movedSince sums the bytes of file transfers the server finished after the
// first n events.
func movedSince(ev *events, n int, upload bool) int64 {
	var moved int64
	for _, x := range ev.transfers()[n:] {
		if !x.Listing && x.Upload == upload {
			moved += x.Bytes
		}
	}
	return moved
}

// Regression (issue 4): a killed "get -r URL/dir g3" rerun with -c went
// to g3/dir (g3 existed by then) while the first run had written into g3:
// an orphan .part, a second copy and every byte moved again. Now the rule
// (rsync's) does not depend on what exists, so the rerun finishes the same
// copy: identical SHA-256 everywhere, no .part, no nesting, and only the
// missing bytes cross the network (counted by the server).
func TestRerunOfKilledRecursiveGetResumesInPlace(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 2 << 20}, "pw")
	want := map[string]string{}
	var total int64
	for name, size := range map[string]int{"a.bin": 1536 << 10, "b.bin": 2 << 20, "sub/c.bin": 1536 << 10, "sub/d.txt": 10} {
		want["dir/"+name] = sum(writeRandom(t, filepath.Join(u.Home, "dir", filepath.FromSlash(name)), size))
		total += int64(size)
	}
	e := newClientEnv(t)
	g3 := filepath.Join(t.TempDir(), "g3") // missing: the first run creates it
	url := "ftp://slow:pw@" + srv.Addr + "/dir"

	killWhen(t, e, func() bool {
		n, files := treeBytes(t, g3)
		complete, part := false, false
		for name, size := range files {
			complete = complete || !strings.HasSuffix(name, ".part") && size > 1<<20
			part = part || strings.HasSuffix(name, ".part") && size > 256<<10
		}
		return complete && part && n < total
	}, "get", "-r", "-q", url, g3)
	have, files := treeBytes(t, g3)
	t.Logf("killed with %d of %d bytes in place: %v", have, total, files)
	waitAborted(t, ev, false)

	before := len(ev.transfers())
	code, out, errs := e.run("", "get", "-r", "-c", url, g3)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errs)
	}
	_, files = treeBytes(t, g3)
	if len(files) != len(want) {
		t.Errorf("after the rerun g3 holds %v, want exactly %d files under g3/dir (no .part, no nested copy)", files, len(want))
	}
	for name, s := range want {
		if got := fileSum(t, filepath.Join(g3, filepath.FromSlash(name))); got != s {
			t.Errorf("%s differs from the server's", name)
		}
	}
	waitMoved(t, ev, before, false, total-have)

	// A third run of the same command finds everything identical.
	before = len(ev.transfers())
	if code, out, errs := e.run("", "get", "-r", url, g3); code != 0 || strings.Count(out, "skipped, identical") != len(want) {
		t.Errorf("third run: exit %d, want all %d skipped:\n%s%s", code, len(want), out, errs)
	}
	if m := movedSince(ev, before, false); m != 0 {
		t.Errorf("third run moved %d bytes", m)
	}
}

// waitAborted waits for the server to report the transfer the kill cut
// short, so that its bytes are not counted as the rerun's.
func waitAborted(t *testing.T, ev *events, upload bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, x := range ev.transfers() {
			if !x.Listing && x.Upload == upload && x.Err != nil {
				return
			}
		}
	}
	t.Fatal("the server never reported the killed transfer")
}

// waitMoved waits for the server to have counted want bytes in transfers
// after the first n events (its events arrive just after the replies).
func waitMoved(t *testing.T, ev *events, n int, upload bool, want int64) {
	t.Helper()
	var moved int64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if moved = movedSince(ev, n, upload); moved >= want {
			break
		}
	}
	if moved != want {
		t.Errorf("the rerun moved %d bytes, want only the missing %d", moved, want)
	}
}

// Regression (issue 4): "put -r tree URL/tree" twice made /tree/tree. The
// same command now always targets URL/tree/tree (rsync's rule: the folder
// is copied into the address), and a killed upload finished with -c moves
// only the missing bytes.
func TestRerunOfKilledRecursivePutResumesInPlace(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateUp: 2 << 20}, "pw")
	src := filepath.Join(t.TempDir(), "tree")
	want := map[string]string{}
	var total int64
	for name, size := range map[string]int{"a.bin": 1536 << 10, "b.bin": 2 << 20, "sub/c.bin": 1536 << 10, "sub/d.txt": 10} {
		want["tree/"+name] = sum(writeRandom(t, filepath.Join(src, filepath.FromSlash(name)), size))
		total += int64(size)
	}
	e := newClientEnv(t)
	url := "ftp://slow:pw@" + srv.Addr + "/up"
	up := filepath.Join(u.Home, "up")

	killWhen(t, e, func() bool {
		n, _ := treeBytes(t, up)
		return n > 2<<20 && n < total-(1<<20)
	}, "put", "-r", "-q", src, url)
	// The server notices the cut connection and reports the transfer once
	// it wrote what arrived: only then is what it holds final.
	waitAborted(t, ev, true)
	have, files := treeBytes(t, up)
	t.Logf("killed with %d of %d bytes on the server: %v", have, total, files)

	before := len(ev.transfers())
	code, out, errs := e.run("", "put", "-r", "-c", src, url)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errs)
	}
	_, files = treeBytes(t, up)
	if len(files) != len(want) {
		t.Errorf("after the rerun /up holds %v, want exactly %d files under /up/tree", files, len(want))
	}
	for name, s := range want {
		if got := fileSum(t, filepath.Join(up, filepath.FromSlash(name))); got != s {
			t.Errorf("%s differs from the local file", name)
		}
	}
	waitMoved(t, ev, before, true, total-have)
}
