package accounts

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts the usage writes that reach the real store.
type countingStore struct {
	Store
	adds atomic.Int64
}

func (c *countingStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	c.adds.Add(1)
	return c.Store.AddUsage(ctx, name, bytes, files)
}

func TestUsageWriterCoalescesDeltasAndReachesStoreWithinInterval(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir, Options{})
	other := openTestDB(t, dir, Options{MustExist: true}) // another process's view
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	cs := &countingStore{Store: db.store}
	db.usage.store = cs
	q := mustLogin(t, db, "u", "pw").Quota()
	start := time.Now()
	for range 500 {
		if err := q.Adjust(ctx, 0, 1); err != nil {
			t.Fatal(err)
		}
		g, err := q.Reserve(ctx, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Commit(ctx, g, 4096); err != nil {
			t.Fatal(err)
		}
	}
	for {
		su, err := other.store.GetUser(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		if su.UsedBytes == 500*4096 && su.UsedFiles == 500 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("store holds %d bytes, %d files long after the writes", su.UsedBytes, su.UsedFiles)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 1000 deltas in well under a second: a handful of writes, not 1000.
	if n := cs.adds.Load(); n > 50 {
		t.Fatalf("%d store writes for 1000 deltas", n)
	}
	if u, _ := q.Usage(ctx); u.UsedBytes != 500*4096 || u.UsedFiles != 500 {
		t.Fatalf("in-memory usage %+v", u)
	}
}

func TestCloseWritesUnsavedUsage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// An interval far longer than the test: only Close can write it.
	db, err := Open(ctx, dir, Options{Argon2: testArgon2, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	s, err := db.Login(ctx, "u", "pw", local)
	if err != nil {
		t.Fatal(err)
	}
	q := s.Quota()
	g, _ := q.Reserve(ctx, 1234)
	q.Commit(ctx, g, 1234)
	q.Adjust(ctx, 0, 1)
	if su, _ := db.store.GetUser(ctx, "u"); su.UsedBytes != 0 {
		t.Fatalf("written at once (%d): the writer should still hold it", su.UsedBytes)
	}
	s.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openTestDB(t, dir, Options{MustExist: true})
	if u, _ := db2.GetUser(ctx, "u"); u.UsedBytes != 1234 || u.UsedFiles != 1 {
		t.Fatalf("after a clean close: %d bytes %d files, want 1234 1", u.UsedBytes, u.UsedFiles)
	}
}

// A failing store keeps the deltas for the next flush instead of losing
// them.
func TestUsageWriterRetriesAFailedWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir, Options{PollInterval: time.Hour})
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	q := mustLogin(t, db, "u", "pw").Quota()
	q.Adjust(ctx, 0, 3)
	fs := &failingStore{Store: db.store}
	fs.fail.Store(true)
	db.usage.store = fs
	if err := db.usage.flush(ctx); err == nil {
		t.Fatal("flush on a failing store reported success")
	}
	if _, quiet := q.(*account).quiet(); quiet {
		t.Fatal("account quiet although its delta was not stored")
	}
	fs.fail.Store(false)
	if err := db.usage.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if su, _ := db.store.GetUser(ctx, "u"); su.UsedFiles != 3 {
		t.Fatalf("stored %d files after the retry, want 3", su.UsedFiles)
	}
	if _, quiet := q.(*account).quiet(); !quiet {
		t.Fatal("account not quiet after its delta was stored")
	}
}

type failingStore struct {
	Store
	fail atomic.Bool
}

func (f *failingStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	if f.fail.Load() {
		return context.DeadlineExceeded
	}
	return f.Store.AddUsage(ctx, name, bytes, files)
}

// BenchmarkQuotaUpload is the quota traffic of one small upload: the file
// count, one reservation and its commit, on a SQLite-backed account.
func BenchmarkQuotaUpload(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), Options{Argon2: testArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaBytes: 1 << 50}, "pw")
	s, err := db.Login(ctx, "u", "pw", local)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	q := s.Quota()
	for b.Loop() {
		q.Adjust(ctx, 0, 1)
		g, _ := q.Reserve(ctx, 256<<10)
		q.Commit(ctx, g, 4096)
	}
}

// readCountingStore counts the user rows Login reads.
type readCountingStore struct {
	*sqliteStore
	reads atomic.Int64
}

func (c *readCountingStore) GetUser(ctx context.Context, name string) (StoredUser, error) {
	c.reads.Add(1)
	return c.sqliteStore.GetUser(ctx, name)
}

// A warm login skips reading the row only while nothing was committed
// since it was read: any change, from this process or another, applies to
// the very next login.
func TestWarmLoginSkipsTheRowOnlyWhileNothingChanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTestDB(t, dir, Options{})
	admin := openTestDB(t, dir, Options{MustExist: true}) // another process
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull}, "pw")
	rc := &readCountingStore{sqliteStore: db.store.(*sqliteStore)}
	db.store = rc
	keep := mustLogin(t, db, "u", "pw") // keeps the state live
	before := rc.reads.Load()
	for range 10 {
		mustLogin(t, db, "u", "pw").Close()
	}
	if n := rc.reads.Load() - before; n != 0 {
		t.Fatalf("10 warm logins read the row %d times", n)
	}
	// Disabled by another process: refused at once.
	u, _ := admin.GetUser(ctx, "u")
	u.Disabled = true
	admin.UpdateUser(ctx, u)
	if _, err := db.Login(ctx, "u", "pw", local); !errors.Is(err, ErrDisabled) {
		t.Fatalf("login after a disable elsewhere = %v, want ErrDisabled", err)
	}
	u.Disabled = false
	admin.UpdateUser(ctx, u)
	mustLogin(t, db, "u", "pw").Close()
	// Changed by this process: refused at once too.
	u.Expires = time.Now().Add(-time.Hour)
	if err := db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Login(ctx, "u", "pw", local); !errors.Is(err, ErrExpired) {
		t.Fatalf("login after an expiry set here = %v, want ErrExpired", err)
	}
	// Password changed elsewhere: the old one fails, the new one works.
	u.Expires = time.Time{}
	db.UpdateUser(ctx, u)
	mustLogin(t, db, "u", "pw").Close()
	admin.SetPassword(ctx, "u", "new")
	if _, err := db.Login(ctx, "u", "pw", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after a change elsewhere = %v", err)
	}
	mustLogin(t, db, "u", "new").Close()
	// Deleted elsewhere.
	admin.DeleteUser(ctx, "u", false)
	if _, err := db.Login(ctx, "u", "new", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("login of a user deleted elsewhere = %v", err)
	}
	keep.Close()
}

// downStore fails its usage writes while fail is set.
type downStore struct {
	Store
	fail atomic.Bool
}

func (f *downStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	if f.fail.Load() {
		return errors.New("store down")
	}
	return f.Store.AddUsage(ctx, name, bytes, files)
}

func (f *downStore) SetUsage(ctx context.Context, name string, bytes, files int64) error {
	if f.fail.Load() {
		return errors.New("store down")
	}
	return f.Store.SetUsage(ctx, name, bytes, files)
}

// Recount replaces usage live and in the store, whatever deltas were
// unsaved or in flight, and deltas after it add to it, also across a
// failed write; Record is never refused.
func TestRecountReplacesUsageLiveAndStoredAndDeltasFollowIt(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaFiles: 1}, "pw")
	fs := &downStore{Store: db.store}
	db.usage.store = fs
	q := mustLogin(t, db, "u", "pw").Quota()
	if err := q.Adjust(ctx, 5000, 1); err != nil {
		t.Fatal(err)
	}
	if err := q.Adjust(ctx, 0, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Adjust past the file quota: %v", err)
	}
	if err := q.Record(ctx, 10, 1); err != nil {
		t.Fatalf("Record past the file quota: %v", err)
	}
	fs.fail.Store(true)
	db.Flush(ctx) // fails: the deltas are put back
	if err := q.Recount(ctx, 700, 3); err != nil {
		t.Fatal(err)
	}
	db.Flush(ctx) // fails again
	if err := q.Record(ctx, 100, -1); err != nil {
		t.Fatal(err)
	}
	db.Flush(ctx)
	fs.fail.Store(false)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	live, _ := q.Usage(ctx)
	su, err := db.store.GetUser(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if live.UsedBytes != 800 || live.UsedFiles != 2 || su.UsedBytes != 800 || su.UsedFiles != 2 {
		t.Fatalf("live %d bytes %d files, stored %d bytes %d files; want 800 and 2", live.UsedBytes, live.UsedFiles, su.UsedBytes, su.UsedFiles)
	}
}

// An Allowance lets one writer pass the byte limit by the room of the file
// it replaces, and nobody else: other writers are refused meanwhile, and
// the limit is back once the allowance is dropped.
func TestAllowanceIsOneWritersOnly(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	db.AddUser(ctx, User{Name: "u", Perms: PresetFull, QuotaBytes: 1000}, "pw")
	q := mustLogin(t, db, "u", "pw").Quota()
	if err := q.Adjust(ctx, 800, 1); err != nil { // the original
		t.Fatal(err)
	}
	w, other := WithWriter(ctx), WithWriter(ctx)
	if WithWriter(w) != w {
		t.Fatal("WithWriter of a marked context made another writer")
	}
	if err := q.Allowance(ctx, 800); err == nil {
		t.Fatal("an allowance without a writer was accepted")
	}
	if err := q.Allowance(w, 800); err != nil {
		t.Fatal(err)
	}
	g, err := q.Reserve(w, 900)
	if err != nil || g != 900 {
		t.Fatalf("Reserve 900 with 200 free and an allowance of 800: %d, %v", g, err)
	}
	if err := q.Commit(w, g, 900); err != nil {
		t.Fatal(err)
	}
	if g, err := q.Reserve(other, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("another writer got %d (%v) past the limit", g, err)
	}
	// The commit over the original takes it away, then the allowance goes.
	if err := q.Record(w, -800, -1); err != nil {
		t.Fatal(err)
	}
	if err := q.Allowance(w, 0); err != nil {
		t.Fatal(err)
	}
	if g, err := q.Reserve(w, 500); err != nil || g != 100 {
		t.Fatalf("Reserve after the allowance was dropped: %d, %v; want the 100 left", g, err)
	}
}
