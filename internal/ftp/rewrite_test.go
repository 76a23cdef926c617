package ftp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// A REST below the end writes a new version of the file through a
// temporary file (see TestFullDiskRefusalKeepsTheOriginalForEveryUploadCommand).
// For a user who may append but not replace, its commit may replace only
// the file it copied from: one put in its place meanwhile (by another
// process) stays, and the upload gets 550.
func TestRewriteOfAnAppendOnlyUserReplacesOnlyItsOwnFile(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PermUpload | accounts.PermAppend | accounts.PermList | accounts.PermDownload}, "pw")
	p := filepath.Join(u.Home, "f")
	writeFile(t, p, []byte("original content"))
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	r.must("TYPE I", 200)
	r.must("REST 8", 350)
	dc := dataConn(t, r)
	r.must("STOR f", 150)
	// The first 8 bytes are copied once the data connection is open.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if tmp := tempOf(u.Home); tmp != nil && tmp.Size() == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no temporary file holding the first 8 bytes")
		}
	}
	writeFile(t, filepath.Join(u.Home, "other"), []byte("someone else's"))
	if err := os.Rename(filepath.Join(u.Home, "other"), p); err != nil {
		t.Fatal(err)
	}
	dc.Write([]byte(" and a new tail"))
	dc.Close()
	if code, msg := r.read(); code != 550 {
		t.Fatalf("the rewrite of a file replaced meanwhile: %d %s, want 550", code, msg)
	}
	if b, _ := os.ReadFile(p); string(b) != "someone else's" {
		t.Fatalf("f = %q: a user who may not replace files replaced one", b)
	}
	if tempOf(u.Home) != nil {
		t.Fatal("temporary file left")
	}
	// Left alone, the rewrite takes the first bytes and the new tail.
	r.must("REST 8", 350)
	dc = dataConn(t, r)
	r.must("STOR f", 150)
	dc.Write([]byte("!"))
	dc.Close()
	r.expect(226)
	if b, _ := os.ReadFile(p); string(b) != "someone !" {
		t.Fatalf("f = %q after REST 8 + STOR of \"!\", want \"someone !\"", b)
	}
}

// tempOf returns the upload temporary file in dir, if any.
func tempOf(dir string) os.FileInfo {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".wharf-upload-") {
			if fi, err := e.Info(); err == nil {
				return fi
			}
		}
	}
	return nil
}
