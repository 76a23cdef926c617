package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// oldServer strips what QA's oldsrv.py strips: pyftpdlib without FEAT,
// SIZE, MDTM, MFMT, MLSD/MLST, EPSV/EPRT, as servers of the 1990s are.
func oldServer(t *testing.T, dir string) *Target {
	return pyftpd(t, dir, "--strip", "EPSV,EPRT,MLSD,MLST,MFMT,SIZE,MDTM,FEAT")
}

// Regression (issue 4): against a server with neither FEAT nor SIZE, get
// of a file sent SIZE (500), then CWD FILE (550) and gave up; RETR was never
// tried. It must download the file and say nothing could be verified.
func TestGetFromServerWithoutFEATOrSIZEDownloadsUnverified(t *testing.T) {
	srv, local := t.TempDir(), t.TempDir()
	want := randomFile(t, filepath.Join(srv, "f.bin"), 200_000)
	os.MkdirAll(filepath.Join(srv, "dir", "sub"), 0o755)
	inner := randomFile(t, filepath.Join(srv, "dir", "sub", "g.bin"), 5_000)
	tg := oldServer(t, srv)
	var trace bytes.Buffer
	c := login(t, tg, Options{Trace: &trace})
	ctx := context.Background()
	if c.Has("SIZE") || c.Has("MLST") {
		t.Fatalf("the old server announces %v", c.Feat())
	}
	dst := filepath.Join(local, "f.bin")
	res, err := Get(ctx, c, "f.bin", dst, TransferOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, trace.String())
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("downloaded file differs")
	}
	if r := res[0]; r.Verified != "" || r.Moved != int64(len(want)) || r.Size != int64(len(want)) {
		t.Errorf("result %+v: want all bytes moved, size counted, nothing verified", r)
	}
	if !strings.Contains(trace.String(), "> RETR f.bin") {
		t.Errorf("RETR never sent:\n%s", trace.String())
	}
	if _, err := Get(ctx, c, "missing.bin", filepath.Join(local, "m"), TransferOptions{}); KindOf(err) != KindNotFound {
		t.Errorf("missing file: %v (kind %v), want not found", err, KindOf(err))
	}
	if _, err := os.Stat(filepath.Join(local, "m.part")); err == nil {
		t.Error("a refused RETR left an empty .part")
	}
	// A folder is still told apart (CWD) and copied by LIST.
	if _, err := Get(ctx, c, "dir", local, TransferOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(local, "dir", "sub", "g.bin")); !bytes.Equal(got, inner) {
		t.Error("get -r from the old server differs")
	}
}

// Regression (issue 4): pyftpdlib answers MLSD (and LIST) of a missing
// folder "501 No such directory.", which counted as "other" (exit 1).
func TestListOfMissingFolderOnPyftpdlibIsNotFound(t *testing.T) {
	for _, flags := range [][]string{nil, {"--no-mlsd"}} {
		c := login(t, pyftpd(t, t.TempDir(), flags...), Options{})
		_, err := c.List(context.Background(), "nope")
		if KindOf(err) != KindNotFound {
			t.Errorf("%v: List of a missing folder = %v (kind %v), want not found", flags, err, KindOf(err))
		}
	}
	if k := (&Error{Code: 501, Msg: "Invalid number of arguments."}).Kind(); k == KindNotFound {
		t.Errorf("a plain 501 is %v", k)
	}
}

// Regression: an endless listing from a hostile server was buffered in
// memory without end. It stops at maxListEntries with ErrListingTooBig.
func TestEndlessListingStopsWithAnError(t *testing.T) {
	c := login(t, pyftpd(t, t.TempDir(), "--endless-list"), Options{Timeout: 20 * time.Second})
	start := time.Now()
	_, err := c.List(context.Background(), "")
	if !errors.Is(err, ErrListingTooBig) {
		t.Fatalf("endless listing: %v, want ErrListingTooBig", err)
	}
	t.Logf("stopped after %v: %v", time.Since(start), err)

	// The byte bound, on a reader that never ends.
	_, err = readLinesMax(endless{}, 1<<30, 1<<20)
	if !errors.Is(err, ErrListingTooBig) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("endless bytes: %v", err)
	}
	// Exactly at the bounds is fine.
	lines, err := readLinesMax(strings.NewReader("a\nb\r\n\nc\n"), 3, 8)
	if err != nil || len(lines) != 3 {
		t.Fatalf("at the bounds: %q %v", lines, err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "ab\n"[i%3]
	}
	return len(p), nil
}

var _ io.Reader = endless{}

// Regression: ParseURL read '?' and '#' in an ftp:// path as a query and
// a fragment, which FTP URLs do not have (RFC 1738): "a#1.txt" became "a".
func TestParseURLKeepsQuestionMarkAndHashInPathAndPassword(t *testing.T) {
	for raw, want := range map[string][3]string{
		"ftp://u:p#w?d@h/dir/track#1?.mp3": {"u", "p#w?d", "dir/track#1?.mp3"},
		"ftp://h/a%23b%3Fc":                {"", "", "a#b?c"},
		"h/x?y=1#z":                        {"", "", "x?y=1#z"},
	} {
		tg, err := ParseURL(raw)
		if err != nil || tg.User != want[0] || tg.Password != want[1] || tg.Path != want[2] || tg.Host != "h" {
			t.Errorf("ParseURL(%q) = %+v, %v; want user %q password %q path %q", raw, tg, err, want[0], want[1], want[2])
			continue
		}
		if back, err := ParseURL(tg.String()); err != nil || back.Path != tg.Path {
			t.Errorf("%q: String %q reads back as %+v %v", raw, tg.String(), back, err)
		}
	}
	if _, err := ParseURL("ftp://h?x/"); err == nil {
		t.Error("a '?' in the host was accepted")
	}
}

// Regression (QA round 2, #6): mkdir -p through an existing file succeeded
// silently: MkdirAll took "it exists" for "it is a folder". Against wharf's
// server (MLST) and the old one (no MLST, SIZE nor FEAT: Stat falls back to
// CWD) alike.
func TestMkdirAllThroughAFileFails(t *testing.T) {
	_, wtg, whome := wharfServer(t, ftptest.Options{})
	odir := t.TempDir()
	for name, tc := range map[string]struct {
		tg   *Target
		home string
	}{"wharf": {wtg, whome}, "old": {oldServer(t, odir), odir}} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(filepath.Join(tc.home, "f"), []byte("x"), 0o644)
			c := login(t, tc.tg, Options{})
			ctx := context.Background()
			for _, p := range []string{"f", "f/sub", "f/sub/deeper"} {
				if err := c.MkdirAll(ctx, p); !errors.Is(err, ErrNotFolder) || !strings.Contains(err.Error(), "f exists and is not a folder") {
					t.Errorf("MkdirAll(%q) through a file: %v", p, err)
				}
			}
			if fi, err := os.Stat(filepath.Join(tc.home, "f")); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("the file changed: %v %v", fi, err)
			}
			if err := c.MkdirAll(ctx, "d/e"); err != nil {
				t.Fatal(err)
			}
			if err := c.MkdirAll(ctx, "d/e"); err != nil {
				t.Fatalf("MkdirAll of an existing folder: %v", err)
			}
		})
	}
}
