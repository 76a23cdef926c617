package vfs_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/vfstest"
)

func TestLocalConformance(t *testing.T) {
	l, err := vfs.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	vfstest.Run(t, l)
}

func TestResolve(t *testing.T) {
	cases := []struct{ cwd, p, abs, name string }{
		{"/", "a", "/a", "a"},
		{"/", "", "/", "."},
		{"/d", "..", "/", "."},
		{"/d", "../../..", "/", "."},
		{"/d", "/x/./y/", "/x/y", "x/y"},
		{"/d", "e//f", "/d/e/f", "d/e/f"},
		{"/", "../../etc/passwd", "/etc/passwd", "etc/passwd"},
	}
	for _, c := range cases {
		abs, name, err := vfs.Resolve(c.cwd, c.p)
		if err != nil || abs != c.abs || name != c.name {
			t.Errorf("Resolve(%q, %q) = %q %q %v; want %q %q", c.cwd, c.p, abs, name, err, c.abs, c.name)
		}
	}
	for _, bad := range []string{"a\x00b", "a\rb", "a\nb", "\xff", strings.Repeat("a", vfs.MaxPathLen+1)} {
		if _, _, err := vfs.Resolve("/", bad); err != vfs.ErrBadPath {
			t.Errorf("Resolve(%q): %v, want ErrBadPath", bad, err)
		}
	}
}

// escapeFixture is a root with symlinks pointing out of it, next to a
// directory holding a secret.
func escapeFixture(t testing.TB) (root, outside string) {
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	os.MkdirAll(filepath.Join(root, "in"), 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	os.WriteFile(filepath.Join(root, "in", "ok"), []byte("ok"), 0o644)
	os.Symlink("../outside", filepath.Join(root, "up"))
	os.Symlink(outside, filepath.Join(root, "abs"))
	os.Symlink("/etc", filepath.Join(root, "etc"))
	os.Symlink("../../outside/secret", filepath.Join(root, "in", "deep"))
	return root, outside
}

// FuzzResolveNeverEscapes resolves arbitrary client paths and opens,
// stats and creates them through a Local FS whose root holds symlinks
// pointing outside: nothing outside the root may ever be reached.
func FuzzResolveNeverEscapes(f *testing.F) {
	for _, s := range []string{"..", "../outside/secret", "/up/secret", "abs/secret", "etc/passwd", "in/deep", "in/../../outside/secret", "up/../up/secret", "in/ok", "./abs/../up/x", "%2e%2e/secret", "..\\..\\secret"} {
		f.Add("/", s)
		f.Add("/in", s)
	}
	root, outside := escapeFixture(f)
	l, err := vfs.OpenLocal(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	ctx := context.Background()
	realRoot, _ := filepath.EvalSymlinks(root)
	f.Fuzz(func(t *testing.T, cwd, p string) {
		if !strings.HasPrefix(cwd, "/") {
			cwd = "/" + cwd
		}
		abs, name, err := vfs.Resolve(cwd, p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(abs, "/") || strings.Contains("/"+name+"/", "/../") || filepath.IsAbs(name) {
			t.Fatalf("Resolve(%q, %q) = %q %q", cwd, p, abs, name)
		}
		if fi, err := l.Open(ctx, name); err == nil {
			checkInside(t, fi.(*os.File), realRoot)
			fi.Close()
		}
		if fi, err := l.OpenFile(ctx, name, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
			checkInside(t, fi.(*os.File), realRoot)
			fi.Close()
			l.Remove(ctx, name)
		}
		// An upload's temporary file takes the openat2 path (beneath.go).
		if u, err := l.Create(ctx, name, vfs.CreateOptions{}); err == nil {
			checkInside(t, u.(interface{ OSFile() *os.File }).OSFile(), realRoot)
			u.Abandon(ctx)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("%q created a file outside the root: %v", p, ents)
		}
	})
}

// checkInside asks the kernel where an open file really is.
func checkInside(t *testing.T, f *os.File, realRoot string) {
	t.Helper()
	target, err := os.Readlink("/proc/self/fd/" + itoa(int(f.Fd())))
	if err != nil {
		t.Skip("no /proc")
	}
	if target != realRoot && !strings.HasPrefix(target, realRoot+"/") {
		t.Fatalf("opened %s, outside the root %s", target, realRoot)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		vfs.Resolve("/some/work/dir", "../other/./file name.bin")
	}
}

func TestRenameNoReplaceNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	l, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	os.WriteFile(filepath.Join(dir, "a"), []byte("new"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("old"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := l.RenameNoReplace(ctx, "a", "b"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto an existing file = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != "old" {
		t.Fatalf("target replaced: %q", b)
	}
	if err := l.RenameNoReplace(ctx, "a", "sub/c"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub", "c")); string(b) != "new" {
		t.Fatalf("moved file holds %q", b)
	}
	// A link out of the root is not a way out for the new name's folder.
	os.Symlink(t.TempDir(), filepath.Join(dir, "out"))
	if err := l.RenameNoReplace(ctx, "b", "out/b"); err == nil {
		t.Fatal("renamed through a symlink leaving the root")
	}
}

// TestLstatInSubfolderAgreesWithRoot: Local.Lstat's openat2 path for names
// in subfolders answers as os.Root does, links that leave the root
// included.
func TestLstatInSubfolderAgreesWithRoot(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "d", "e"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d", "f"), []byte("abc"), 0o644))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644))
	must(os.Symlink("f", filepath.Join(dir, "d", "link")))
	must(os.Symlink(outside, filepath.Join(dir, "d", "out")))
	must(os.Symlink("e", filepath.Join(dir, "d", "in")))
	must(os.Symlink("../../..", filepath.Join(dir, "d", "up")))
	l, err := vfs.OpenLocal(dir)
	must(err)
	defer l.Close()
	r, err := os.OpenRoot(dir)
	must(err)
	defer r.Close()
	for _, name := range []string{"d/f", "d/missing", "d/e", "d/link", "d/out", "d/out/secret", "d/in/x",
		"d/up/etc", "d/f/x", "nodir/x", "d/e/../f", "d//f", "d"} {
		fi, err := l.Lstat(context.Background(), name)
		want, werr := r.Lstat(name)
		if (err == nil) != (werr == nil) || errors.Is(err, fs.ErrNotExist) != errors.Is(werr, fs.ErrNotExist) {
			t.Errorf("Lstat(%q): %v; os.Root: %v", name, err, werr)
			continue
		}
		if err != nil {
			continue
		}
		if fi.Name() != want.Name() || fi.Mode() != want.Mode() || fi.Size() != want.Size() || !os.SameFile(fi, want) {
			t.Errorf("Lstat(%q) = %s %v %d; os.Root: %s %v %d", name, fi.Name(), fi.Mode(), fi.Size(), want.Name(), want.Mode(), want.Size())
		}
	}
}
