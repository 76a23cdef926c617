package ftp_test

import (
	"net"
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

// The race of two REST 1 + STOR at once, made certain: the second one's
// data connection arrives after the first rewrote the file to its kept
// byte. The REST is its file's end by then, a resume in place that the
// rewrite cannot turn into: 450 (try again), nothing changed, usage equal
// to what is stored; asked again, it appends in place.
func TestRewriteWhoseFileWasRewrittenMeanwhileSaysTryAgain(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 10 << 20}, "pw")
	// Written before the first login, which counts the home.
	writeFile(t, filepath.Join(u.Home, "victim.bin"), []byte("0123456789"))
	a, b := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
	for _, r := range []*raw{a, b} {
		r.login("q", "pw")
		r.must("TYPE I", 200)
		r.must("REST 1", 350)
	}
	port := epsvPort(t, a.must("EPSV", 229))
	a.must("STOR victim.bin", 150) // its data connection comes later
	db := dataConn(t, b)
	b.must("STOR victim.bin", 150)
	db.Close()
	b.expect(226)
	host, _ := hostPort(t, a.c.RemoteAddr().String())
	da, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	da.Write([]byte("late"))
	da.Close()
	if code, msg := a.read(); code != 450 {
		t.Fatalf("the rewrite of a file rewritten meanwhile: %d %s, want 450", code, msg)
	}
	if b, _ := os.ReadFile(filepath.Join(u.Home, "victim.bin")); string(b) != "0" {
		t.Fatalf("victim.bin = %q, want the first rewrite's \"0\"", b)
	}
	equalsDisk(t, srv, "q", "pw", u.Home)
	a.must("REST 1", 350)
	da = dataConn(t, a)
	a.must("STOR victim.bin", 150)
	da.Write([]byte("late"))
	da.Close()
	a.expect(226)
	if b, _ := os.ReadFile(filepath.Join(u.Home, "victim.bin")); string(b) != "0late" {
		t.Fatalf("victim.bin = %q after the retry, want \"0late\"", b)
	}
	equalsDisk(t, srv, "q", "pw", u.Home)
}
