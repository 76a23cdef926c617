package client

import (
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// tree reads every regular file under dir: relative path -> SHA-256 of
// its bytes, and the folders (ending in "/").
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = sha(b)
		return nil
	})
	return out
}

func write(t *testing.T, name string, size int, mtime time.Time) {
	t.Helper()
	os.MkdirAll(filepath.Dir(name), 0o755)
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		os.Chtimes(name, mtime, mtime)
	}
}

// sourceTree fills dir with a tree of files and folders, times in the past
// so that "newer" means something.
func sourceTree(t *testing.T, dir string) {
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	write(t, filepath.Join(dir, "a.bin"), 200_000, old)
	write(t, filepath.Join(dir, "same-size.txt"), 1000, old)
	write(t, filepath.Join(dir, "sub", "b.bin"), 70_000, old)
	write(t, filepath.Join(dir, "sub", "deeper", "c.txt"), 10, old)
	write(t, filepath.Join(dir, "sub", "skip.tmp"), 10, old)
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
}

// staleCopy makes dst an outdated copy of src: one file missing, one with
// other bytes of the same size and another time, one extra file and one
// extra folder.
func staleCopy(t *testing.T, src, dst string) {
	os.CopyFS(dst, os.DirFS(src))
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(src, p)
			os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime())
		}
		return nil
	})
	os.Remove(filepath.Join(dst, "sub", "b.bin"))
	write(t, filepath.Join(dst, "same-size.txt"), 1000, time.Now().Add(-72*time.Hour))
	write(t, filepath.Join(dst, "extra.txt"), 5, time.Time{})
	write(t, filepath.Join(dst, "gone", "x.txt"), 5, time.Time{})
	os.Remove(filepath.Join(dst, "sub", "skip.tmp"))
}

func without(m map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

func counts(s MirrorSummary) [4]int { return [4]int{s.New, s.Changed, s.Deleted, s.Skipped} }

// mirrorBothWays runs the mirror tests against one server whose files
// live in home: remote to local and back with --delete, each followed by
// a rerun that must move nothing.
func mirrorBothWays(t *testing.T, c *Conn, home string, dial func(context.Context) (*Conn, error)) {
	ctx := context.Background()
	remote := filepath.Join(home, "site")
	sourceTree(t, remote)
	local := filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(local, 0o755)
	staleCopy(t, remote, local)
	before := tree(t, local)

	o := MirrorOptions{Delete: true, Exclude: []string{"*.tmp"}, Parallel: 2, Dial: dial}
	dry := o
	dry.DryRun = true
	sum, err := Mirror(ctx, c, "site", local, dry)
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, local); !reflect.DeepEqual(got, before) {
		t.Fatalf("--dry-run changed the destination:\nbefore %v\nafter  %v", before, got)
	}
	if counts(sum) != [4]int{1, 1, 2, 2} {
		t.Errorf("dry run planned %v (new, changed, deleted, skipped), want [1 1 2 2]: %+v", counts(sum), sum.Plan)
	}

	sum, err = Mirror(ctx, c, "site", local, o)
	if err != nil {
		t.Fatal(err)
	}
	want := without(tree(t, remote), "sub/skip.tmp")
	if got := tree(t, local); !reflect.DeepEqual(got, want) {
		t.Fatalf("after mirror --delete the copy differs:\ngot  %v\nwant %v", got, want)
	}
	if counts(sum) != [4]int{1, 1, 2, 2} || sum.Bytes != 70_000+1000 {
		t.Errorf("mirror did %v and moved %d bytes, want [1 1 2 2] and %d", counts(sum), sum.Bytes, 70_000+1000)
	}
	fi, _ := os.Stat(filepath.Join(local, "sub", "b.bin"))
	ri, _ := os.Stat(filepath.Join(remote, "sub", "b.bin"))
	if !fi.ModTime().Truncate(time.Second).Equal(ri.ModTime().Truncate(time.Second)) {
		t.Errorf("local time %v, want the server's %v", fi.ModTime(), ri.ModTime())
	}
	sum, err = Mirror(ctx, c, "site", local, o)
	if err != nil || sum.Bytes != 0 || sum.New+sum.Changed+sum.Deleted != 0 {
		t.Fatalf("rerun moved %d bytes, did %v (%v): %+v", sum.Bytes, counts(sum), err, sum.Plan)
	}

	// The other way: local changes go up, with --delete.
	write(t, filepath.Join(local, "new-up.bin"), 50_000, time.Now().Add(-time.Hour))
	write(t, filepath.Join(local, "a.bin"), 100_000, time.Now().Add(-time.Hour))
	os.RemoveAll(filepath.Join(local, "sub"))
	o.Reverse = true
	sum, err = Mirror(ctx, c, local, "site", o)
	if err != nil {
		t.Fatal(err)
	}
	want = tree(t, local)
	want["sub/"] = "" // excluded at the source: its skip.tmp is left alone, so is the folder
	want["sub/skip.tmp"] = tree(t, remote)["sub/skip.tmp"]
	if got := tree(t, remote); !reflect.DeepEqual(got, want) {
		t.Fatalf("after mirror -R --delete the server differs:\ngot  %v\nwant %v", got, want)
	}
	if sum.New != 1 || sum.Changed != 1 || sum.Bytes != 150_000 {
		t.Errorf("mirror -R did %v, moved %d bytes; want 1 new, 1 changed, 150000 bytes: %+v", counts(sum), sum.Bytes, sum.Plan)
	}
	fi, _ = os.Stat(filepath.Join(local, "new-up.bin"))
	ri, _ = os.Stat(filepath.Join(remote, "new-up.bin"))
	if !fi.ModTime().Truncate(time.Second).Equal(ri.ModTime().Truncate(time.Second)) {
		t.Errorf("server time %v, want the local file's %v (MFMT)", ri.ModTime(), fi.ModTime())
	}
	sum, err = Mirror(ctx, c, local, "site", o)
	if err != nil || sum.Bytes != 0 || sum.New+sum.Changed+sum.Deleted != 0 {
		t.Fatalf("rerun of -R moved %d bytes, did %v (%v): %+v", sum.Bytes, counts(sum), err, sum.Plan)
	}
}

func TestMirrorBothWaysWithDeleteAgainstWharf(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	mirrorBothWays(t, c, home, func(ctx context.Context) (*Conn, error) {
		return Connect(ctx, tg, Options{}, tg.User, tg.Password)
	})
}

func TestMirrorBothWaysWithDeleteAgainstPyftpdlib(t *testing.T) {
	home := t.TempDir()
	tg := pyftpd(t, home)
	c := login(t, tg, Options{})
	mirrorBothWays(t, c, home, func(ctx context.Context) (*Conn, error) {
		return Connect(ctx, tg, Options{}, tg.User, tg.Password)
	})
}

func TestMirrorOnlyNewerAndChecksum(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	write(t, filepath.Join(home, "d", "older.txt"), 100, old)
	write(t, filepath.Join(home, "d", "newer.txt"), 100, time.Now().Add(-time.Hour))
	local := t.TempDir()
	write(t, filepath.Join(local, "older.txt"), 100, time.Now().Add(-2*time.Hour)) // newer here
	write(t, filepath.Join(local, "newer.txt"), 100, old)
	sum, err := Mirror(ctx, c, "d", local, MirrorOptions{OnlyNewer: true})
	if err != nil || sum.Changed != 1 || sum.Skipped != 1 {
		t.Fatalf("--only-newer: %v %v: %+v", counts(sum), err, sum.Plan)
	}
	if tree(t, local)["older.txt"] == tree(t, filepath.Join(home, "d"))["older.txt"] {
		t.Error("--only-newer replaced a file that is newer here")
	}
	// Same size, same time, other bytes: only --checksum sees it.
	tm := time.Now().Add(-5 * time.Hour)
	os.Chtimes(filepath.Join(local, "older.txt"), tm, tm)
	os.Chtimes(filepath.Join(home, "d", "older.txt"), tm, tm)
	if sum, _ := Mirror(ctx, c, "d", local, MirrorOptions{DryRun: true}); sum.Changed != 0 {
		t.Fatalf("by time the files are the same; plan: %+v", sum.Plan)
	}
	sum, err = Mirror(ctx, c, "d", local, MirrorOptions{Checksum: true})
	if err != nil || sum.Changed != 1 || sum.Plan[1].Why != "SHA-256 differs" {
		t.Fatalf("--checksum: %v %v: %+v", counts(sum), err, sum.Plan)
	}
	if got, want := tree(t, local), tree(t, filepath.Join(home, "d")); !reflect.DeepEqual(got, want) {
		t.Fatal("--checksum left a difference")
	}
}

func TestMirrorRefusesAFileAsTheFolder(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	write(t, filepath.Join(home, "f"), 10, time.Time{})
	if _, err := Mirror(context.Background(), c, "f", t.TempDir(), MirrorOptions{}); err == nil {
		t.Fatal("mirroring a file as a folder succeeded")
	}
	if _, err := Mirror(context.Background(), c, "missing", t.TempDir(), MirrorOptions{}); err == nil {
		t.Fatal("mirroring a missing folder succeeded")
	}
}

// lftp's mirror is the reference: the same remote tree mirrored by lftp
// and by Mirror gives the same files, bytes and times.
func TestMirrorMatchesLftp(t *testing.T) {
	lftp := testenv.Tool(t, "lftp")
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	sourceTree(t, filepath.Join(home, "site"))
	ours, theirs := filepath.Join(t.TempDir(), "ours"), filepath.Join(t.TempDir(), "theirs")
	if _, err := Mirror(context.Background(), c, "site", ours, MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	script := "set ftp:ssl-allow no; set net:max-retries 1; mirror site " + theirs + "; quit"
	out, err := exec.Command(lftp, "-u", "alice,secret", "-p", tg.Port, "-e", script, tg.Host).CombinedOutput()
	if err != nil {
		t.Fatalf("lftp mirror: %v\n%s", err, out)
	}
	if a, b := tree(t, ours), tree(t, theirs); !reflect.DeepEqual(a, b) {
		t.Fatalf("our mirror and lftp's differ:\nours   %v\nlftp's %v", a, b)
	}
	filepath.WalkDir(theirs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(theirs, p)
		a, _ := os.Stat(filepath.Join(ours, rel))
		b, _ := d.Info()
		if !a.ModTime().Truncate(time.Second).Equal(b.ModTime().Truncate(time.Second)) {
			t.Errorf("%s: our time %v, lftp's %v", rel, a.ModTime(), b.ModTime())
		}
		return nil
	})
	// And lftp, run again over our copy, finds nothing to do.
	script = "set ftp:ssl-allow no; mirror --dry-run site " + ours + "; quit"
	out, err = exec.Command(lftp, "-u", "alice,secret", "-p", tg.Port, "-e", script, tg.Host).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("lftp would still change our copy: %v\n%s", err, out)
	}
}
