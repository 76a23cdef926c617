package vfs_test

import (
	"testing"

	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/vfstest"
)

func TestLocalStorageConformance(t *testing.T) {
	l, err := vfs.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	vfstest.RunStorage(t, l)
}

func TestRootsStorageConformance(t *testing.T) {
	var r vfs.Roots
	fsys, err := r.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	vfstest.RunStorage(t, fsys.(vfs.Storage))
}
