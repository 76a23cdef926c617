package accounts

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// testStore is the shared Store suite: every Store implementation runs it.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	alice := StoredUser{PasswordHash: "$argon2id$x", User: User{
		Name: "alice", Home: "/srv/alice", Perms: PresetReadOnly, QuotaBytes: 1 << 20, QuotaFiles: 10,
		RateUp: 1000, RateDown: 2000, MaxSessions: 3, TLSRequired: true,
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		Expires:   time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		PathPerms: []PathPerm{{Dir: "/in", Perms: PresetUploadOnly}},
		UsedBytes: 5, UsedFiles: 1,
	}}
	if err := s.AddUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, alice); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate AddUser = %v, want ErrExists", err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !equalUsers(got, alice) {
		t.Fatalf("GetUser = %+v\nwant %+v", got, alice)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser(nobody) = %v", err)
	}

	upd := alice.User
	upd.Perms, upd.Disabled, upd.AllowFrom, upd.Expires, upd.PathPerms = PresetFull, true, nil, time.Time{}, nil
	upd.UsedBytes = 999 // ignored: usage changes only by deltas
	if err := s.UpdateUser(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetUser(ctx, "alice")
	if got.Perms != PresetFull || !got.Disabled || got.AllowFrom != nil || !got.Expires.IsZero() ||
		got.PathPerms != nil || got.UsedBytes != 5 || got.PasswordHash != alice.PasswordHash {
		t.Fatalf("after UpdateUser: %+v", got)
	}
	if err := s.UpdateUser(ctx, User{Name: "nobody"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateUser(nobody) = %v", err)
	}
	if err := s.SetPasswordHash(ctx, "alice", "$2b$new"); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.GetUser(ctx, "alice"); got.PasswordHash != "$2b$new" {
		t.Fatalf("hash after SetPasswordHash = %q", got.PasswordHash)
	}

	if err := s.AddUsage(ctx, "alice", 100, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUsage(ctx, "alice", -1000, -1); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.GetUser(ctx, "alice"); got.UsedBytes != 0 || got.UsedFiles != 2 {
		t.Fatalf("usage after deltas = %d/%d, want 0/2 (clamped at zero)", got.UsedBytes, got.UsedFiles)
	}
	if err := s.SetUsage(ctx, "alice", 42, 7); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.GetUser(ctx, "alice"); got.UsedBytes != 42 || got.UsedFiles != 7 {
		t.Fatalf("usage after SetUsage = %d/%d", got.UsedBytes, got.UsedFiles)
	}
	if err := s.AddUsage(ctx, "nobody", 1, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddUsage(nobody) = %v", err)
	}

	bob := StoredUser{PasswordHash: "h", User: User{Name: "bob", Home: "/srv/bob"}}
	if err := s.ReplaceUsers(ctx, []StoredUser{bob, {PasswordHash: "h2", User: User{Name: "alice", Home: "/x"}}}, false); !errors.Is(err, ErrExists) {
		t.Fatalf("ReplaceUsers over an existing user = %v, want ErrExists", err)
	}
	if _, err := s.GetUser(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a failed ReplaceUsers left bob behind: it must be all or nothing")
	}
	if err := s.ReplaceUsers(ctx, []StoredUser{bob, {PasswordHash: "h2", User: User{Name: "alice", Home: "/x"}}}, true); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "alice" || list[0].Home != "/x" || list[1].Name != "bob" {
		t.Fatalf("ListUsers = %+v, %v", list, err)
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteUser = %v", err)
	}

	testAdminStore(t, s)

	// Changed sees other writers only.
	other := open(t)
	if c, err := s.Changed(ctx); err != nil || c {
		t.Fatalf("first Changed = %v, %v", c, err)
	}
	s.AddUsage(ctx, "alice", 1, 0)
	if c, _ := s.Changed(ctx); c {
		t.Fatal("Changed reported the store's own write")
	}
	other.AddUsage(ctx, "alice", 1, 0)
	if c, _ := s.Changed(ctx); !c {
		t.Fatal("Changed missed another store's write")
	}
	if c, _ := s.Changed(ctx); c {
		t.Fatal("Changed reported the same write twice")
	}
}

func equalUsers(a, b StoredUser) bool {
	if a.Name != b.Name || a.PasswordHash != b.PasswordHash || a.Home != b.Home || a.Perms != b.Perms ||
		a.QuotaBytes != b.QuotaBytes || a.QuotaFiles != b.QuotaFiles || a.RateUp != b.RateUp ||
		a.RateDown != b.RateDown || a.MaxSessions != b.MaxSessions || a.TLSRequired != b.TLSRequired ||
		a.Disabled != b.Disabled || !a.Expires.Equal(b.Expires) || a.UsedBytes != b.UsedBytes ||
		a.UsedFiles != b.UsedFiles || len(a.AllowFrom) != len(b.AllowFrom) || len(a.PathPerms) != len(b.PathPerms) {
		return false
	}
	for i := range a.AllowFrom {
		if a.AllowFrom[i] != b.AllowFrom[i] {
			return false
		}
	}
	for i := range a.PathPerms {
		if a.PathPerms[i] != b.PathPerms[i] {
			return false
		}
	}
	return true
}

func TestSQLiteStore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wharf.db")
	testStore(t, func(t *testing.T) Store {
		s, err := openSQLite(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// testAdminStore is the admin part of the shared suite.
func testAdminStore(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.AddAdmin(ctx, Admin{Name: "root", PasswordHash: "$argon2id$r"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAdmin(ctx, Admin{Name: "root", PasswordHash: "x"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate AddAdmin = %v, want ErrExists", err)
	}
	// An admin and a user of the same name are different accounts.
	if err := s.AddAdmin(ctx, Admin{Name: "alice", PasswordHash: "$argon2id$a"}); err != nil {
		t.Fatalf("admin named like a user: %v", err)
	}
	if u, _ := s.GetUser(ctx, "alice"); u.PasswordHash == "$argon2id$a" {
		t.Fatal("an admin's hash leaked into the user of the same name")
	}
	a, err := s.GetAdmin(ctx, "root")
	if err != nil || a.Name != "root" || a.PasswordHash != "$argon2id$r" || a.TokenHash != "" || a.Created.IsZero() {
		t.Fatalf("GetAdmin = %+v, %v", a, err)
	}
	if _, err := s.GetAdmin(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAdmin(nobody) = %v", err)
	}
	if _, err := s.AdminByToken(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AdminByToken(\"\") = %v: an empty hash must match no admin without a token", err)
	}
	if err := s.SetAdminToken(ctx, "root", "t1"); err != nil {
		t.Fatal(err)
	}
	if a, err := s.AdminByToken(ctx, "t1"); err != nil || a.Name != "root" {
		t.Fatalf("AdminByToken(t1) = %+v, %v", a, err)
	}
	if err := s.SetAdminToken(ctx, "alice", "t1"); err == nil {
		t.Fatal("two admins got the same token hash")
	}
	if err := s.SetAdminToken(ctx, "root", "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdminByToken(ctx, "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaced token still found: %v", err)
	}
	if err := s.SetAdminToken(ctx, "nobody", "t3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAdminToken(nobody) = %v", err)
	}
	if err := s.SetAdminPasswordHash(ctx, "root", "$2b$n"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetAdmin(ctx, "root"); a.PasswordHash != "$2b$n" || a.TokenHash != "t2" {
		t.Fatalf("after SetAdminPasswordHash: %+v", a)
	}
	if err := s.SetAdminPasswordHash(ctx, "nobody", "h"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAdminPasswordHash(nobody) = %v", err)
	}
	list, err := s.ListAdmins(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "alice" || list[1].Name != "root" {
		t.Fatalf("ListAdmins = %+v, %v", list, err)
	}
	if err := s.DeleteAdmin(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAdmin(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteAdmin = %v", err)
	}
	if _, err := s.GetUser(ctx, "alice"); err != nil {
		t.Fatalf("deleting admin alice touched user alice: %v", err)
	}
}
