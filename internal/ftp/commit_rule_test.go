package ftp_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// Tests of the commit rule (ledger.go): usage equals what is stored after
// any interleaving of sessions, and a permission is decided by the rename
// that commits. Issue 9, "Data loss and quota" and "Permissions".

// equalsDisk fails unless the usage of user name equals a walk of home.
// The reply that ends a transfer is sent after its usage is settled, so no
// wait is needed; a short poll covers only the teardown of a killed
// client's session.
func equalsDisk(t *testing.T, srv *ftptest.Server, name, pass, home string) accounts.Usage {
	t.Helper()
	var got accounts.Usage
	var b, f int64
	for deadline := time.Now().Add(3 * time.Second); ; {
		got = usage(t, srv, name, pass)
		b, f = walkHome(t, home)
		if got.UsedBytes == b && got.UsedFiles == f {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %d bytes in %d files, but %d bytes in %d files are stored", got.UsedBytes, got.UsedFiles, b, f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Regression (issue 9): on a full disk, STOR over an existing 2 MiB file
// answered 452 and left it at 0 bytes. A refusal for lack of space keeps
// the original, as the 552 quota refusal does.
func TestFullDiskRefusalKeepsTheOriginal(t *testing.T) {
	home := testenv.MountTmpfs(t, "4m")
	srv := ftptest.Start(t, ftptest.Options{})
	srv.Users.Set(accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull}, "pw")
	c := login(t, srv.Addr, "q", "pw")
	orig := randomBytes(t, 2<<20)
	if err := c.Stor("precious.bin", bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	err := c.Stor("precious.bin", bytes.NewReader(randomBytes(t, 3<<20)))
	if err == nil || !strings.Contains(err.Error(), "452") {
		t.Fatalf("STOR of 3 MiB over 2 MiB on a 4 MiB disk: %v, want 452", err)
	}
	if fileSum(t, filepath.Join(home, "precious.bin")) != sum(orig) {
		t.Fatal("the refusal for lack of space destroyed the original")
	}
	if ents, _ := os.ReadDir(home); len(ents) != 1 {
		t.Fatalf("home holds %d entries, want the original only (no temporary left)", len(ents))
	}
	equalsDisk(t, srv, "q", "pw", home)
	// The same from APPE of a new file: what fitted is kept and counted.
	if err := c.Append("more.bin", bytes.NewReader(randomBytes(t, 3<<20))); err == nil {
		t.Fatal("APPE of 3 MiB with 2 MiB free succeeded")
	}
	equalsDisk(t, srv, "q", "pw", home)
}

// Regression (issue 9, "double truncate"): two sessions each sent REST 1
// and STOR victim.bin (5 MiB) and got 150 before either sent data, then
// sent nothing: the server counted 2 bytes while 5 MiB + 1 were stored.
// A REST below the end now writes a new version through a temporary file
// (the first byte copied, nothing cut in place), so both may run, the last
// to commit wins, and usage equals what is stored however the sessions
// interleave. Two resumes at the end write in place: the second is refused
// (450) before any byte moves.
func TestDoubleTruncateCannotBypassTheQuota(t *testing.T) {
	srv, u, c := quotaUser(t, 10<<20, 0)
	for round := range 4 {
		if err := c.Stor("victim.bin", bytes.NewReader(randomBytes(t, 5<<20))); err != nil {
			t.Fatal(err)
		}
		rest, want, writers := "REST 1", int64(1), 2
		if round%2 == 1 {
			rest, want, writers = "REST 5242880", 5<<20, 1
		}
		a, b := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
		var dcs []func(first bool)
		for _, r := range []*raw{a, b} {
			r.login("q", "pw")
			r.must("TYPE I", 200)
			r.must(rest, 350)
			dc := dataConn(t, r)
			code, msg := r.send("STOR victim.bin")
			switch code {
			case 150:
				dcs = append(dcs, func(first bool) {
					dc.Close()
					// The second rewrite may find the file rewritten to
					// its kept byte before it copied it (under load):
					// 450, try again (TestDoubleTruncateOverTheWire...).
					if code, msg := r.read(); code != 226 && (first || code != 450) {
						t.Fatalf("round %d: end of %s + STOR: %d %s", round, rest, code, msg)
					}
				})
			case 450:
				dc.Close()
			default:
				t.Fatalf("round %d: %s + STOR: %d %s, want 150 or 450 (busy)", round, rest, code, msg)
			}
		}
		if len(dcs) != writers {
			t.Fatalf("round %d: %s: %d writers of one file at once, want %d", round, rest, len(dcs), writers)
		}
		if round%4 == 2 {
			slices.Reverse(dcs)
		}
		for i, end := range dcs {
			end(i == 0)
		}
		got := equalsDisk(t, srv, "q", "pw", u.Home)
		if got.UsedBytes != want {
			t.Fatalf("round %d: %s: usage %d bytes, want %d", round, rest, got.UsedBytes, want)
		}
	}
}

// Regression (issue 9): two sessions replacing the user's only 5 MiB file
// with 1 MiB each at once: both 226, 1 MiB stored, but usage read 6 MiB
// live and 4.25 MiB in the store, and the next 8 MiB upload was refused.
func TestConcurrentOverwritesCountWhatIsStored(t *testing.T) {
	ctx := context.Background()
	db, err := accounts.Open(ctx, t.TempDir(), accounts.Options{Argon2: accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	home := t.TempDir()
	if err := db.AddUser(ctx, accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull, QuotaBytes: 10 << 20}, "pw"); err != nil {
		t.Fatal(err)
	}
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Auth = db }})
	c := login(t, srv.Addr, "q", "pw")
	if err := c.Stor("only.bin", bytes.NewReader(randomBytes(t, 5<<20))); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		b, f := walkHome(t, home)
		s, err := db.Login(ctx, "q", "pw", accounts.LoginInfo{})
		if err != nil {
			t.Fatal(err)
		}
		live, _ := s.Quota().Usage(ctx)
		s.Close()
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		stored, err := db.GetUser(ctx, "q")
		if err != nil {
			t.Fatal(err)
		}
		if live.UsedBytes != b || live.UsedFiles != f || stored.UsedBytes != b || stored.UsedFiles != f {
			t.Fatalf("%s: live usage %d/%d files, stored %d/%d, on disk %d/%d", what,
				live.UsedBytes, live.UsedFiles, stored.UsedBytes, stored.UsedFiles, b, f)
		}
	}
	for round := range 3 {
		a, b := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
		for _, r := range []*raw{a, b} {
			r.login("q", "pw")
			r.must("TYPE I", 200)
		}
		da := dataConn(t, a)
		a.must("STOR only.bin", 150)
		db2 := dataConn(t, b)
		b.must("STOR only.bin", 150)
		// Both are in flight: the original's bytes freed by one of them.
		da.Write(randomBytes(t, 1<<20))
		db2.Write(randomBytes(t, 1<<20))
		if round%2 == 0 {
			da.Close()
			a.expect(226)
			db2.Close()
			b.expect(226)
		} else {
			db2.Close()
			b.expect(226)
			da.Close()
			a.expect(226)
		}
		check("after two overwrites at once")
	}
	if err := c.Stor("big.bin", bytes.NewReader(randomBytes(t, 8<<20))); err != nil {
		t.Fatalf("8 MiB with 1 MiB of 10 used: %v", err)
	}
	check("after the 8 MiB upload")
}

// Regression (issue 9): the errors returned while settling usage were
// dropped, so a full file quota left a file on disk that was not counted:
// an overwrite whose original was deleted meanwhile became a new file,
// and the refused Adjust(0, +1) was ignored. Now the file quota is asked
// before the rename, and a refusal discards the upload.
func TestAnOverwriteWhoseOriginalVanishedIsCountedOrRefused(t *testing.T) {
	srv, u, c := quotaUser(t, 0, 1)
	if err := c.Stor("a", bytes.NewReader(randomBytes(t, 1000))); err != nil {
		t.Fatal(err)
	}
	a := dialRaw(t, srv.Addr)
	a.login("q", "pw")
	a.must("TYPE I", 200)
	da := dataConn(t, a)
	a.must("STOR a", 150)
	da.Write(randomBytes(t, 500))
	if err := c.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("b", bytes.NewReader(randomBytes(t, 100))); err != nil {
		t.Fatal(err) // the one file of the quota is b's now
	}
	da.Close()
	if code, msg := a.read(); code != 552 {
		t.Fatalf("the overwrite that became a file past the file quota: %d %s, want 552", code, msg)
	}
	if _, err := os.Lstat(filepath.Join(u.Home, "a")); !os.IsNotExist(err) {
		t.Fatalf("a refused upload was put in place: %v", err)
	}
	equalsDisk(t, srv, "q", "pw", u.Home)
}

// Two sessions upload one new name at once, both past the "exists?" look.
// A user who may replace gets last writer wins; an upload-only user (a
// drop box) must never replace: the commit itself refuses (the second
// upload gets 550 and the first file stays). Regression (issue 9): the
// failed no-replace rename fell back to a plain rename that replaced.
func TestTwoUploadsOfOneNewNameCountOneFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		perms accounts.Perm
	}{{"full rights: last writer wins", accounts.PresetFull}, {"upload only: first writer wins", accounts.PresetUploadOnly}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.Start(t, ftptest.Options{})
			u := srv.Users.Set(accounts.User{Name: "q", Perms: tc.perms}, "pw")
			a, b := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
			for _, r := range []*raw{a, b} {
				r.login("q", "pw")
				r.must("TYPE I", 200)
			}
			da := dataConn(t, a)
			a.must("STOR same", 150)
			db := dataConn(t, b)
			b.must("STOR same", 150) // both saw no file named "same"
			first := randomBytes(t, 1000)
			da.Write(first)
			da.Close()
			a.expect(226)
			second := randomBytes(t, 3000)
			db.Write(second)
			db.Close()
			want := second
			if tc.perms.Has(accounts.PermOverwrite) {
				b.expect(226)
			} else {
				b.expect(550)
				want = first
			}
			if fileSum(t, filepath.Join(u.Home, "same")) != sum(want) {
				t.Fatal("the file holds the wrong upload")
			}
			got := equalsDisk(t, srv, "q", "pw", u.Home)
			if got.UsedFiles != 1 || got.UsedBytes != int64(len(want)) {
				t.Fatalf("usage %+v, want %d bytes in 1 file", got, len(want))
			}
			if ents, _ := os.ReadDir(u.Home); len(ents) != 1 {
				t.Fatalf("home holds %d entries, want 1 (no temp file left)", len(ents))
			}
		})
	}
}

// STOU has the same shape: the name it announced in its 150 can be taken
// by another session before it commits; STOU never replaces, whoever the
// user is.
func TestSTOUNeverReplacesAFileCreatedMeanwhile(t *testing.T) {
	for _, perms := range []accounts.Perm{accounts.PresetFull, accounts.PresetUploadOnly} {
		srv := ftptest.Start(t, ftptest.Options{})
		u := srv.Users.Set(accounts.User{Name: "q", Perms: perms}, "pw")
		a, b := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
		for _, r := range []*raw{a, b} {
			r.login("q", "pw")
			r.must("TYPE I", 200)
		}
		da := dataConn(t, a)
		if msg := a.must("STOU x", 150); !strings.Contains(msg, "FILE: x") {
			t.Fatalf("STOU x: %q", msg)
		}
		other := randomBytes(t, 700)
		db := dataConn(t, b)
		b.must("STOR x", 150)
		db.Write(other)
		db.Close()
		b.expect(226)
		da.Write(randomBytes(t, 300))
		da.Close()
		a.expect(550)
		if fileSum(t, filepath.Join(u.Home, "x")) != sum(other) {
			t.Fatalf("%v: STOU replaced the file another session created meanwhile", perms)
		}
		equalsDisk(t, srv, "q", "pw", u.Home)
	}
}

// RNTO over an existing file is decided by the rename (RENAME_NOREPLACE)
// for a user who may not replace.
func TestRNTOOfAnUploadOnlyUserNeverReplaces(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetUploadOnly | accounts.PermRename}, "pw")
	writeFile(t, filepath.Join(u.Home, "keep"), []byte("keep"))
	writeFile(t, filepath.Join(u.Home, "mine"), []byte("mine"))
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	r.must("RNFR mine", 350)
	r.must("RNTO keep", 550)
	if b, _ := os.ReadFile(filepath.Join(u.Home, "keep")); string(b) != "keep" {
		t.Fatalf("RNTO replaced a file for a user who may not: %q", b)
	}
	r.must("RNFR mine", 350)
	r.must("RNTO new", 250)
	equalsDisk(t, srv, "q", "pw", u.Home)
}
