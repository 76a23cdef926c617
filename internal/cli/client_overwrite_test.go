package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// get and put on the command line: an existing, different destination is
// refused (exit 1, one line saying -f or -c), per file in a batch with the
// summary naming what was left alone; -f replaces.
func TestOverwriteRefusalOnTheCommandLine(t *testing.T) {
	srv, home, _ := startServer(t, false)
	writeRandom(t, filepath.Join(home, "tree", "a.bin"), 2000)
	want := writeRandom(t, filepath.Join(home, "tree", "b.bin"), 2000)
	e := newClientEnv(t)
	base := "ftp://alice:secret@" + srv.Addr + "/"
	dst := t.TempDir()
	mine := writeRandom(t, filepath.Join(dst, "tree", "b.bin"), 10)

	code, _, stderr := e.run("", "get", base+"tree/b.bin", filepath.Join(dst, "tree"))
	if code != ExitFailure || !strings.Contains(stderr, "exists (-f replaces it, -c resumes it)") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("get over an existing file: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := e.run("", "get", "-r", base+"tree", dst)
	if code != ExitFailure || !strings.Contains(stdout, "1 not replaced (exist: tree/b.bin)") {
		t.Fatalf("get -r: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if fileSum(t, filepath.Join(dst, "tree", "b.bin")) != sum(mine) {
		t.Fatal("get -r replaced an existing file")
	}
	if _, err := os.Stat(filepath.Join(dst, "tree", "a.bin")); err != nil {
		t.Fatal("get -r did not copy the file that was not there")
	}
	if code, _, stderr := e.run("", "get", "-f", base+"tree/b.bin", filepath.Join(dst, "tree")); code != 0 {
		t.Fatalf("get -f: exit %d: %s", code, stderr)
	}
	if fileSum(t, filepath.Join(dst, "tree", "b.bin")) != sum(want) {
		t.Fatal("get -f did not replace the file")
	}

	src := filepath.Join(t.TempDir(), "b.bin")
	writeRandom(t, src, 500)
	code, _, stderr = e.run("", "put", src, base+"tree/")
	if code != ExitFailure || !strings.Contains(stderr, "put tree/b.bin: exists") {
		t.Fatalf("put over an existing file: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := e.run("", "put", "-f", src, base+"tree/"); code != 0 {
		t.Fatalf("put -f: exit %d: %s", code, stderr)
	}
}

// Regression (#10): -P 0 was silently 1. It is a usage error, as is 33.
func TestParallelOutOfRangeIsUsage(t *testing.T) {
	srv, _, _ := startServer(t, false)
	e := newClientEnv(t)
	for _, p := range []string{"0", "-1", "33"} {
		code, _, stderr := e.run("", "get", "-r", "-P", p, "ftp://alice:secret@"+srv.Addr+"/", t.TempDir())
		if code != ExitUsage || !strings.Contains(stderr, "-P "+p+": choose 1 to 32") {
			t.Errorf("-P %s: exit %d, stderr %q", p, code, stderr)
		}
	}
	if code, _, stderr := e.run("", "ls", "ftp://alice:secret@"+srv.Addr+"/"); code != 0 {
		t.Errorf("ls (no -P) exit %d: %s", code, stderr)
	}
}
