package accounts

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func openTestDB(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	if opts.Argon2.Memory == 0 {
		opts.Argon2 = testArgon2
	}
	db, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustLogin(t *testing.T, a Authenticator, name, pw string) Session {
	t.Helper()
	s, err := a.Login(context.Background(), name, pw, local)
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenTwiceKeepsDataAndSchemaVersion(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	db := openTestDB(t, dir, Options{})
	if err := db.AddUser(ctx, User{Name: "alice", Perms: PresetFull}, "pw"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := openTestDB(t, dir, Options{MustExist: true})
	u, err := db2.GetUser(ctx, "alice")
	if err != nil || u.Home != filepath.Join(dir, "home", "alice") {
		t.Fatalf("after reopen: %+v, %v", u, err)
	}
	if fi, err := os.Stat(u.Home); err != nil || !fi.IsDir() {
		t.Fatalf("home not created: %v", err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	var mode string
	raw.QueryRow("PRAGMA user_version").Scan(&v)
	raw.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if v != SchemaVersion() || v < 1 || mode != "wal" {
		t.Fatalf("user_version %d (want %d), journal_mode %q", v, SchemaVersion(), mode)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	openTestDB(t, dir, Options{}).Close()
	raw, _ := sql.Open("sqlite", filepath.Join(dir, "wharf.db"))
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err := Open(context.Background(), dir, Options{Argon2: testArgon2})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema = %v", err)
	}
}

func TestOpenRefusesDirectoriesNotOurs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "thesis.tex"), []byte("x"), 0o600)
	if _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrNotDataDir) {
		t.Fatalf("Open(non-empty foreign dir) = %v, want ErrNotDataDir", err)
	}
	if _, err := Open(context.Background(), filepath.Join(dir, "missing"), Options{MustExist: true}); !errors.Is(err, ErrNoDataDir) {
		t.Fatalf("Open(missing, MustExist) = %v, want ErrNoDataDir", err)
	}
	empty := t.TempDir()
	openTestDB(t, empty, Options{}) // an empty directory is adopted
}

func TestLockServerRefusesSecondServerWithPid(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockServer(dir)
	want := fmt.Sprintf("data directory is in use by another wharf serve (pid %d)", os.Getpid())
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second LockServer = %v, want %q", err, want)
	}
	// Admin commands open the database beside the server.
	openTestDB(t, dir, Options{MustExist: true})
	unlock()
	unlock2, err := LockServer(dir)
	if err != nil {
		t.Fatalf("LockServer after unlock: %v", err)
	}
	unlock2()
}

func TestDBLoginRefusesUnknownAndWrongAlike(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "alice", Perms: PresetFull}, "pw")
	s := mustLogin(t, db, "alice", "pw")
	if u := s.User(); u.Name != "alice" || u.Perms != PresetFull {
		t.Fatalf("User() = %+v", u)
	}
	for _, c := range [][2]string{{"alice", "bad"}, {"bob", "pw"}, {"anonymous", "x"}, {"ftp", ""}} {
		if _, err := db.Login(ctx, c[0], c[1], local); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrBadCredentials", c[0], c[1], err)
		}
	}
}

func TestDBLoginRulesAndSessionLimit(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull, MaxSessions: 1}, "pw")
	u, _ := db.GetUser(ctx, "u")
	check := func(edit func(*User), info LoginInfo, want error) {
		t.Helper()
		v := u
		edit(&v)
		if err := db.UpdateUser(ctx, v); err != nil {
			t.Fatal(err)
		}
		s, err := db.Login(ctx, "u", "pw", info)
		if !errors.Is(err, want) || want == nil && err != nil {
			t.Fatalf("Login = %v, want %v", err, want)
		}
		if s != nil {
			s.Close()
		}
	}
	remote := LoginInfo{Remote: netip.MustParseAddr("198.51.100.1")}
	check(func(u *User) { u.Disabled = true; u.TLSRequired = true }, remote, ErrDisabled)
	check(func(u *User) { u.Expires = time.Now().Add(-time.Second); u.TLSRequired = true }, remote, ErrExpired)
	check(func(u *User) {
		u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		u.TLSRequired = true
	}, remote, ErrAddressRefused)
	check(func(u *User) { u.TLSRequired = true }, remote, ErrTLSRequired)
	check(func(u *User) {}, remote, nil)

	s := mustLogin(t, db, "u", "pw")
	if _, err := db.Login(ctx, "u", "pw", local); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("second session = %v, want ErrTooManySessions", err)
	}
	s.Close()
	mustLogin(t, db, "u", "pw")
}

func TestDBQuotaConcurrentWritersAndStoredUsageIsTheSum(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir, Options{})
	const limit = 60_000
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaBytes: limit}, "pw")
	total := testQuotaConcurrent(t, func() Session { return mustLogin(t, db, "u", "pw") }, limit)
	su, err := db.Store().GetUser(ctx, "u")
	if err != nil || su.UsedBytes != total {
		t.Fatalf("stored usage %d, %v; writers wrote %d", su.UsedBytes, err, total)
	}
	// Usage survives a restart.
	db.Close()
	db2 := openTestDB(t, dir, Options{})
	q := mustLogin(t, db2, "u", "pw").Quota()
	if u, _ := q.Usage(ctx); u.UsedBytes != total || u.QuotaBytes != limit {
		t.Fatalf("after restart: %+v, want %d used", u, total)
	}
	if _, err := q.Reserve(ctx, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Reserve on a full quota after restart = %v", err)
	}
	// Deleting frees at once, and the store follows.
	if err := q.Adjust(ctx, -10_000, -1); err != nil {
		t.Fatal(err)
	}
	if g, err := q.Reserve(ctx, 20_000); g != 10_000 || err != nil {
		t.Fatalf("Reserve after delete = %d, %v", g, err)
	}
	if su, _ := db2.Store().GetUser(ctx, "u"); su.UsedBytes != total-10_000 {
		t.Fatalf("stored usage after Adjust = %d", su.UsedBytes)
	}
}

func TestAdminChangesReachRunningServerWithinPollInterval(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openTestDB(t, dir, Options{PollInterval: 50 * time.Millisecond})
	admin := openTestDB(t, dir, Options{MustExist: true})
	if err := admin.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaBytes: 100}, "pw"); err != nil {
		t.Fatal(err)
	}
	// A user added by another process logs in at once.
	s := mustLogin(t, server, "u", "pw")
	s.User() // first poll: records the data version

	u, _ := admin.GetUser(ctx, "u")
	u.Perms, u.QuotaBytes = PresetReadOnly, 500
	if err := admin.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	time.Sleep(server.opts.PollInterval + 10*time.Millisecond)
	if got := s.User(); got.Perms != PresetReadOnly || got.QuotaBytes != 500 {
		t.Fatalf("after the poll interval, User() = perms %v quota %d", got.Perms, got.QuotaBytes)
	}
	if g, err := s.Quota().Reserve(ctx, 1000); g != 500 || err != nil {
		t.Fatalf("Reserve under the new quota = %d, %v", g, err)
	}
	s.Quota().Commit(ctx, 500, 0)

	// A password change elsewhere locks out the old password at once, even
	// though the server cached its success.
	mustLogin(t, server, "u", "pw")
	if err := admin.SetPassword(ctx, "u", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Login(ctx, "u", "pw", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after change elsewhere = %v", err)
	}
	mustLogin(t, server, "u", "new")

	// Deletion elsewhere strips the open session of every permission.
	if err := admin.DeleteUser(ctx, "u", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(server.opts.PollInterval + 10*time.Millisecond)
	if got := s.User(); !got.Disabled || got.Perms != PermNone {
		t.Fatalf("session of a deleted user: %+v", got)
	}
}

func TestRescanCorrectsUsageAfterFilesChangedBehindServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openTestDB(t, dir, Options{PollInterval: 20 * time.Millisecond})
	admin := openTestDB(t, dir, Options{MustExist: true})
	admin.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaBytes: 10_000, QuotaFiles: 5}, "pw")
	s := mustLogin(t, server, "u", "pw")
	q := s.Quota()
	g, _ := q.Reserve(ctx, 100)
	q.Commit(ctx, g, 100)
	q.Adjust(ctx, 0, 1)
	// The server writes these deltas within its flush interval (20 ms
	// here); a rescan before that would count them twice.
	time.Sleep(60 * time.Millisecond)

	home := s.User().Home
	os.MkdirAll(filepath.Join(home, "sub"), 0o755)
	os.WriteFile(filepath.Join(home, "a"), make([]byte, 3000), 0o644)
	os.WriteFile(filepath.Join(home, "sub", "b"), make([]byte, 4000), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(home, "link")) // not followed, not counted

	// While an upload is in flight the server keeps its own figures.
	res, err := q.Reserve(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := admin.Rescan(ctx, "u")
	if err != nil || got.UsedBytes != 7000 || got.UsedFiles != 2 {
		t.Fatalf("Rescan = %+v, %v", got, err)
	}
	time.Sleep(40 * time.Millisecond)
	if u := s.User(); u.UsedBytes != 100 {
		t.Fatalf("usage replaced during an upload: %d", u.UsedBytes)
	}
	q.Commit(ctx, res, 0)
	time.Sleep(40 * time.Millisecond)
	if u := s.User(); u.UsedBytes != 7000 || u.UsedFiles != 2 {
		t.Fatalf("after rescan and a quiet account, User() usage = %d/%d, want 7000/2", u.UsedBytes, u.UsedFiles)
	}
	if g, err := q.Reserve(ctx, 10_000); g != 3000 || err != nil {
		t.Fatalf("Reserve after rescan = %d, %v; want 3000", g, err)
	}
}

func TestRescanInSameProcess(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{PollInterval: time.Millisecond})
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	s := mustLogin(t, db, "u", "pw")
	os.WriteFile(filepath.Join(s.User().Home, "f"), make([]byte, 1234), 0o644)
	if _, err := db.Rescan(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if u := s.User(); u.UsedBytes != 1234 || u.UsedFiles != 1 {
		t.Fatalf("usage after in-process rescan = %d/%d", u.UsedBytes, u.UsedFiles)
	}
	if _, err := db.Rescan(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rescan(nobody) = %v", err)
	}
}

func TestUnknownUserCostsLikeWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{Argon2: DefaultArgon2()})
	db.AddUser(ctx, User{Name: "alice"}, "pw")
	measure := func(name string) time.Duration {
		start := time.Now()
		if _, err := db.Login(ctx, name, "wrong", local); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	var unknown, wrong []time.Duration
	for range 7 {
		unknown = append(unknown, measure("nobody"))
		wrong = append(wrong, measure("alice"))
	}
	slices.Sort(unknown)
	slices.Sort(wrong)
	ratio := float64(unknown[3]) / float64(wrong[3])
	t.Logf("median unknown %v, wrong password %v, ratio %.2f", unknown[3], wrong[3], ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown user costs %.2fx a wrong password; a client could probe names", ratio)
	}
}

func TestDBLoginCache(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "u"}, "pw")
	n0 := db.v.fullChecks.Load()
	mustLogin(t, db, "u", "pw")
	mustLogin(t, db, "u", "pw")
	mustLogin(t, db, "u", "pw")
	if n := db.v.fullChecks.Load() - n0; n != 1 {
		t.Fatalf("three good logins did %d full checks, want 1", n)
	}
	for range 3 {
		db.Login(ctx, "u", "bad", local)
	}
	if n := db.v.fullChecks.Load() - n0; n != 4 {
		t.Fatalf("failed logins: %d full checks in all, want 4 (never cached)", n)
	}
	db.SetPassword(ctx, "u", "new")
	if _, err := db.Login(ctx, "u", "pw", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("cached old password after change = %v", err)
	}
}

func TestBcryptImportLogsIn(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	h, _ := bcrypt.GenerateFromPassword([]byte("legacy"), bcrypt.MinCost)
	file := fmt.Sprintf(`{"format":"wharf-users","version":1,"users":[
		{"name":"old","password_hash":%q,"perms":"read-only","quota_bytes":1000,"allow_from":["127.0.0.0/8"]}]}`, h)
	n, err := db.Import(ctx, strings.NewReader(file), ImportOptions{})
	if err != nil || n != 1 {
		t.Fatalf("Import = %d, %v", n, err)
	}
	s := mustLogin(t, db, "old", "legacy")
	if u := s.User(); u.Perms != PresetReadOnly || u.QuotaBytes != 1000 || u.Home != db.DefaultHome("old") {
		t.Fatalf("imported user = %+v", u)
	}
	if _, err := db.Login(ctx, "old", "wrong", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password on bcrypt user = %v", err)
	}
	if _, err := db.Import(ctx, strings.NewReader(file), ImportOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second import = %v, want ErrExists", err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openTestDB(t, t.TempDir(), Options{})
	exp := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	src.AddUser(ctx, User{Name: "a", Perms: PermList | PermUpload, QuotaBytes: 5 << 20, Expires: exp,
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, MaxSessions: 4, RateDown: 100}, "pa")
	src.AddUser(ctx, User{Name: "b", Perms: PresetFull, TLSRequired: true}, "pb")
	var buf bytes.Buffer
	if err := src.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `"pa"`) || !strings.Contains(buf.String(), "$argon2id$") {
		t.Fatalf("export must hold hashes, never passwords:\n%s", buf.String())
	}
	dst := openTestDB(t, t.TempDir(), Options{})
	if n, err := dst.Import(ctx, bytes.NewReader(buf.Bytes()), ImportOptions{DefaultHomes: true}); err != nil || n != 2 {
		t.Fatalf("Import = %d, %v", n, err)
	}
	a, _ := dst.GetUser(ctx, "a")
	if a.Perms != PermList|PermUpload || a.QuotaBytes != 5<<20 || !a.Expires.Equal(exp) || len(a.AllowFrom) != 1 ||
		a.MaxSessions != 4 || a.RateDown != 100 || a.Home != dst.DefaultHome("a") {
		t.Fatalf("imported a = %+v", a)
	}
	if _, err := dst.Login(ctx, "b", "pb", LoginInfo{Remote: local.Remote}); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("imported b without TLS = %v, want ErrTLSRequired", err)
	}
	s, err := dst.Login(ctx, "b", "pb", LoginInfo{Remote: local.Remote, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestImportRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	for name, file := range map[string]string{
		"not json":     `nope`,
		"wrong format": `{"format":"other","version":1,"users":[]}`,
		"bad hash":     `{"format":"wharf-users","version":1,"users":[{"name":"x","password_hash":"plain"}]}`,
		"bad name":     `{"format":"wharf-users","version":1,"users":[{"name":"../x","password_hash":"$2b$04$abcdefghijklmnopqrstuu5W7ldH1YhQx1RRLA9EHTPaUn7tTA1AW"}]}`,
		"relative home": `{"format":"wharf-users","version":1,"users":[{"name":"x","home":"rel",
			"password_hash":"$2b$04$abcdefghijklmnopqrstuu5W7ldH1YhQx1RRLA9EHTPaUn7tTA1AW"}]}`,
	} {
		if _, err := db.Import(ctx, strings.NewReader(file), ImportOptions{}); err == nil {
			t.Errorf("%s: Import accepted it", name)
		}
	}
	if users, _ := db.ListUsers(ctx); len(users) != 0 {
		t.Fatalf("a refused import left users: %+v", users)
	}
}

func TestHomeRules(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	db := openTestDB(t, filepath.Join(base, "data"), Options{})
	if err := db.AddUser(ctx, User{Name: "a", Home: filepath.Join(base, "homes", "a")}, "pw"); err != nil {
		t.Fatal(err)
	}
	for home, want := range map[string]string{
		"relative/dir":                           "absolute",
		"/":                                      "root",
		filepath.Join(base, "homes", "a", "x"):   "inside the home of user a",
		filepath.Join(base, "homes"):             "holds the home of user a",
		base:                                     "contains the data directory",
		filepath.Join(base, "data"):              "contains the data directory",
		filepath.Join(base, "data", "elsewhere"): "inside the data directory",
	} {
		err := db.AddUser(ctx, User{Name: "b", Home: home}, "pw")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("home %s: %v, want %q", home, err, want)
		}
	}
	for _, name := range []string{"", ".hidden", "-x", "a/b", "..", "é", strings.Repeat("x", 65)} {
		if err := db.AddUser(ctx, User{Name: name}, "pw"); err == nil {
			t.Errorf("AddUser(%q) accepted the name", name)
		}
	}
	if err := db.AddUser(ctx, User{Name: "a"}, "pw"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate AddUser = %v", err)
	}
	if err := db.AddUser(ctx, User{Name: "A.b_c-1"}, "pw"); err != nil {
		t.Errorf("AddUser of a valid name: %v", err)
	}
}

func TestDeletePurgeRemovesHome(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "a"}, "pw")
	db.AddUser(ctx, User{Name: "b"}, "pw")
	os.WriteFile(filepath.Join(db.DefaultHome("a"), "f"), []byte("x"), 0o644)
	if err := db.DeleteUser(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db.DefaultHome("a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("purged home still there: %v", err)
	}
	if err := db.DeleteUser(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db.DefaultHome("b")); err != nil {
		t.Fatalf("delete without purge removed the home: %v", err)
	}
	if err := db.DeleteUser(ctx, "b", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice = %v", err)
	}
}

func TestAnonymousIsOffByDefaultAndReadOnlyWithDropBox(t *testing.T) {
	ctx := context.Background()
	pub := t.TempDir()
	db := openTestDB(t, t.TempDir(), Options{Anonymous: true, AnonymousHome: pub, AnonymousIncoming: "incoming"})
	for _, name := range []string{"anonymous", "ftp"} {
		s, err := db.Login(ctx, name, "guest@example.com", local)
		if err != nil {
			t.Fatalf("Login(%s): %v", name, err)
		}
		u := s.User()
		if u.Home != pub || u.Perms != PresetReadOnly || u.PermsFor("/incoming/f") != PresetUploadOnly ||
			u.PermsFor("/readme") != PresetReadOnly {
			t.Fatalf("anonymous user = %+v", u)
		}
		s.Close()
	}
	if fi, err := os.Stat(filepath.Join(pub, "incoming")); err != nil || !fi.IsDir() {
		t.Fatalf("incoming folder not created: %v", err)
	}
	if _, err := Open(ctx, t.TempDir(), Options{Anonymous: true, AnonymousHome: pub, AnonymousIncoming: "../up"}); err == nil {
		t.Fatal("an incoming folder outside the home was accepted")
	}
	base := t.TempDir()
	if _, err := Open(ctx, filepath.Join(base, "data"), Options{Anonymous: true, AnonymousHome: base}); err == nil {
		t.Fatal("an anonymous home holding the data directory (and its hashes) was accepted")
	}
	// A relative home (the default DATA/anonymous of a relative --data) is
	// taken relative to the working directory.
	t.Chdir(base)
	os.Mkdir("pub", 0o755)
	rel := openTestDB(t, "data", Options{Anonymous: true, AnonymousHome: filepath.Join("data", "anonymous-x", "..", "..", "pub")})
	s, err := rel.Login(ctx, "ftp", "", local)
	if err != nil {
		t.Fatal(err)
	}
	if home := s.User().Home; home != filepath.Join(base, "pub") {
		t.Fatalf("relative anonymous home resolved to %s", home)
	}
	s.Close()
}

// BenchmarkLogin compares a login that pays the hash (cold: the cache is
// emptied each time) with one served by the login cache (warm).
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	login := func(b *testing.B) {
		s, err := db.Login(ctx, "u", "pw", local)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			db.v.forget("u")
			login(b)
		}
	})
	b.Run("warm", func(b *testing.B) {
		login(b)
		for b.Loop() {
			login(b)
		}
	})
}

// BenchmarkSessionUser measures Session.User, called once per FTP command:
// "poll" checks PRAGMA data_version on every call, "cached" uses the default
// poll interval.
func BenchmarkSessionUser(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		interval time.Duration
	}{{"poll", time.Nanosecond}, {"cached", 0}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := Open(ctx, b.TempDir(), Options{Argon2: testArgon2, PollInterval: c.interval})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.AddUser(ctx, User{Name: "u"}, "pw")
			s, err := db.Login(ctx, "u", "pw", local)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				s.User()
			}
		})
	}
}

func TestIdleUsersArePrunedAndComeBackWithTheirUsage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openTestDB(t, dir, Options{PollInterval: time.Millisecond})
	admin := openTestDB(t, dir, Options{MustExist: true})
	server.AddUser(ctx, User{Name: "a", Perms: PresetFull, QuotaBytes: 1000}, "pw")
	server.AddUser(ctx, User{Name: "b", Perms: PresetFull}, "pw")
	sa, _ := server.Login(ctx, "a", "pw", local)
	g, _ := sa.Quota().Reserve(ctx, 100)
	sa.Quota().Commit(ctx, g, 100)
	sa.Close()
	sb := mustLogin(t, server, "b", "pw")
	sb.User()
	admin.UpdateUser(ctx, User{Name: "b", Home: server.DefaultHome("b"), Perms: PresetReadOnly})
	// A poll that meets the usage writer mid-write (a's delta) skips and
	// the next one retries: the change arrives within a few intervals.
	deadline := time.Now().Add(time.Second)
	for sb.User().Perms != PresetReadOnly || server.liveState("a") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("after 1 s: b sees perms %v, a pruned %v", sb.User().Perms, server.liveState("a") == nil)
		}
		time.Sleep(time.Millisecond)
	}
	a1 := mustLogin(t, server, "a", "pw")
	a2 := mustLogin(t, server, "a", "pw")
	if u, _ := a1.Quota().Usage(ctx); u.UsedBytes != 100 {
		t.Fatalf("usage after coming back = %d, want 100", u.UsedBytes)
	}
	if g, err := a1.Quota().Reserve(ctx, 900); err != nil {
		t.Fatal(err)
	} else {
		a1.Quota().Commit(ctx, g, g)
	}
	if _, err := a2.Quota().Reserve(ctx, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("second session does not share the account: %v", err)
	}
}

// Regression (issue 3) for the database: the user's sessions share one pair
// of rate limiters, and a rate changed by another process (`wharf user
// set`) reaches them in place within the poll interval.
func TestDBRateLimitersAreSharedAndFollowChangesElsewhere(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openTestDB(t, dir, Options{PollInterval: 50 * time.Millisecond})
	admin := openTestDB(t, dir, Options{MustExist: true})
	if err := admin.AddUser(ctx, User{Name: "u", Perms: PresetFull, RateDown: 1 << 20}, "pw"); err != nil {
		t.Fatal(err)
	}
	a, b := mustLogin(t, server, "u", "pw"), mustLogin(t, server, "u", "pw")
	upA, downA := a.Limits()
	upB, downB := b.Limits()
	if upA != nil || upB != nil || downA == nil || downA != downB || downA.Limit() != 1<<20 {
		t.Fatalf("limiters up %p/%p down %p/%p, want no upload limit and one shared download limiter", upA, upB, downA, downB)
	}
	u, _ := admin.GetUser(ctx, "u")
	u.RateDown, u.RateUp = 64<<10, 32<<10
	if err := admin.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	time.Sleep(server.opts.PollInterval + 10*time.Millisecond)
	up, down := a.Limits()
	if down != downA || down.Limit() != 64<<10 || down.Burst() != 16<<10 || up == nil || up.Limit() != 32<<10 {
		t.Fatalf("after the change: down %p (was %p) at %v burst %d, up %v", down, downA, down.Limit(), down.Burst(), up)
	}
}
