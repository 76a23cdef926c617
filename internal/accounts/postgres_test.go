package accounts

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/pgtest"
)

func TestPostgresStore(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDB(t)
	testStore(t, func(t *testing.T) Store {
		s, err := openPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Nodes starting at once on an empty database: one migrates, the others
// wait for it and find the schema current.
func TestPostgresConcurrentMigrations(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := openPostgres(context.Background(), url)
			if err == nil {
				err = s.AddUser(context.Background(), StoredUser{PasswordHash: "h", User: User{Name: "u" + string(rune('a'+i)), Home: "/h"}})
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	s, err := openPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l, err := s.ListUsers(context.Background()); err != nil || len(l) != len(errs) {
		t.Fatalf("ListUsers = %d users, %v", len(l), err)
	}
}

func TestParseDB(t *testing.T) {
	for _, c := range []struct{ in, kind, arg string }{
		{"", "sqlite", "wharf.db"},
		{"sqlite:x.db", "sqlite", "x.db"},
		{"sqlite:/abs/x.db", "sqlite", "/abs/x.db"},
		{"sqlite:///abs/x.db", "sqlite", "/abs/x.db"},
		{"postgres://u:p@127.0.0.1:5432/db?sslmode=disable", "postgres", "postgres://u:p@127.0.0.1:5432/db?sslmode=disable"},
		{"postgresql://h/db", "postgres", "postgresql://h/db"},
		{"host=127.0.0.1 port=5 dbname=x", "postgres", "host=127.0.0.1 port=5 dbname=x"},
	} {
		kind, arg, err := ParseDB(c.in)
		if err != nil || kind != c.kind || arg != c.arg {
			t.Errorf("ParseDB(%q) = %q, %q, %v; want %q, %q", c.in, kind, arg, err, c.kind, c.arg)
		}
	}
	for _, in := range []string{"sqlite:", "mysql://x", "x.db", "postgres://h:notaport/db"} {
		var ie *InvalidError
		if _, _, err := ParseDB(in); !errors.As(err, &ie) {
			t.Errorf("ParseDB(%q) = %v, want an InvalidError", in, err)
		}
	}
}

// Two processes' DBs on one PostgreSQL database, as two cluster nodes: an
// admin change made through one reaches the other's open sessions within
// its poll, and a login on one sees the other's password change at once.
func TestPostgresDBLiveChanges(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	cheap := Argon2Params{Memory: 64, Time: 1, Threads: 1}
	open := func() *DB {
		db, err := Open(ctx, t.TempDir(), Options{DB: url, Argon2: cheap, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull}, "pw"); err != nil {
		t.Fatal(err)
	}
	sb, err := b.Login(ctx, "u", "pw", LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := a.SetPassword(ctx, "u", "pw2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, "u", "pw", LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after a change on the other node: %v", err)
	}
	u, _ := a.GetUser(ctx, "u")
	u.Disabled = true
	if err := a.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for !sb.User().Disabled {
		if time.Now().After(deadline) {
			t.Fatal("the other node's session did not see the user disabled within 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The cluster-wide state of two nodes on one database: the session limit
// counts both nodes' sessions, a ban earned through one holds on the
// other, and a database outage refuses logins (ErrUnavailable) until the
// nodes reconnect by themselves.
func TestPostgresClusterState(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	url := srv.NewDB(t)
	cheap := Argon2Params{Memory: 64, Time: 1, Threads: 1}
	open := func() *DB {
		db, err := Open(ctx, t.TempDir(), Options{DB: url, Argon2: cheap, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull, MaxSessions: 2}, "pw"); err != nil {
		t.Fatal(err)
	}
	info := LoginInfo{Remote: netip.MustParseAddr("192.0.2.1")}
	s1, err := a.Login(ctx, "u", "pw", info)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Login(ctx, "u", "pw", info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "u", "pw", info); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third session over two nodes: %v, want ErrTooManySessions", err)
	}
	s2.Close()
	s3, err := a.Login(ctx, "u", "pw", info)
	if err != nil {
		t.Fatalf("after a close on the other node: %v", err)
	}
	s1.Close()
	s3.Close()

	ip := netip.MustParseAddr("203.0.113.9")
	for i := 1; i <= 3; i++ {
		n, banned, err := a.SharedBans().LoginFailed(ctx, ip, 3, time.Minute)
		if err != nil || n != i || banned != (i == 3) {
			t.Fatalf("failure %d: %d, %v, %v", i, n, banned, err)
		}
	}
	deadline := time.Now().Add(time.Second)
	for !b.SharedBans().Banned(ip) {
		if time.Now().After(deadline) {
			t.Fatal("the other node did not see the ban within 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.SharedBans().Banned(netip.MustParseAddr("203.0.113.10")) {
		t.Fatal("another address is banned too")
	}

	srv.Stop()
	if _, err := b.Login(ctx, "u", "pw", info); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("login with the database down: %v, want ErrUnavailable", err)
	}
	srv.Restart(0)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, err := b.Login(ctx, "u", "pw", info)
		if err == nil {
			s.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login 10 s after the database came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !b.SharedBans().Banned(ip) {
		t.Fatal("the ban was lost over the restart")
	}
}

// A ban listed and lifted through one node is gone on the other, whose
// watchers hear of it.
func TestPostgresBansListAndLift(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	open := func() *DB {
		db, err := Open(ctx, t.TempDir(), Options{DB: url, Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	lifted := make(chan netip.Addr, 4)
	b.SharedBans().WatchLifts(func(ip netip.Addr) { lifted <- ip })
	ip := netip.MustParseAddr("203.0.113.9")
	for range 2 {
		if _, _, err := a.SharedBans().LoginFailed(ctx, ip, 2, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	a.SharedBans().LoginFailed(ctx, netip.MustParseAddr("203.0.113.10"), 2, time.Minute) // one failure: no ban
	bans, err := b.SharedBans().Bans(ctx)
	if err != nil || len(bans) != 1 || bans[0].Addr != ip || bans[0].Failures != 2 || time.Until(bans[0].Until) < 50*time.Second {
		t.Fatalf("Bans = %+v, %v", bans, err)
	}
	for deadline := time.Now().Add(time.Second); !b.SharedBans().Banned(ip); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b never saw the ban")
		}
	}
	if ok, err := a.SharedBans().Lift(ctx, ip); err != nil || !ok {
		t.Fatalf("Lift = %v, %v", ok, err)
	}
	if ok, err := a.SharedBans().Lift(ctx, ip); err != nil || ok {
		t.Fatalf("second Lift = %v, %v", ok, err)
	}
	select {
	case got := <-lifted:
		if got != ip {
			t.Fatalf("watcher heard %v", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("b's watcher never heard of the lift")
	}
	if b.SharedBans().Banned(ip) || a.SharedBans().Banned(ip) {
		t.Fatal("still banned after the lift")
	}
	if bans, _ := b.SharedBans().Bans(ctx); len(bans) != 0 {
		t.Fatalf("Bans after the lift = %+v", bans)
	}
}
