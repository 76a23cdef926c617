package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// quotaUser starts a server with one user "q" (password "pw", full
// rights) under a byte and a file quota (0: none), logged in with
// jlaffaye/ftp: the preamble of the quota tests.
func quotaUser(t *testing.T, bytes, files int64) (*ftptest.Server, accounts.User, *jftp.ServerConn) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: bytes, QuotaFiles: files}, "pw")
	return srv, u, login(t, srv.Addr, "q", "pw")
}

func usage(t *testing.T, srv *ftptest.Server, name, pass string) accounts.Usage {
	t.Helper()
	s, err := srv.Auth.Login(context.Background(), name, pass, accounts.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.Quota().Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestQuotaStopsAnUploadExactlyAtTheLimitWith552(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 1 << 20, QuotaFiles: 3}, "pw")
	c := login(t, srv.Addr, "q", "pw")
	err := c.Stor("too-big", bytes.NewReader(randomBytes(t, 3<<20)))
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("over-quota STOR: %v, want 552", err)
	}
	fi, err := os.Stat(filepath.Join(u.Home, "too-big"))
	if err != nil || fi.Size() != 1<<20 {
		t.Fatalf("stored %v bytes (%v), want exactly the quota", fi, err)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 1<<20 || got.UsedFiles != 1 {
		t.Fatalf("usage %+v", got)
	}
	// At the limit, an append stops at once and keeps the file as it was.
	before := fileSum(t, filepath.Join(u.Home, "too-big"))
	if err := c.Append("too-big", bytes.NewReader([]byte("more"))); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("APPE over quota: %v", err)
	}
	if fileSum(t, filepath.Join(u.Home, "too-big")) != before {
		t.Fatal("APPE over quota changed the file")
	}
	// Deleting frees bytes and the file at once.
	if err := c.Delete("too-big"); err != nil {
		t.Fatal(err)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 0 || got.UsedFiles != 0 {
		t.Fatalf("usage after DELE %+v", got)
	}
	// Overwrite frees the old size when the new file replaces it: 2 x 600
	// KiB fits a 1 MiB quota.
	for range 2 {
		if err := c.Stor("same", bytes.NewReader(make([]byte, 600<<10))); err != nil {
			t.Fatalf("overwrite within quota: %v", err)
		}
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 600<<10 || got.UsedFiles != 1 {
		t.Fatalf("usage after overwrite %+v", got)
	}
	// File quota: the 4th file is refused before any byte moves.
	for i := range 2 {
		if err := c.Stor(fmt.Sprint("f", i), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Stor("f-too-many", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("file quota: %v", err)
	}
	// Rename over an existing file frees the replaced one.
	if err := c.Rename("f0", "f1"); err != nil {
		t.Fatal(err)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedFiles != 2 || got.UsedBytes != 600<<10+1 {
		t.Fatalf("usage after rename-over %+v", got)
	}
}

func TestConcurrentSessionsNeverTogetherPassTheQuota(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 2 << 20}, "pw")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := jftp.Dial(srv.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Quit()
			c.Login("q", "pw")
			c.Stor(fmt.Sprint("part", i), bytes.NewReader(make([]byte, 1<<20)))
		}()
	}
	wg.Wait()
	var total int64
	ents, _ := os.ReadDir(u.Home)
	for _, e := range ents {
		fi, _ := e.Info()
		total += fi.Size()
	}
	if total > 2<<20 {
		t.Fatalf("stored %d bytes, quota 2 MiB", total)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != total {
		t.Fatalf("usage %d, on disk %d", got.UsedBytes, total)
	}
}

func TestPermissionRefusalsChangeNothing(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	ro := srv.Users.Add("reader", "pw", accounts.PresetReadOnly)
	drop := srv.Users.Add("dropper", "pw", accounts.PresetUploadOnly)
	noOver := srv.Users.Add("noover", "pw", accounts.PresetFull&^accounts.PermOverwrite&^accounts.PermAppend)
	for _, h := range []string{ro, drop, noOver} {
		writeFile(t, filepath.Join(h, "existing"), []byte("original"))
		os.Mkdir(filepath.Join(h, "dir"), 0o755)
	}
	r := dialRaw(t, srv.Addr)
	r.login("reader", "pw")
	for _, cmd := range []string{"STOR new", "APPE existing", "STOR existing", "DELE existing", "MKD d2", "RMD dir", "RNFR existing", "MFMT 20200101000000 existing", "STOU"} {
		dataConn(t, r)
		if code, msg := r.send(cmd); code != 550 {
			t.Errorf("read-only %s: %d %q, want 550", cmd, code, msg)
		}
	}
	dataConn(t, r)
	r.must("RETR existing", 150)
	r.expect(226)

	d := dialRaw(t, srv.Addr)
	d.login("dropper", "pw")
	for _, cmd := range []string{"RETR existing", "LIST", "NLST", "MLSD", "STAT /", "STOR existing", "HASH existing", "XMD5 existing", "SIZE existing"} {
		dataConn(t, d)
		if code, msg := d.send(cmd); code != 550 {
			t.Errorf("upload-only %s: %d %q, want 550", cmd, code, msg)
		}
	}
	dc := dataConn(t, d)
	d.must("STOR dropped", 150)
	dc.Write([]byte("in"))
	dc.Close()
	d.expect(226)
	d.must("MKD sub", 257)

	n := dialRaw(t, srv.Addr)
	n.login("noover", "pw")
	dataConn(t, n)
	n.must("STOR existing", 550)
	n.must("REST 2", 350)
	dataConn(t, n)
	n.must("STOR existing", 550)
	n.must("RNFR dir", 350)
	n.must("RNTO existing", 550) // would replace a file: overwrite permission
	for _, h := range []string{ro, drop, noOver} {
		if b, _ := os.ReadFile(filepath.Join(h, "existing")); string(b) != "original" {
			t.Fatalf("a refused command changed the file: %q", b)
		}
	}
}

func TestPerFolderPermissions(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "p", Perms: accounts.PresetReadOnly,
		PathPerms: []accounts.PathPerm{{Dir: "/incoming", Perms: accounts.PresetUploadOnly}}}, "pw")
	os.Mkdir(filepath.Join(u.Home, "incoming"), 0o755)
	r := dialRaw(t, srv.Addr)
	r.login("p", "pw")
	dataConn(t, r)
	r.must("STOR top.txt", 550)
	dc := dataConn(t, r)
	r.must("STOR incoming/in.txt", 150)
	dc.Write([]byte("x"))
	dc.Close()
	r.expect(226)
	dataConn(t, r)
	r.must("LIST incoming", 550)
	r.must("CWD incoming", 250)
	dataConn(t, r)
	r.must("LIST", 550)
}

func TestFiftyConcurrentSessionsMoveFilesIntact(t *testing.T) {
	// Fifty connections of one address at once are more than the default
	// pre-login cap per address (prelogin.go): this test is about
	// concurrency, not that limit.
	srv, home := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.MaxPreLoginPerIP = -1 }})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := jftp.Dial(srv.Addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Quit()
			if err := c.Login("alice", "secret"); err != nil {
				errs <- err
				return
			}
			data := randomBytes(t, 64<<10+i*4099)
			name := fmt.Sprintf("c%02d.bin", i)
			if err := c.Stor(name, bytes.NewReader(data)); err != nil {
				errs <- fmt.Errorf("%s: STOR: %w", name, err)
				return
			}
			r, err := c.Retr(name)
			if err != nil {
				errs <- fmt.Errorf("%s: RETR: %w", name, err)
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || sum(got) != sum(data) {
				errs <- fmt.Errorf("%s: downloaded copy differs (%v)", name, err)
				return
			}
			if fileSum(t, filepath.Join(home, name)) != sum(data) {
				errs <- fmt.Errorf("%s: stored copy differs", name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEventsXferLogAndStructuredLogs(t *testing.T) {
	var mu sync.Mutex
	var events []ftp.Event
	var xl syncBuf
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(e ftp.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
		c.XferLog = &xl
	}})
	srv.Users.Add("alice", "secret", accounts.PresetFull)
	c := login(t, srv.Addr, "alice", "secret")
	if err := c.Stor("ev.bin", bytes.NewReader(make([]byte, 4321))); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	bad, _ := jftp.Dial(srv.Addr)
	bad.Login("alice", "wrong-password")
	bad.Quit()
	srv.Engine.Shutdown(t.Context())
	mu.Lock()
	kinds := map[ftp.EventKind]int{}
	for _, e := range events {
		kinds[e.Kind]++
		if e.Kind == ftp.TransferDone && (e.Path != "/ev.bin" || !e.Upload || e.Bytes != 4321 || e.User != "alice" || e.Err != nil) {
			t.Errorf("transfer event %+v", e)
		}
	}
	mu.Unlock()
	if kinds[ftp.SessionStart] != 2 || kinds[ftp.SessionEnd] != 2 || kinds[ftp.TransferDone] != 1 || kinds[ftp.LoginFailed] != 1 || kinds[ftp.Login] != 1 {
		t.Fatalf("events %v", kinds)
	}
	line := xl.String()
	if !strings.Contains(line, " 4321 /ev.bin b _ i r alice ftp 0 * c\n") {
		t.Fatalf("xferlog line %q", line)
	}
	logs := srv.Logs()
	for _, key := range []string{"session=", "remote=", "user=alice", "cmd=", "code=226", "bytes=4321", "path=/ev.bin", "duration="} {
		if !strings.Contains(logs, key) {
			t.Errorf("logs lack %q", key)
		}
	}
	if strings.Contains(logs, "secret") || strings.Contains(logs, "wrong-password") {
		t.Fatal("a password reached the log")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestAdminChangesApplyAtTheNextCommand(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "live", Perms: accounts.PresetFull}, "pw")
	r := dialRaw(t, srv.Addr)
	r.login("live", "pw")
	r.must("MKD a", 257)
	u.Perms = accounts.PresetReadOnly
	srv.Auth.SetUser(u)
	r.must("MKD b", 550)
	u.Disabled = true
	srv.Auth.SetUser(u)
	r.must("PWD", 421)
	if !r.closed() {
		t.Fatal("session of a disabled account stayed open")
	}
}
