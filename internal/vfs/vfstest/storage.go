package vfstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/vfs"
)

// BigFile is the size of the suite's large upload: past the part size of
// an object store backend (8 MiB), so its multipart and server-side copy
// paths run, and small enough for a loopback test.
const BigFile = 11<<20 + 12345

// RunStorage checks st, which must be empty, against the vfs.Storage
// contract. Every backend runs it: the engine relies on nothing else.
func RunStorage(t *testing.T, st vfs.Storage) {
	ctx := context.Background()
	s := &suite{t: t}
	must := s.must
	put := func(name string, o vfs.CreateOptions, data []byte) vfs.Committed {
		s.cur.Helper()
		u, err := st.Create(ctx, name, o)
		must(err)
		for p := data; len(p) > 0; {
			n := min(len(p), 100_000) // writes of a transfer loop's size
			if _, err := u.Write(p[:n]); err != nil {
				u.Abandon(ctx)
				s.cur.Fatal(err)
			}
			p = p[n:]
		}
		c, err := u.Commit(ctx)
		must(err)
		return c
	}
	write := func(name, data string) { s.cur.Helper(); put(name, vfs.CreateOptions{}, []byte(data)) }
	readAt := func(name string, off int64) []byte {
		s.cur.Helper()
		r, err := st.OpenRead(ctx, name, off)
		must(err)
		defer r.Close()
		b, err := io.ReadAll(r)
		must(err)
		return b
	}
	read := func(name string) string { s.cur.Helper(); return string(readAt(name, 0)) }
	isNotExist := func(what string, err error) {
		s.cur.Helper()
		if !errors.Is(err, vfs.ErrNotExist) {
			s.cur.Fatalf("%s: %v, want ErrNotExist", what, err)
		}
	}
	list := func(dir string, batch int) []string {
		s.cur.Helper()
		l, err := st.List(ctx, dir)
		must(err)
		defer l.Close()
		var got []string
		for {
			ents, err := l.Next(batch)
			if len(ents) > batch {
				s.cur.Fatalf("Next(%d) returned %d entries", batch, len(ents))
			}
			for _, e := range ents {
				n := e.Name()
				if e.IsDir() {
					n += "/"
				}
				got = append(got, n)
			}
			if err == io.EOF {
				break
			}
			must(err)
		}
		slices.Sort(got)
		return got
	}

	s.run("upload appears only on commit", func(t *testing.T) {
		u, err := st.Create(ctx, "a.txt", vfs.CreateOptions{NoReplace: true})
		must(err)
		_, err = u.Write([]byte("hello"))
		must(err)
		if _, err := st.Stat(ctx, "a.txt"); !errors.Is(err, vfs.ErrNotExist) {
			t.Fatalf("Stat before Commit: %v, want ErrNotExist", err)
		}
		c, err := u.Commit(ctx)
		must(err)
		if c.Replaced {
			t.Fatalf("a new file replaced something: %+v", c)
		}
		fi, err := st.Stat(ctx, "a.txt")
		must(err)
		if fi.Size() != 5 || !fi.Mode().IsRegular() || fi.Name() != "a.txt" {
			t.Fatalf("Stat: %q size %d mode %v", fi.Name(), fi.Size(), fi.Mode())
		}
		if got := read("a.txt"); got != "hello" {
			t.Fatalf("read %q", got)
		}
		if got := string(readAt("a.txt", 2)); got != "llo" {
			t.Fatalf("read at 2: %q", got)
		}
		if got := string(readAt("a.txt", 5)); got != "" {
			t.Fatalf("read at the end: %q", got)
		}
		r, err := st.OpenRead(ctx, "a.txt", 1)
		must(err)
		if r.Info().Size() != 5 {
			t.Fatalf("Info().Size() = %d", r.Info().Size())
		}
		r.Close()
	})

	s.run("missing is ErrNotExist", func(t *testing.T) {
		_, err := st.Stat(ctx, "nope")
		isNotExist("Stat", err)
		_, err = st.OpenRead(ctx, "nope/deeper", 0)
		isNotExist("OpenRead", err)
		isNotExist("Remove", st.Remove(ctx, "nope"))
		_, err = st.List(ctx, "nope")
		isNotExist("List", err)
		isNotExist("Rename", st.Rename(ctx, "nope", "other"))
		isNotExist("Chtimes", st.Chtimes(ctx, "nope", time.Now(), time.Now()))
	})

	s.run("no-replace commit refuses a taken name", func(t *testing.T) {
		write("taken", "old")
		u, err := st.Create(ctx, "taken", vfs.CreateOptions{NoReplace: true})
		must(err)
		_, err = u.Write([]byte("newer"))
		must(err)
		if _, err := u.Commit(ctx); !errors.Is(err, vfs.ErrExist) {
			t.Fatalf("Commit over an existing file: %v, want ErrExist", err)
		}
		if got := read("taken"); got != "old" {
			t.Fatalf("refused commit changed the file: %q", got)
		}
		rc, ok := u.(vfs.ReplaceCommitter)
		if !ok {
			t.Fatal("a NoReplace upload is not a ReplaceCommitter")
		}
		c, err := rc.CommitReplace(ctx)
		must(err)
		if !c.Replaced || c.OldSize != 3 {
			t.Fatalf("CommitReplace reports %+v, want the 3-byte file replaced", c)
		}
		if got := read("taken"); got != "newer" {
			t.Fatalf("after CommitReplace %q", got)
		}
	})

	s.run("replace and abandon", func(t *testing.T) {
		write("r", "first")
		if c := put("r", vfs.CreateOptions{}, []byte("2nd")); !c.Replaced || c.OldSize != 5 {
			t.Fatalf("replace reports %+v", c)
		}
		u, err := st.Create(ctx, "r", vfs.CreateOptions{})
		must(err)
		u.Write([]byte("dropped"))
		must(u.Abandon(ctx))
		if got := read("r"); got != "2nd" {
			t.Fatalf("abandoned upload changed the file: %q", got)
		}
		u, err = st.Create(ctx, "never", vfs.CreateOptions{})
		must(err)
		u.Write([]byte("dropped"))
		must(u.Abandon(ctx))
		_, err = st.Stat(ctx, "never")
		isNotExist("Stat of an abandoned new file", err)
		if got := list(".", 100); slices.ContainsFunc(got, func(n string) bool { return n != "a.txt" && n != "r" && n != "taken" }) {
			t.Fatalf("abandoned uploads left entries: %v", got)
		}
	})

	s.run("resume appends and replaces the tail", func(t *testing.T) {
		write("part", "hello")
		put("part", vfs.CreateOptions{Resume: true, Offset: 5}, []byte(" world"))
		if got := read("part"); got != "hello world" {
			t.Fatalf("after append %q", got)
		}
		// A resume below the end replaces what followed only by its
		// commit: abandoned (a full disk, a refusal), the file is whole.
		u, err := st.Create(ctx, "part", vfs.CreateOptions{Resume: true, Offset: 4})
		must(err)
		u.Write([]byte("?"))
		must(u.Abandon(ctx))
		if got := read("part"); got != "hello world" {
			t.Fatalf("an abandoned resume below the end left %q, want the file as it was", got)
		}
		put("part", vfs.CreateOptions{Resume: true, Offset: 4}, []byte("!"))
		if got := read("part"); got != "hell!" {
			t.Fatalf("after REST 4 %q", got)
		}
		if u, err := st.Create(ctx, "part", vfs.CreateOptions{Resume: true, Offset: 99}); err == nil {
			u.Abandon(ctx)
			t.Fatal("resume past the end accepted")
		}
	})

	s.run("big upload, resume and checksum", func(t *testing.T) {
		data := make([]byte, BigFile)
		for i := range data {
			data[i] = byte(i*7 + i>>13)
		}
		half := len(data) * 2 / 3
		put("big", vfs.CreateOptions{NoReplace: true}, data[:half])
		fi, err := st.Stat(ctx, "big")
		must(err)
		if fi.Size() != int64(half) {
			t.Fatalf("size %d, want %d", fi.Size(), half)
		}
		checkSum(t, st, "big", data[:half])
		put("big", vfs.CreateOptions{Resume: true, Offset: int64(half)}, data[half:])
		if got := readAt("big", 0); !bytes.Equal(got, data) {
			t.Fatalf("resumed file differs (%d bytes read, want %d)", len(got), len(data))
		}
		if got := readAt("big", 9<<20); !bytes.Equal(got, data[9<<20:]) {
			t.Fatal("read at 9 MiB differs")
		}
		checkSum(t, st, "big", data)
		// A resume below the end: what followed is replaced.
		put("big", vfs.CreateOptions{Resume: true, Offset: 6 << 20}, []byte("tail"))
		want := append(slices.Clip(data[:6<<20]), "tail"...)
		if got := readAt("big", 0); !bytes.Equal(got, want) {
			t.Fatal("resume below the end differs")
		}
		checkSum(t, st, "big", want)
		must(st.Rename(ctx, "big", "big2"))
		if got := readAt("big2", 0); !bytes.Equal(got, want) {
			t.Fatal("renamed big file differs")
		}
		checkSum(t, st, "big2", want)
		must(st.Remove(ctx, "big2"))
	})

	s.run("folders and batched listing", func(t *testing.T) {
		must(st.Mkdir(ctx, "d", 0o755))
		if err := st.Mkdir(ctx, "d", 0o755); !errors.Is(err, vfs.ErrExist) {
			t.Fatalf("Mkdir twice: %v, want ErrExist", err)
		}
		must(st.Mkdir(ctx, "d/e", 0o755))
		fi, err := st.Stat(ctx, "d/e")
		must(err)
		if !fi.IsDir() || fi.Name() != "e" {
			t.Fatalf("Stat of a folder: %q %v", fi.Name(), fi.Mode())
		}
		want := []string{"e/"}
		for i := range 7 {
			n := "f" + string(rune('0'+i))
			write("d/"+n, n)
			want = append(want, n)
		}
		slices.Sort(want)
		if got := list("d", 3); !slices.Equal(got, want) {
			t.Fatalf("List %v, want %v", got, want)
		}
		if got := list("d/e", 3); len(got) != 0 {
			t.Fatalf("empty folder lists %v", got)
		}
		if _, err := st.List(ctx, "d/f0"); err == nil {
			t.Fatal("List of a file succeeded")
		}
		if _, err := st.OpenRead(ctx, "d", 0); !errors.Is(err, vfs.ErrIsDir) {
			t.Fatalf("OpenRead of a folder: %v, want ErrIsDir", err)
		}
		if err := st.Remove(ctx, "d"); !errors.Is(err, vfs.ErrNotEmpty) {
			t.Fatalf("Remove of a non-empty folder: %v, want ErrNotEmpty", err)
		}
		must(st.Remove(ctx, "d/e"))
		_, err = st.Stat(ctx, "d/e")
		isNotExist("Stat of a removed folder", err)
		// A file in a folder created by the upload alone (object stores
		// have no folder objects to need).
		must(st.Mkdir(ctx, "d/sub", 0o755))
		write("d/sub/x", "x")
		must(st.Rename(ctx, "d/sub", "d/moved"))
		if got := read("d/moved/x"); got != "x" {
			t.Fatalf("file in a renamed folder: %q", got)
		}
		_, err = st.Stat(ctx, "d/sub")
		isNotExist("Stat of a folder renamed away", err)
	})

	s.run("rename replaces a file", func(t *testing.T) {
		write("r1", "new")
		write("r2", "old")
		must(st.Rename(ctx, "r1", "r2"))
		if got := read("r2"); got != "new" {
			t.Fatalf("after rename %q", got)
		}
		_, err := st.Stat(ctx, "r1")
		isNotExist("Stat of the source", err)
	})

	s.run("chtimes and avail", func(t *testing.T) {
		write("t", "0123456789")
		mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		must(st.Chtimes(ctx, "t", mt, mt))
		fi, err := st.Stat(ctx, "t")
		must(err)
		if !fi.ModTime().Equal(mt) {
			t.Fatalf("mtime %v, want %v", fi.ModTime(), mt)
		}
		if got := read("t"); got != "0123456789" {
			t.Fatalf("Chtimes changed the content: %q", got)
		}
		n, err := st.Avail(ctx, ".")
		must(err)
		if n <= 0 {
			t.Fatalf("Avail %d", n)
		}
	})

	s.run("names cannot leave the root", func(t *testing.T) {
		for _, name := range []string{"..", "../x", "/etc/passwd", "d/../../x"} {
			if _, err := st.Stat(ctx, name); err == nil {
				t.Errorf("Stat(%q) succeeded", name)
			}
			if u, err := st.Create(ctx, name, vfs.CreateOptions{}); err == nil {
				if _, err := u.Commit(ctx); err == nil {
					t.Errorf("Create(%q) created a file", name)
				}
			}
		}
	})
}

// checkSum checks the backend's stored checksum, when it has one, against
// data.
func checkSum(t *testing.T, st vfs.Storage, name string, data []byte) {
	t.Helper()
	cs, ok := st.(vfs.Checksummer)
	if !ok {
		return
	}
	sum, known, err := cs.Checksum(context.Background(), name, "SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if !known {
		t.Fatalf("%s: no stored SHA-256 after an upload through the backend", name)
	}
	if sum != hex.EncodeToString(want[:]) {
		t.Fatalf("%s: stored SHA-256 %s, want %x", name, sum, want)
	}
}
