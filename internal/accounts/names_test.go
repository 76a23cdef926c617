package accounts

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/pgtest"
)

// Issue 9: ALICE and alice were two accounts, and users named anonymous or
// ftp could be created. Names are case-insensitive (stored lower case) and
// the anonymous names are reserved, on every store.
func testNameRules(t *testing.T, db *DB) {
	ctx := context.Background()
	info := LoginInfo{Remote: netip.MustParseAddr("192.0.2.1")}
	for _, name := range []string{"anonymous", "ANONYMOUS", "ftp", "Ftp"} {
		var ie *InvalidError
		if err := db.AddUser(ctx, User{Name: name, Perms: PresetFull}, "pw"); !errors.As(err, &ie) {
			t.Errorf("AddUser(%q) = %v, want an InvalidError (reserved)", name, err)
		}
	}
	if err := db.AddUser(ctx, User{Name: "Alice", Perms: PresetFull}, "pw"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "ALICE", "aLiCe"} {
		if err := db.AddUser(ctx, User{Name: name, Perms: PresetFull}, "other"); !errors.Is(err, ErrExists) {
			t.Errorf("AddUser(%q) after Alice = %v, want ErrExists", name, err)
		}
	}
	us, err := db.ListUsers(ctx)
	if err != nil || len(us) != 1 || us[0].Name != "alice" {
		t.Fatalf("ListUsers = %+v, %v: want the one account, stored as alice", us, err)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		s, err := db.Login(ctx, name, "pw", info)
		if err != nil {
			t.Fatalf("Login(%q) = %v", name, err)
		}
		if got := s.User().Name; got != "alice" {
			t.Errorf("Login(%q) is account %q, want alice", name, got)
		}
		s.Close()
	}
	if _, err := db.Login(ctx, "ALICE", "other", info); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("Login(ALICE, wrong) = %v", err)
	}
	if u, err := db.GetUser(ctx, "ALICE"); err != nil || u.Name != "alice" {
		t.Errorf("GetUser(ALICE) = %+v, %v", u, err)
	}
	if err := db.SetPassword(ctx, "ALICE", "pw2"); err != nil {
		t.Fatal(err)
	}
	if s, err := db.Login(ctx, "alice", "pw2", info); err != nil {
		t.Fatalf("Login after SetPassword(ALICE) = %v", err)
	} else {
		s.Close()
	}
	if err := db.DeleteUser(ctx, "ALICE", false); err != nil {
		t.Fatal(err)
	}
	if us, _ := db.ListUsers(ctx); len(us) != 0 {
		t.Fatalf("after DeleteUser(ALICE): %+v", us)
	}

	// An account stored with capitals before names were folded is still
	// reached by its exact name, and blocks its lower-case twin.
	if err := db.store.AddUser(ctx, StoredUser{PasswordHash: db.v.hash("pw"), User: User{Name: "Bob", Home: t.TempDir(), Perms: PresetFull}}); err != nil {
		t.Fatal(err)
	}
	if s, err := db.Login(ctx, "Bob", "pw", info); err != nil {
		t.Fatalf("Login of a legacy Bob = %v", err)
	} else {
		s.Close()
	}
	if err := db.AddUser(ctx, User{Name: "bob", Perms: PresetFull}, "pw"); !errors.Is(err, ErrExists) {
		t.Errorf("AddUser(bob) beside a legacy Bob = %v, want ErrExists", err)
	}
}

func TestNameRulesSQLite(t *testing.T) {
	testNameRules(t, openTestDB(t, t.TempDir(), Options{}))
}

func TestNameRulesPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db, err := Open(context.Background(), t.TempDir(), Options{DB: srv.NewDB(t), Argon2: testArgon2, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testNameRules(t, db)
}

// The in-memory accounts (wharf share, tests) fold names the same way.
func TestMemoryNamesAreCaseInsensitive(t *testing.T) {
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "carol", Home: t.TempDir(), Perms: PresetFull}, Password: "pw"})
	s, err := m.Login(context.Background(), "CAROL", "pw", LoginInfo{})
	if err != nil {
		t.Fatalf("Login(CAROL) = %v", err)
	}
	s.Close()
}
