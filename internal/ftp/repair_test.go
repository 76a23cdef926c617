package ftp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/pgtest"
)

// Regression (issue 9, "quota bookkeeping errors are dropped on the
// upload path"): a settle that fails leaves bytes on disk that usage does
// not have. Here the user store is PostgreSQL and it goes down in the
// middle of an upload for longer than a settle is retried: the bytes of
// the chunk being settled are stored, the settle is lost. Once the
// database is back, usage (live and stored) must equal a walk of the home
// again: the engine logs the error and counts the home at the first quiet
// moment (ftp.RepairUsage). Before, the error was dropped and usage
// stayed short until a manual rescan.
func TestUsageLostToAStoreOutageIsRepaired(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	db, err := accounts.Open(ctx, t.TempDir(), accounts.Options{DB: pg.NewDB(t), Argon2: helperArgon2, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	home := t.TempDir()
	if err := db.AddUser(ctx, accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull, QuotaBytes: 100 << 20}, "pw"); err != nil {
		t.Fatal(err)
	}
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Auth = db }})
	r := dialRaw(t, srv.Addr)
	r.c.SetDeadline(time.Now().Add(2 * time.Minute))
	r.login("q", "pw")
	r.must("TYPE I", 200)
	writeFile(t, home+"/old", randomBytes(t, 1000)) // not counted: gone before the check
	r.must("DELE old", 250)

	dc := dataConn(t, r)
	r.must("STOR new.bin", 150)
	dc.Write(randomBytes(t, 100<<10)) // inside the first reservation (256 KiB)
	time.Sleep(100 * time.Millisecond)
	pg.Stop()
	// The rest of the first reservation and more: its settle meets the
	// outage, and gives up after its retries (15 s).
	dc.Write(randomBytes(t, 300<<10))
	// Back once the settle gave up, before anything else waits as long.
	time.Sleep(18 * time.Second)
	pg.Restart(0)
	code, msg := r.read()
	dc.Close()
	t.Logf("the upload whose settle failed: %d %s", code, msg)
	if !strings.Contains(srv.Logs(), "usage not recorded") {
		t.Fatalf("no settle failed in the outage (the test proves nothing):\n%s", srv.Logs())
	}

	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, f := walkHome(t, home)
		s, err := db.Login(ctx, "q", "pw", accounts.LoginInfo{})
		if err != nil {
			last = err.Error()
			continue
		}
		live, _ := s.Quota().Usage(ctx)
		s.Close()
		stored, err := db.GetUser(ctx, "q")
		if err != nil {
			last = err.Error()
			continue
		}
		last = fmt.Sprintf("live %d bytes %d files, stored %d bytes %d files, on disk %d bytes %d files",
			live.UsedBytes, live.UsedFiles, stored.UsedBytes, stored.UsedFiles, b, f)
		if live.UsedBytes == b && live.UsedFiles == f && stored.UsedBytes == b && stored.UsedFiles == f {
			return
		}
	}
	t.Fatalf("usage after the outage is not what is stored: %s", last)
}
