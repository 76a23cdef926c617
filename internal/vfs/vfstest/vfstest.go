// Package vfstest is the conformance suite every vfs.FS backend runs, so
// the engine can rely on the same behaviour from each: errors that match
// io/fs sentinels, Rename over files, ReadDir in batches, names confined to
// the root.
//
// It must never depend on a particular backend: it only uses the vfs.FS
// interface and the standard library.
package vfstest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/vfs"
)

// Run checks fsys, which must be empty, against the vfs.FS contract.
func Run(t *testing.T, fsys vfs.FS) {
	ctx := context.Background()
	s := &suite{t: t}
	must := s.must
	write := func(name, data string) {
		s.cur.Helper()
		f, err := fsys.OpenFile(ctx, name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		must(err)
		_, err = io.WriteString(f, data)
		must(err)
		must(f.Sync())
		must(f.Close())
	}
	read := func(name string) string {
		s.cur.Helper()
		f, err := fsys.Open(ctx, name)
		must(err)
		defer f.Close()
		b, err := io.ReadAll(f)
		must(err)
		return string(b)
	}

	s.run("create read stat", func(t *testing.T) {
		write("a.txt", "hello")
		if got := read("a.txt"); got != "hello" {
			t.Fatalf("read %q", got)
		}
		fi, err := fsys.Stat(ctx, "a.txt")
		must(err)
		if fi.Size() != 5 || !fi.Mode().IsRegular() {
			t.Fatalf("stat %v %v", fi.Size(), fi.Mode())
		}
		f, err := fsys.Open(ctx, "a.txt")
		must(err)
		b := make([]byte, 3)
		if _, err := f.ReadAt(b, 2); err != nil || string(b) != "llo" {
			t.Fatalf("ReadAt %q %v", b, err)
		}
		f.Close()
	})
	s.run("missing is ErrNotExist", func(t *testing.T) {
		if _, err := fsys.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat: %v", err)
		}
		if _, err := fsys.Open(ctx, "nope/deeper"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open: %v", err)
		}
		if err := fsys.Remove(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Remove: %v", err)
		}
	})
	s.run("exclusive create", func(t *testing.T) {
		write("x", "1")
		if _, err := fsys.OpenFile(ctx, "x", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL on an existing file: %v", err)
		}
	})
	s.run("dirs and batched ReadDir", func(t *testing.T) {
		must(fsys.Mkdir(ctx, "d", 0o755))
		if err := fsys.Mkdir(ctx, "d", 0o755); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Mkdir twice: %v", err)
		}
		must(fsys.MkdirAll(ctx, "d/e/f", 0o755))
		var want []string
		for i := range 7 {
			n := "f" + string(rune('0'+i))
			write("d/"+n, n)
			want = append(want, n)
		}
		want = append(want, "e")
		slices.Sort(want)
		d, err := fsys.Open(ctx, "d")
		must(err)
		var got []string
		for {
			ents, err := d.ReadDir(3)
			if len(ents) > 3 {
				t.Fatalf("ReadDir(3) returned %d entries", len(ents))
			}
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if err == io.EOF {
				break
			}
			must(err)
		}
		d.Close()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("ReadDir %v, want %v", got, want)
		}
		if err := fsys.Remove(ctx, "d/e"); err == nil {
			t.Fatal("Remove of a non-empty dir succeeded")
		}
	})
	s.run("rename replaces a file", func(t *testing.T) {
		write("r1", "new")
		write("r2", "old")
		must(fsys.Rename(ctx, "r1", "r2"))
		if got := read("r2"); got != "new" {
			t.Fatalf("after rename %q", got)
		}
		if _, err := fsys.Stat(ctx, "r1"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("source still there: %v", err)
		}
	})
	s.run("chtimes truncate avail", func(t *testing.T) {
		write("t", "0123456789")
		mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		must(fsys.Chtimes(ctx, "t", mt, mt))
		fi, err := fsys.Lstat(ctx, "t")
		must(err)
		if !fi.ModTime().Equal(mt) {
			t.Fatalf("mtime %v", fi.ModTime())
		}
		f, err := fsys.OpenFile(ctx, "t", os.O_WRONLY, 0)
		must(err)
		must(f.Truncate(4))
		f.Close()
		if got := read("t"); got != "0123" {
			t.Fatalf("after truncate %q", got)
		}
		n, err := fsys.Avail(ctx, ".")
		must(err)
		if n <= 0 {
			t.Fatalf("Avail %d", n)
		}
	})
	s.run("names cannot leave the root", func(t *testing.T) {
		for _, name := range []string{"..", "../x", "/etc/passwd", "d/../../x"} {
			if _, err := fsys.Stat(ctx, name); err == nil {
				t.Errorf("Stat(%q) succeeded", name)
			}
			if f, err := fsys.OpenFile(ctx, name, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
				f.Close()
				t.Errorf("OpenFile(%q) created a file", name)
			}
		}
	})
}
