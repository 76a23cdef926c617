package share

import (
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ftpCode is the reply code of an FTP error (0 for none or another error).
func ftpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// putFile PUTs body to the share's name and returns the status.
func putFile(t *testing.T, s *running, name, body string) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", s.httpURL()+"/"+name, strings.NewReader(body))
	resp, _ := do(t, req)
	return resp.StatusCode
}

// Issue 9 (the share's drop box): share --write had no quota, so any
// visitor could fill the disk. Visitors together may add QuotaBytes and
// QuotaFiles over both protocols; what the folder held before the share
// is not counted.
func TestShareWriteQuotaHoldsOverBothProtocols(t *testing.T) {
	dir := t.TempDir()
	// The folder's own files do not count against what visitors may add.
	writeFile(t, filepath.Join(dir, "before.bin"), make([]byte, 100_000))
	s := startShare(t, Options{Dir: dir, Write: true, QuotaBytes: 5000, QuotaFiles: 3})
	if b, f := s.Quota(); b != 5000 || f != 3 {
		t.Fatalf("Quota() = %d bytes, %d files; want 5000, 3", b, f)
	}
	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	if err := c.Stor("/one.bin", bytes.NewReader(make([]byte, 3000))); err != nil {
		t.Fatalf("an FTP upload within the quota: %v", err)
	}
	// 3000 added: 2500 more over HTTP passes 5000.
	if code := putFile(t, s, "two.bin", strings.Repeat("x", 2500)); code != http.StatusInsufficientStorage {
		t.Errorf("an HTTP upload past the byte quota = %d, want 507", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "two.bin")); err == nil {
		t.Errorf("the refused HTTP upload left two.bin")
	}
	if code := putFile(t, s, "small.txt", "hello"); code != http.StatusCreated {
		t.Errorf("a small HTTP upload within both quotas = %d, want 201", code)
	}
	if err := c.Stor("/tiny.txt", strings.NewReader("x")); err != nil {
		t.Errorf("a third file within the file quota: %v", err)
	}
	// Three files added: a fourth is refused on both protocols.
	if err := c.Stor("/fourth.txt", strings.NewReader("x")); ftpCode(err) != 552 {
		t.Errorf("a fourth file over FTP: %v, want 552", err)
	}
	if code := putFile(t, s, "fourth.txt", "x"); code != http.StatusInsufficientStorage {
		t.Errorf("a fourth file over HTTP = %d, want 507", code)
	}
}

// The quota is on by default for a writable share, unlimited when asked,
// and absent from a read-only one.
func TestShareQuotaDefaults(t *testing.T) {
	for _, c := range []struct {
		name         string
		o            Options
		bytes, files int64
	}{
		{"write takes the defaults", Options{Write: true}, DefaultQuotaBytes, DefaultQuotaFiles},
		{"overwrite and delete too", Options{Overwrite: true, Delete: true}, DefaultQuotaBytes, DefaultQuotaFiles},
		{"negative is unlimited", Options{Write: true, QuotaBytes: -1, QuotaFiles: -1}, 0, 0},
		{"one limit given", Options{Write: true, QuotaBytes: 1 << 20}, 1 << 20, DefaultQuotaFiles},
		{"read-only has none", Options{QuotaBytes: 5}, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Dir, o.Listen = t.TempDir(), "127.0.0.1"
			o.FixedFTPPort, o.FixedHTTPPort = true, true
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if b, f := s.Quota(); b != c.bytes || f != c.files {
				t.Errorf("Quota() = %d bytes, %d files; want %d, %d", b, f, c.bytes, c.files)
			}
		})
	}
}
