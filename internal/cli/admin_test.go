package cli_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/cli"
)

func wharfAdmin(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(append([]string{"admin"}, args...), &cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

func TestAdminCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"WHARF_DATA": data}
	run := func(want int, stdin string, args ...string) (string, string) {
		t.Helper()
		code, out, errs := wharfAdmin(t, env, stdin, args...)
		if code != want {
			t.Fatalf("wharf admin %v: exit %d (want %d), stdout %q, stderr %q", args, code, want, out, errs)
		}
		return out, errs
	}
	if out, _ := run(0, "s3cret\n", "add", "root", "--password-stdin"); out != "added admin root\n" {
		t.Fatalf("add: %q", out)
	}
	env["WHARF_PASSWORD"] = "fromenv"
	run(0, "", "add", "ops")
	delete(env, "WHARF_PASSWORD")
	run(1, "x\n", "add", "root", "--password-stdin") // exists
	run(2, "x\n", "add", "../x", "--password-stdin") // bad name
	run(2, "", "add", "nopw")                        // no terminal, no WHARF_PASSWORD
	run(2, "\n", "add", "empty", "--password-stdin") // empty password
	run(5, "", "token", "nobody")                    // unknown admin
	run(2, "", "token")                              // usage
	tok, _ := run(0, "", "token", "root")
	tok = strings.TrimSpace(tok)
	if !strings.HasPrefix(tok, "wharf_") || strings.Contains(tok, "\n") {
		t.Fatalf("token output %q", tok)
	}
	out, _ := run(0, "", "list")
	if !strings.Contains(out, "ops   no") || !strings.Contains(out, "root  yes") {
		t.Fatalf("list:\n%s", out)
	}

	db, err := accounts.Open(context.Background(), data, accounts.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if name, err := db.AdminByToken(ctx, tok); err != nil || name != "root" {
		t.Fatalf("token from the CLI: %q, %v", name, err)
	}
	if err := db.AdminLogin(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := db.AdminLogin(ctx, "ops", "fromenv"); err != nil {
		t.Fatalf("WHARF_PASSWORD was not the password: %v", err)
	}
	db.Close()

	run(0, "new\n", "passwd", "root", "--password-stdin")
	run(0, "", "token", "root", "--revoke")
	run(0, "", "del", "ops")
	run(5, "", "del", "ops")
	db, _ = accounts.Open(ctx, data, accounts.Options{MustExist: true})
	defer db.Close()
	if _, err := db.AdminByToken(ctx, tok); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatal("revoked token still works")
	}
	if err := db.AdminLogin(ctx, "root", "new"); err != nil {
		t.Fatal(err)
	}
}
