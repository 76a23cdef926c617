package ftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regression (issue 3: "a refusal never loses data"): STOR over an existing
// 8000-byte file with 12000 bytes and a 10000-byte quota answered 552 and
// left the file holding the first 10000 bytes of the new upload: the
// original was gone.
func TestQuotaRefusedOverwriteKeepsTheOriginal(t *testing.T) {
	srv, u, c := quotaUser(t, 10_000, 0)
	orig := randomBytes(t, 8000)
	if err := c.Stor("doc", bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	err := c.Stor("doc", bytes.NewReader(randomBytes(t, 12_000)))
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("STOR of 12000 bytes over 8000 with a 10000 quota: %v, want 552", err)
	}
	if fileSum(t, filepath.Join(u.Home, "doc")) != sum(orig) {
		t.Fatal("the refused overwrite changed the original file")
	}
	onDisk, files := walkHome(t, u.Home)
	if onDisk != 8000 || files != 1 {
		t.Fatalf("home holds %d bytes in %d files, want the original 8000 in 1 (no temporary left)", onDisk, files)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 8000 || got.UsedFiles != 1 {
		t.Fatalf("usage %+v, want 8000 bytes in 1 file", got)
	}
	// An overwrite that fits still replaces.
	small := randomBytes(t, 9000)
	if err := c.Stor("doc", bytes.NewReader(small)); err != nil {
		t.Fatalf("overwrite within the quota: %v", err)
	}
	if fileSum(t, filepath.Join(u.Home, "doc")) != sum(small) {
		t.Fatal("overwrite within the quota did not replace the file")
	}
}

// A new file refused at the quota keeps what arrived (resumable), but one of
// which nothing could be stored is not created and takes no file.
func TestQuotaRefusedNewFileKeepsWhatArrivedButNoEmptyFile(t *testing.T) {
	srv, u, c := quotaUser(t, 10_000, 0)
	if err := c.Stor("a", bytes.NewReader(randomBytes(t, 12_000))); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("STOR of 12000 bytes with a 10000 quota: %v, want 552", err)
	}
	if fi, err := os.Stat(filepath.Join(u.Home, "a")); err != nil || fi.Size() != 10_000 {
		t.Fatalf("new file refused at the quota: %v, %v; want 10000 bytes kept", fi, err)
	}
	if err := c.Stor("b", bytes.NewReader(randomBytes(t, 100))); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("STOR on a full quota: %v, want 552", err)
	}
	if _, err := os.Lstat(filepath.Join(u.Home, "b")); !os.IsNotExist(err) {
		t.Fatalf("a refused upload of which nothing was stored left a file: %v", err)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 10_000 || got.UsedFiles != 1 {
		t.Fatalf("usage %+v, want 10000 bytes in 1 file", got)
	}
}
