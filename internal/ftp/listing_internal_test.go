package ftp

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

type fakeInfo struct {
	name string
	size int64
	mode fs.FileMode
	mt   time.Time
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return f.mt }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }

func TestLSLineFormatRecentAndOldFiles(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	recent := fakeInfo{"notes.txt", 1234, 0o644, time.Date(2026, 6, 1, 9, 5, 0, 0, time.UTC)}
	old := fakeInfo{"old dir", 4096, fs.ModeDir | 0o755, time.Date(2019, 1, 3, 0, 0, 0, 0, time.UTC)}
	got := string(appendLS(nil, recent, recent.name, now))
	if want := "-rw-r--r--   1 ftp      ftp              1234 Jun  1 09:05 notes.txt\r\n"; got != want {
		t.Errorf("recent:\n got %q\nwant %q", got, want)
	}
	got = string(appendLS(nil, old, old.name, now))
	if want := "drwxr-xr-x   1 ftp      ftp              4096 Jan  3  2019 old dir\r\n"; got != want {
		t.Errorf("old:\n got %q\nwant %q", got, want)
	}
}

func TestMLSxFactsFormat(t *testing.T) {
	fi := fakeInfo{"a", 10, 0o644, time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC)}
	got := string(appendFacts(nil, fi, accounts.PresetReadOnly, allFacts))
	if want := "type=file;size=10;modify=20210203040506;perm=r;"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	d := fakeInfo{"d", 0, fs.ModeDir | 0o755, fi.mt}
	got = string(appendFacts(nil, d, accounts.PresetFull, factType|factPerm))
	if want := "type=dir;perm=elcmpdf;"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestListableHidesUploadsInProgressAndUnframeableNames(t *testing.T) {
	for name, want := range map[string]bool{"a": true, ".hidden": true, tmpPrefix + "abc": false, "a\nb": false, "a\rb": false} {
		if listable(name) != want {
			t.Errorf("listable(%q) = %v", name, !want)
		}
	}
}

func manyFiles(b testing.TB, n int) string {
	dir := b.TempDir()
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d.dat", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func BenchmarkAppendLS(b *testing.B) {
	var fi fs.FileInfo = fakeInfo{"some file name.bin", 123456789, 0o644, time.Now()}
	now := time.Now()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendLS(buf[:0], fi, "some file name.bin", now)
	}
}

func BenchmarkAppendFacts(b *testing.B) {
	var fi fs.FileInfo = fakeInfo{"some file name.bin", 123456789, 0o644, time.Now()}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendFacts(buf[:0], fi, accounts.PresetFull, allFacts)
	}
}

// BenchmarkListing10k formats a real 10,000-file folder as LIST does.
func BenchmarkListing10k(b *testing.B) {
	dir := manyFiles(b, 10000)
	l, err := vfs.OpenLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ss := &session{}
	b.ReportAllocs()
	for b.Loop() {
		li := &lister{format: formatLS, now: time.Now(), user: accounts.User{Perms: accounts.PresetFull}}
		if _, err := ss.streamDir(context.Background(), l, ".", li, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSplitRangeArgs(t *testing.T) {
	cases := []struct {
		in         string
		file       string
		start, end int64
	}{
		{"f", "f", 0, -1},
		{"my file.txt", "my file.txt", 0, -1},
		{"my file.txt 10", "my file.txt", 10, -1},
		{"my file.txt 10 20", "my file.txt", 10, 20},
		{"f, 10, 20", "f", 10, 20},
		{`"a b" 1 2`, "a b", 1, 2},
		{"2024 report 5", "2024 report", 5, -1},
		{"1 2 3", "1", 2, 3},
		{"f\u00a010", "f\u00a010", 0, -1}, // a no-break space is part of the name
		{"f\u00a0 10", "f\u00a0", 10, -1},
		{"  f  1  ", "f", 1, -1},
		{"5", "5", 0, -1},
		{"a 1.5", "a 1.5", 0, -1},
	}
	for _, c := range cases {
		f, s, e, err := splitRangeArgs(c.in)
		if err != nil || f != c.file || s != c.start || e != c.end {
			t.Errorf("splitRangeArgs(%q) = %q %d %d %v; want %q %d %d", c.in, f, s, e, err, c.file, c.start, c.end)
		}
	}
	for _, in := range []string{"a.txt -1", "a.txt -5 -1", "a 1 -1", "a 99999999999999999999", "a +1 -0"} {
		if _, _, _, err := splitRangeArgs(in); err == nil {
			t.Errorf("splitRangeArgs(%q) accepted a range that is no pair of offsets", in)
		}
	}
}

// portableFS hides the *os.File behind the listing (vfs.OSFiler), so
// streamDir takes its portable loop instead of the getdents/statx fast
// path.
type portableFS struct{ *vfs.Local }

type portableLister struct{ vfs.Lister }

func (p portableFS) List(ctx context.Context, name string) (vfs.Lister, error) {
	l, err := p.Local.List(ctx, name)
	if err != nil {
		return nil, err
	}
	return portableLister{l}, nil
}

// The fast directory reader must produce exactly the lines of the portable
// one, for every kind of entry and every listing format.
func TestFastListingMatchesPortableListing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file.txt"), make([]byte, 1234), 0o640)
	os.Mkdir(filepath.Join(dir, "sub dir"), 0o755)
	os.WriteFile(filepath.Join(dir, tmpPrefix+"upload"), nil, 0o644)
	os.Symlink("file.txt", filepath.Join(dir, "inside-link"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "outside-link"))
	os.Symlink("missing", filepath.Join(dir, "dangling"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ünïcødé"), []byte("x"), 0o4755)
	old := filepath.Join(dir, "old")
	os.WriteFile(old, nil, 0o644)
	os.Chtimes(old, time.Now(), time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC))
	for i := range 3000 { // more than one getdents buffer
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("many-%04d-%s", i, strings.Repeat("x", i%40))), nil, 0o644)
	}
	local, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	ss := &session{}
	now := time.Now()
	user := accounts.User{Perms: accounts.PresetReadOnly,
		PathPerms: []accounts.PathPerm{{Dir: "/d/sub dir", Perms: accounts.PresetFull}}}
	for _, format := range []listFormat{formatLS, formatName, formatMLSx} {
		var lines [2][]string
		for i, fsys := range []vfs.Storage{local, portableFS{local}} {
			var out strings.Builder
			l := &lister{format: format, now: now, user: user, dirAbs: "/d", facts: allFacts}
			if _, err := ss.streamDir(context.Background(), fsys, ".", l, &out); err != nil {
				t.Fatal(err)
			}
			lines[i] = strings.Split(out.String(), "\r\n")
			slices.Sort(lines[i])
		}
		if len(lines[0]) != 3000+8+1 {
			t.Errorf("format %d: %d lines", format, len(lines[0]))
		}
		if !slices.Equal(lines[0], lines[1]) {
			for i := range min(len(lines[0]), len(lines[1])) {
				if lines[0][i] != lines[1][i] {
					t.Fatalf("format %d: fast %q, portable %q", format, lines[0][i], lines[1][i])
				}
			}
			t.Fatalf("format %d: %d fast lines, %d portable", format, len(lines[0]), len(lines[1]))
		}
	}
}
