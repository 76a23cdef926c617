package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/cli"
)

// wharfUser runs `wharf user ARGS...` in-process with stdin and returns the
// exit code, stdout and stderr.
func wharfUser(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(append([]string{"user"}, args...), &cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

func TestUserCommandsHappyPath(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"WHARF_DATA": data} // no --data: the environment decides
	run := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errs := wharfUser(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("wharf user %v: exit %d, stderr %q", args, code, errs)
		}
		return out
	}
	out := run("s3cret\n", "add", "alice", "--password-stdin", "--quota", "10MiB", "--max-files", "100",
		"--perm", "list,download,upload", "--max-sessions", "3", "--allow", "10.0.0.0/8", "--allow", "192.0.2.1",
		"--rate-up", "1MiB/s", "--rate-down", "500K", "--tls-required", "--expires", "2030-06-30")
	home := filepath.Join(data, "home", "alice")
	if !strings.Contains(out, "added user alice") || !strings.Contains(out, home) {
		t.Fatalf("add output: %q", out)
	}
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() {
		t.Fatalf("home not created: %v", err)
	}

	out = run("", "show", "alice")
	for _, want := range []string{"home: " + home + "\n", "permissions: list,download,upload", "used: 0B of 10MiB",
		"files: 0 of 100", "rate up: 1MiB/s", "rate down: 500KiB/s", "max sessions: 3",
		"allow from: 10.0.0.0/8, 192.0.2.1/32", "tls required: yes", "expires: 2030-06-30T00:00:00", "state: active"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(run("", "show", "alice", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if js["home"] != home || js["quota_bytes"] != float64(10<<20) || js["perms"] != "list,download,upload" {
		t.Fatalf("show --json = %v", js)
	}

	// The password works, against the real store.
	db, err := accounts.Open(context.Background(), data, accounts.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tls := accounts.LoginInfo{Remote: netip.MustParseAddr("10.1.2.3"), TLS: true}
	if s, err := db.Login(context.Background(), "alice", "s3cret", tls); err != nil {
		t.Fatalf("login as added user: %v", err)
	} else {
		s.Close()
	}

	run("", "set", "alice", "--disable", "--quota", "1.5GB", "--perm", "read-only", "--allow", "any", "--expires", "never")
	u, _ := db.GetUser(context.Background(), "alice")
	if !u.Disabled || u.QuotaBytes != 1_500_000_000 || u.Perms != accounts.PresetReadOnly || u.AllowFrom != nil ||
		!u.Expires.IsZero() || u.QuotaFiles != 100 || u.RateUp != 1<<20 {
		t.Fatalf("after set: %+v", u)
	}
	out = run("", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "alice") || !strings.Contains(out, "disabled") ||
		!strings.Contains(out, "0B/1.3GiB") || !strings.Contains(out, "read-only") {
		t.Fatalf("list:\n%s", out)
	}
	run("", "set", "alice", "--enable")
	moved := filepath.Join(t.TempDir(), "alice-home")
	run("", "set", "alice", "--home", moved)
	if out = run("", "show", "alice"); !strings.Contains(out, "home: "+moved+"\n") {
		t.Fatalf("show after --home: %q", out)
	}
	if fi, err := os.Stat(moved); err != nil || !fi.IsDir() {
		t.Fatalf("new home not created: %v", err)
	}
	run("", "set", "alice", "--home", home)

	run("n3w\n", "passwd", "alice", "--password-stdin")
	if _, err := db.Login(context.Background(), "alice", "s3cret", tls); err == nil {
		t.Fatal("old password still works after passwd")
	}
	if s, err := db.Login(context.Background(), "alice", "n3w", tls); err != nil {
		t.Fatalf("new password: %v", err)
	} else {
		s.Close()
	}

	os.WriteFile(filepath.Join(home, "f"), make([]byte, 2048), 0o644)
	if out = run("", "rescan", "alice"); !strings.Contains(out, "alice: 2KiB in 1 files") {
		t.Fatalf("rescan: %q", out)
	}
	run("pw\n", "add", "bob", "--password-stdin")
	if out = run("", "rescan", "--all"); !strings.Contains(out, "alice:") || !strings.Contains(out, "bob:") {
		t.Fatalf("rescan --all: %q", out)
	}

	// Export to a file, import elsewhere: hashes travel, passwords work.
	export := filepath.Join(t.TempDir(), "users.json")
	run("", "export", export)
	if fi, _ := os.Stat(export); fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	if out = run("", "export"); !strings.Contains(out, `"password_hash": "$argon2id$`) {
		t.Fatalf("export to stdout: %q", out)
	}
	other := filepath.Join(t.TempDir(), "other")
	if code, out, errs := wharfUser(t, nil, "", "import", export, "--default-homes", "--data", other); code != 0 || !strings.Contains(out, "imported 2 users") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	db2, err := accounts.Open(context.Background(), other, accounts.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if b, _ := db2.GetUser(context.Background(), "bob"); b.Home != filepath.Join(other, "home", "bob") {
		t.Fatalf("--default-homes gave bob %s", b.Home)
	}
	if s, err := db2.Login(context.Background(), "bob", "pw", tls); err != nil {
		t.Fatalf("login after import: %v", err)
	} else {
		s.Close()
	}

	run("", "del", "bob")
	if _, err := os.Stat(filepath.Join(data, "home", "bob")); err != nil {
		t.Fatal("del without --purge removed the home")
	}
	run("", "del", "alice", "--purge")
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("del --purge left the home: %v", err)
	}
	if out = run("", "list"); strings.Contains(out, "alice") {
		t.Fatalf("list after del: %q", out)
	}
}

func TestUserCommandsRefuseBadInput(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	if code, _, errs := wharfUser(t, nil, "pw\n", "add", "alice", "--password-stdin", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	aliceHome := filepath.Join(data, "home", "alice")
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o600)
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"unknown user show", "", []string{"show", "nobody"}, cli.ExitNotFound, "no such user"},
		{"unknown user set", "", []string{"set", "nobody", "--quota", "1M"}, cli.ExitNotFound, "no such user"},
		{"unknown user passwd", "pw\n", []string{"passwd", "nobody", "--password-stdin"}, cli.ExitNotFound, "no such user"},
		{"unknown user del", "", []string{"del", "nobody"}, cli.ExitNotFound, "no such user"},
		{"unknown user rescan", "", []string{"rescan", "nobody"}, cli.ExitNotFound, "no such user"},
		{"duplicate", "pw\n", []string{"add", "alice", "--password-stdin"}, cli.ExitFailure, "already exists"},
		{"unsafe name", "pw\n", []string{"add", "../etc", "--password-stdin"}, cli.ExitUsage, "user name"},
		{"name with slash", "pw\n", []string{"add", "a/b", "--password-stdin"}, cli.ExitUsage, "user name"},
		{"name too long", "pw\n", []string{"add", strings.Repeat("a", 65), "--password-stdin"}, cli.ExitUsage, "user name"},
		{"relative home", "pw\n", []string{"add", "bob", "--password-stdin", "--home", "rel/dir"}, cli.ExitUsage, "absolute"},
		{"root home", "pw\n", []string{"add", "bob", "--password-stdin", "--home", "/"}, cli.ExitUsage, "root"},
		{"home inside another", "pw\n", []string{"add", "bob", "--password-stdin", "--home", filepath.Join(aliceHome, "sub")}, cli.ExitUsage, "inside the home of user alice"},
		{"home holding data", "pw\n", []string{"add", "bob", "--password-stdin", "--home", base}, cli.ExitUsage, "data directory"},
		{"bad size", "pw\n", []string{"add", "bob", "--password-stdin", "--quota", "10QB"}, cli.ExitUsage, "--quota"},
		{"bad rate", "pw\n", []string{"add", "bob", "--password-stdin", "--rate-up", "fast"}, cli.ExitUsage, "--rate-up"},
		{"bad CIDR", "pw\n", []string{"add", "bob", "--password-stdin", "--allow", "10.0.0.0/33"}, cli.ExitUsage, "--allow"},
		{"bad perm", "pw\n", []string{"add", "bob", "--password-stdin", "--perm", "list,fly"}, cli.ExitUsage, "--perm"},
		{"bad date", "pw\n", []string{"add", "bob", "--password-stdin", "--expires", "31/12/2026"}, cli.ExitUsage, "--expires"},
		{"negative files", "pw\n", []string{"add", "bob", "--password-stdin", "--max-files", "-1"}, cli.ExitUsage, "--max-files"},
		{"no terminal", "", []string{"add", "bob"}, cli.ExitUsage, "--password-stdin"},
		{"empty stdin password", "\n", []string{"add", "bob", "--password-stdin"}, cli.ExitUsage, "empty password"},
		{"enable and disable", "", []string{"set", "alice", "--enable", "--disable"}, cli.ExitUsage, "--disable"},
		{"rescan without target", "", []string{"rescan"}, cli.ExitUsage, "--all"},
		{"set without changes", "", []string{"set", "alice"}, cli.ExitUsage, "nothing to change"},
		{"missing argument", "", []string{"show"}, cli.ExitUsage, "arg"},
		{"unknown flag", "", []string{"list", "--colour"}, cli.ExitUsage, "unknown flag"},
		{"import garbage", "{not json", []string{"import"}, cli.ExitUsage, "import"},
		{"import missing file", "", []string{"import", filepath.Join(base, "nope.json")}, cli.ExitNotFound, "nope.json"},
	}
	for _, c := range cases {
		code, out, errs := wharfUser(t, nil, c.stdin, append(c.args, "--data", data)...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", c.name, code, c.code, errs, c.want)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: message is not one line: %q", c.name, errs)
		}
		if code != 0 && strings.Contains(out, "added") {
			t.Errorf("%s: failed but printed %q", c.name, out)
		}
	}
	// None of the refused adds created anything.
	if _, out, _ := wharfUser(t, nil, "", "list", "--data", data); strings.Contains(out, "bob") {
		t.Fatalf("a refused add left bob:\n%s", out)
	}
	// Data directories that are not ours, or missing.
	if code, _, errs := wharfUser(t, nil, "pw\n", "add", "x", "--password-stdin", "--data", foreign); code != cli.ExitUsage ||
		!strings.Contains(errs, "not a wharf data directory") {
		t.Errorf("foreign data dir: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(foreign, "wharf.db")); err == nil {
		t.Error("wharf wrote into a foreign directory")
	}
	if code, _, errs := wharfUser(t, nil, "", "list", "--data", filepath.Join(base, "missing")); code != cli.ExitNotFound ||
		!strings.Contains(errs, "no wharf data directory") {
		t.Errorf("missing data dir: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(base, "missing")); err == nil {
		t.Error("list created a data directory")
	}
	if code, _, _ := wharfUser(t, nil, "", "add", "x", "--data", filepath.Join(base, "missing")); code != cli.ExitUsage {
		t.Errorf("add without a password source: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(base, "missing")); err == nil {
		t.Error("an add refused for want of a password created a data directory")
	}
}

// A running server (a long-lived DB) sees what `wharf user set` does in
// another "process" (another DB on the same file) on its next command.
func TestUserSetReachesRunningServer(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if code, _, errs := wharfUser(t, nil, "pw\n", "add", "u", "--password-stdin", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	server, err := accounts.Open(ctx, data, accounts.Options{MustExist: true, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	s, err := server.Login(ctx, "u", "pw", accounts.LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.User().Perms != accounts.PresetFull {
		t.Fatalf("perms %v", s.User().Perms)
	}
	if code, _, errs := wharfUser(t, nil, "", "set", "u", "--perm", "upload-only", "--quota", "1K", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	time.Sleep(40 * time.Millisecond)
	if u := s.User(); u.Perms != accounts.PresetUploadOnly || u.QuotaBytes != 1024 {
		t.Fatalf("running server still sees perms %v quota %d", u.Perms, u.QuotaBytes)
	}
	if g, err := s.Quota().Reserve(ctx, 5000); g != 1024 || err != nil {
		t.Fatalf("Reserve under the new quota = %d, %v", g, err)
	}
}

// Issue 9: `user add ALICE` beside alice made a second account, and users
// named anonymous or ftp could be created. Names fold to lower case, the
// anonymous names are a usage error.
func TestUserAddFoldsCaseAndRefusesReservedNames(t *testing.T) {
	env := map[string]string{"WHARF_DATA": filepath.Join(t.TempDir(), "data")}
	if code, out, errs := wharfUser(t, env, "pw\n", "add", "ALICE", "--password-stdin"); code != 0 || !strings.Contains(out, "added user alice") {
		t.Fatalf("add ALICE: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := wharfUser(t, env, "pw\n", "add", "alice", "--password-stdin"); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("add alice after ALICE: exit %d, stderr %q; want refused", code, errs)
	}
	for _, name := range []string{"anonymous", "FTP"} {
		if code, _, errs := wharfUser(t, env, "pw\n", "add", name, "--password-stdin"); code != 2 || !strings.Contains(errs, "reserved") {
			t.Errorf("add %s: exit %d, stderr %q; want 2 and a one-line reason", name, code, errs)
		}
	}
	if code, out, _ := wharfUser(t, env, "", "show", "Alice"); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("show Alice: exit %d, %q", code, out)
	}
}
