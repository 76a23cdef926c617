package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

var cheap = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// serveDB runs the real FTP engine on a DB-backed authenticator.
func serveDB(t *testing.T, db *accounts.DB) *ftptest.Server {
	t.Helper()
	return ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Auth = db }})
}

func dial(t *testing.T, addr string) *jftp.ServerConn {
	t.Helper()
	c, err := jftp.Dial(addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestFTPLoginQuotaAndLiveAdminChanges(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	server, err := accounts.Open(ctx, data, accounts.Options{Argon2: cheap, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	admin, err := accounts.Open(ctx, data, accounts.Options{Argon2: cheap, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.AddUser(ctx, accounts.User{Name: "u", Perms: accounts.PresetFull, QuotaBytes: 10_000}, "pw"); err != nil {
		t.Fatal(err)
	}
	srv := serveDB(t, server)

	if err := dial(t, srv.Addr).Login("u", "wrong"); replyCode(err) != 530 {
		t.Fatalf("wrong password: %v, want 530", err)
	}
	if err := dial(t, srv.Addr).Login("nobody", "pw"); replyCode(err) != 530 {
		t.Fatalf("unknown user: %v, want 530", err)
	}

	c := dial(t, srv.Addr)
	if err := c.Login("u", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("a.bin", bytes.NewReader(make([]byte, 6000))); err != nil {
		t.Fatalf("upload within quota: %v", err)
	}
	err = c.Stor("b.bin", bytes.NewReader(make([]byte, 6000)))
	if code := replyCode(err); code != 552 {
		t.Fatalf("upload past quota: %v, want 552", err)
	}
	// The server writes usage in the background, within
	// usageFlushInterval of the upload.
	var u accounts.User
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		u, _ = admin.GetUser(ctx, "u")
		if u.UsedBytes >= 6000 || time.Now().After(deadline) {
			break
		}
	}
	if u.UsedBytes > 10_000 || u.UsedBytes < 6000 {
		t.Fatalf("stored usage %d after a full and a refused upload", u.UsedBytes)
	}

	// The admin makes the account read-only; the open session's next
	// command obeys.
	u.Perms = accounts.PresetReadOnly
	if err := admin.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Stor("c.bin", bytes.NewReader([]byte("x"))); replyCode(err) != 550 {
		t.Fatalf("upload after read-only: %v, want 550", err)
	}
	r, err := c.Retr("a.bin")
	if err != nil {
		t.Fatalf("download after read-only: %v", err)
	}
	n, _ := io.Copy(io.Discard, r)
	r.Close()
	if n != 6000 {
		t.Fatalf("downloaded %d bytes", n)
	}

	// Disabled: new logins refused at once.
	u.Disabled = true
	admin.UpdateUser(ctx, u)
	if err := dial(t, srv.Addr).Login("u", "pw"); replyCode(err) != 530 {
		t.Fatalf("login of a disabled account: %v, want 530", err)
	}
}

func TestFTPAnonymousDropBox(t *testing.T) {
	ctx := context.Background()
	pub := t.TempDir()
	os.WriteFile(filepath.Join(pub, "readme.txt"), []byte("hello"), 0o644)
	db, err := accounts.Open(ctx, t.TempDir(), accounts.Options{Argon2: cheap, Anonymous: true,
		AnonymousHome: pub, AnonymousIncoming: "incoming"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := serveDB(t, db)
	c := dial(t, srv.Addr)
	if err := c.Login("anonymous", "guest@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List("/"); err != nil {
		t.Fatalf("anonymous LIST /: %v", err)
	}
	r, err := c.Retr("readme.txt")
	if err != nil {
		t.Fatalf("anonymous download: %v", err)
	}
	r.Close()
	if err := c.Stor("/evil.txt", bytes.NewReader([]byte("x"))); replyCode(err) != 550 {
		t.Fatalf("anonymous upload to the read-only root: %v, want 550", err)
	}
	if err := c.Stor("/incoming/drop.txt", bytes.NewReader([]byte("dropped"))); err != nil {
		t.Fatalf("anonymous upload to incoming: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(pub, "incoming", "drop.txt")); err != nil || string(b) != "dropped" {
		t.Fatalf("dropped file: %q, %v", b, err)
	}
	if err := c.MakeDir("/incoming/batch"); err != nil {
		t.Fatalf("anonymous MKD in incoming: %v", err)
	}
	if err := c.MakeDir("/nope"); replyCode(err) != 550 {
		t.Fatalf("anonymous MKD in the read-only root: %v, want 550", err)
	}
	if _, err := c.Retr("/incoming/drop.txt"); replyCode(err) != 550 {
		t.Fatalf("anonymous download from the drop box: %v, want 550", err)
	}
	if err := c.Delete("/readme.txt"); replyCode(err) != 550 {
		t.Fatalf("anonymous delete: %v, want 550", err)
	}
}

// Issue 9: anonymous uploads had no byte limit. The drop box has a byte and
// a file quota, on by default, shared by all anonymous visitors, counting
// what it held at start.
func TestFTPAnonymousDropBoxHasAQuotaByDefault(t *testing.T) {
	ctx := context.Background()
	pub := t.TempDir()
	os.MkdirAll(filepath.Join(pub, "incoming"), 0o755)
	// A previous run's uploads count: a restart does not hand the quota out again.
	os.WriteFile(filepath.Join(pub, "incoming", "old.bin"), make([]byte, 1000), 0o644)
	def, err := accounts.Open(ctx, t.TempDir(), accounts.Options{Argon2: cheap, Anonymous: true,
		AnonymousHome: pub, AnonymousIncoming: "incoming"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := def.Login(ctx, "anonymous", "x", accounts.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if u := s.User(); u.QuotaBytes <= 0 || u.QuotaFiles <= 0 {
		t.Errorf("default anonymous quota: %d bytes, %d files; want both on", u.QuotaBytes, u.QuotaFiles)
	}
	s.Close()
	def.Close()

	db, err := accounts.Open(ctx, t.TempDir(), accounts.Options{Argon2: cheap, Anonymous: true,
		AnonymousHome: pub, AnonymousIncoming: "incoming", AnonymousQuotaBytes: 5000, AnonymousQuotaFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := serveDB(t, db)
	a, b := dial(t, srv.Addr), dial(t, srv.Addr)
	for _, c := range []*jftp.ServerConn{a, b} {
		if err := c.Login("anonymous", "guest@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Stor("/incoming/one.bin", bytes.NewReader(make([]byte, 3000))); err != nil {
		t.Fatalf("an upload within the quota: %v", err)
	}
	// 1000 + 3000 stored: another visitor's 2000 bytes pass 5000.
	if err := b.Stor("/incoming/two.bin", bytes.NewReader(make([]byte, 2000))); replyCode(err) != 552 {
		t.Fatalf("an upload past the anonymous byte quota: %v, want 552", err)
	}
	if err := b.Stor("/incoming/small.bin", bytes.NewReader(make([]byte, 10))); err != nil {
		t.Fatalf("a small upload within both quotas: %v", err)
	}
	if err := a.Stor("/incoming/fourth.bin", bytes.NewReader([]byte("x"))); replyCode(err) != 552 {
		t.Fatalf("a fourth file past the anonymous file quota of 3: %v, want 552", err)
	}
}
