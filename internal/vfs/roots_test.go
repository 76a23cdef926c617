package vfs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/vfstest"
)

func TestRootsConformance(t *testing.T) {
	var r vfs.Roots
	fsys, err := r.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	vfstest.RunStorage(t, fsys)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestRootsShareOneLocalPerFolderAndCloseWithTheLastUser(t *testing.T) {
	dir := t.TempDir()
	var r vfs.Roots
	before := openFDs(t)
	var open []vfs.Storage
	for range 100 {
		f, err := r.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, f)
	}
	// One folder's Local holds two: its os.Root and the folder's own
	// descriptor for openat2 (beneath.go); never more with more users.
	if n := openFDs(t) - before; n != 2 {
		t.Fatalf("100 opens of one folder hold %d descriptors, want 2", n)
	}
	open[0].Close()
	open[0].Close() // a second Close must not release another handle's share
	for _, f := range open[1:99] {
		f.Close()
	}
	if _, err := open[99].Stat(context.Background(), "."); err != nil {
		t.Fatalf("the last user's FS was closed under it: %v", err)
	}
	open[99].Close()
	if n := openFDs(t) - before; n != 0 {
		t.Fatalf("%d descriptors left after every user closed", n)
	}
}

func TestRootsNoticeAFolderReplacedOnDisk(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "home")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "old"), nil, 0o644)
	var r vfs.Roots
	first, err := r.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	os.Rename(dir, filepath.Join(base, "moved"))
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "new"), nil, 0o644)
	second, err := r.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	ctx := context.Background()
	if _, err := second.Stat(ctx, "new"); err != nil {
		t.Fatalf("an Open after the folder was replaced does not see the new folder: %v", err)
	}
	if _, err := first.Stat(ctx, "old"); err != nil {
		t.Fatalf("an FS opened before keeps its folder: %v", err)
	}
	if _, err := r.Open(filepath.Join(base, "missing")); err == nil {
		t.Fatal("Open of a missing folder succeeded")
	}
}
