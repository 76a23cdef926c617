package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/pgtest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// Two serve processes on one PostgreSQL database (--db on one, WHARF_DB on
// the other), users managed by `wharf user --db` from a third place: both
// nodes know the user, and each names itself (--node) in STAT and its log.
func TestServeAndUserOnPostgres(t *testing.T) {
	testenv.Tool(t, "python3") // rawFTP
	url := pgtest.Start(t).NewDB(t)
	e := newClientEnv(t)
	home := t.TempDir()
	admin := filepath.Join(t.TempDir(), "nowhere") // no data directory needed with PostgreSQL
	if code, _, errs := e.run("pw\n", "user", "add", "carol", "--db", url, "--data", admin, "--home", home, "--password-stdin"); code != 0 {
		t.Fatalf("user add --db: %d %s", code, errs)
	}
	addrA, logsA := startServe(t, nil, "--data", filepath.Join(t.TempDir(), "a"), "--init", "--db", url, "--node", "alpha",
		"--listen", "127.0.0.1:0")
	addrB, _ := startServe(t, []string{"WHARF_DB=" + url}, "--data", filepath.Join(t.TempDir(), "b"), "--init", "--node", "beta",
		"--listen", "127.0.0.1:0")
	for addr, node := range map[string]string{addrA: "alpha", addrB: "beta"} {
		out := rawFTP(t, addr, "USER carol", "PASS pw", "STAT")
		if !strings.Contains(out, "230") || !strings.Contains(out, "Node: "+node) {
			t.Errorf("node %s: %q", node, out)
		}
	}
	if !strings.Contains(logsA.String(), "node=alpha") {
		t.Errorf("log lacks node=alpha:\n%s", logsA)
	}
	// The start line names the database it serves, not a SQLite file.
	if !strings.Contains(logsA.String(), `accounts="`+url+`"`) {
		t.Errorf("start line does not name the database %s:\n%s", url, logsA)
	}
	// The sqlite default still works beside it, and a bad --db is a usage error.
	if code, out, _ := e.run("", "user", "list", "--db", url, "--data", admin); code != 0 || !strings.Contains(out, "carol") {
		t.Errorf("user list --db: %d %q", code, out)
	}
	if code, _, errs := e.run("", "user", "list", "--db", "mysql://x", "--data", admin); code != ExitUsage || !strings.Contains(errs, "--db") {
		t.Errorf("user list --db mysql://x: %d %q, want exit 2", code, errs)
	}
}

func TestServeClusterFlagsBadInput(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	e := newClientEnv(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--proxy-protocol"}, "--proxy-from"},
		{[]string{"--proxy-from", "10.0.0.0/8"}, "--proxy-protocol"},
		{[]string{"--proxy-protocol", "--proxy-from", "10.0.0.0/33"}, "--proxy-from"},
		{[]string{"--db", "mysql://h/db"}, "--db"},
		{[]string{"--db", "sqlite:"}, "--db"},
	} {
		code, _, errs := e.run("", append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, c.args...)...)
		if code != ExitUsage || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("serve %v: exit %d, stderr %q; want exit %d mentioning %q in one line", c.args, code, errs, ExitUsage, c.msg)
		}
	}
}
