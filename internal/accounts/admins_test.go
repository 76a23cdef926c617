package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAdminPasswordAndToken(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir(), Options{Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AddAdmin(ctx, "../root", "pw"); err == nil {
		t.Fatal("AddAdmin took an unsafe name")
	}
	if err := db.AddAdmin(ctx, "root", ""); err == nil {
		t.Fatal("AddAdmin took an empty password")
	}
	if err := db.AddAdmin(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAdmin(ctx, "root", "x"); !errors.Is(err, ErrExists) || !errors.Is(err, ErrAdminExists) {
		t.Fatalf("duplicate = %v", err)
	}
	a, _ := db.store.GetAdmin(ctx, "root")
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q is not argon2id", a.PasswordHash)
	}
	if err := db.AdminLogin(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"root", "wrong"}, {"nobody", "s3cret"}, {"root", ""}} {
		if err := db.AdminLogin(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("AdminLogin(%q, %q) = %v", c[0], c[1], err)
		}
	}
	// An FTP user of the same name and password is not an admin login.
	if err := db.AddUser(ctx, User{Name: "bob", Perms: PresetFull}, "pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.AdminLogin(ctx, "bob", "pw"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("an FTP user logged in as admin: %v", err)
	}

	tok, err := db.NewAdminToken(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := db.store.GetAdmin(ctx, "root"); a.TokenHash == "" || strings.Contains(a.TokenHash, tok) || a.TokenHash == tok {
		t.Fatalf("token stored as %q", a.TokenHash)
	}
	if name, err := db.AdminByToken(ctx, tok); err != nil || name != "root" {
		t.Fatalf("AdminByToken = %q, %v", name, err)
	}
	for _, bad := range []string{"", "wharf_", tok + "x", strings.TrimPrefix(tok, "wharf_"), "wharf_" + strings.Repeat("a", 500)} {
		if _, err := db.AdminByToken(ctx, bad); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("AdminByToken(%q) = %v", bad, err)
		}
	}
	tok2, err := db.NewAdminToken(ctx, "root")
	if err != nil || tok2 == tok {
		t.Fatalf("second token %q, %v", tok2, err)
	}
	if _, err := db.AdminByToken(ctx, tok); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("the replaced token still works")
	}
	if _, err := db.NewAdminToken(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for nobody: %v", err)
	}
	if err := db.SetAdminPassword(ctx, "root", "new"); err != nil {
		t.Fatal(err)
	}
	if err := db.AdminLogin(ctx, "root", "s3cret"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("old password still works")
	}
	if err := db.DeleteAdmin(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AdminByToken(ctx, tok2); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("a deleted admin's token still works")
	}
	if err := db.DeleteAdmin(ctx, "root"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
