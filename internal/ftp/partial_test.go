package ftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 10: a quota refusal keeps the part that fit under the file's real
// name; the listing marks it (x.wharf.partial=quota) until the file
// changes, so a client can say "partial upload" instead of "verified".
func TestQuotaCutFileIsMarkedPartialUntilItChanges(t *testing.T) {
	srv, u, c := quotaUser(t, 10_000, 0)
	if err := c.Stor("cut", bytes.NewReader(randomBytes(t, 12_000))); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("STOR past the quota: %v, want 552", err)
	}
	if err := c.Stor("whole", bytes.NewReader(randomBytes(t, 10))); err == nil {
		t.Fatal("STOR with a full quota succeeded")
	}
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	if feat := r.must("FEAT", 211); !strings.Contains(feat, "x.wharf.partial*;") {
		t.Errorf("FEAT does not offer the fact:\n%s", feat)
	}
	if msg := r.must("MLST cut", 250); !strings.Contains(msg, "x.wharf.partial=quota;") {
		t.Fatalf("MLST of the cut file:\n%s", msg)
	}
	if fi, err := os.Stat(filepath.Join(u.Home, "cut")); err != nil || fi.Size() != 10_000 {
		t.Fatalf("the cut file: %v %v, want the 10000 bytes that fit", fi, err)
	}
	// Room made, the same name uploaded whole: no mark.
	r.must("DELE cut", 250)
	if err := c.Stor("cut", bytes.NewReader(randomBytes(t, 5000))); err != nil {
		t.Fatal(err)
	}
	if msg := r.must("MLST cut", 250); strings.Contains(msg, "x.wharf.partial") {
		t.Fatalf("MLST of a whole file still marks it partial:\n%s", msg)
	}
	// A resume cut by the quota marks it again; OPTS MLST can deselect it.
	r.must("TYPE I", 200)
	if err := c.StorFrom("cut", bytes.NewReader(randomBytes(t, 8000)), 5000); err == nil {
		t.Fatal("a resume past the quota succeeded")
	}
	if msg := r.must("MLST cut", 250); !strings.Contains(msg, "x.wharf.partial=quota;") {
		t.Fatalf("MLST after a cut resume:\n%s", msg)
	}
	r.must("OPTS MLST type;size;", 200)
	if msg := r.must("MLST cut", 250); strings.Contains(msg, "x.wharf.partial") {
		t.Fatalf("a deselected fact is shown:\n%s", msg)
	}
}
