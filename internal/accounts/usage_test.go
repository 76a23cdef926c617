package accounts

import (
	"context"
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
		if time.Since(start) > 2*time.Second {
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
