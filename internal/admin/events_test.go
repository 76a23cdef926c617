package admin_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wftp "github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/hooks"
	"github.com/wharfftp/wharf/internal/metrics"
)

// A wrong admin password or token is a failed login like an FTP one: the
// --on-login-failed command gets its JSON (via "admin") and the logins
// counter moves, so guesses at the admin door are as visible as at FTP's.
func TestAdminLoginFailuresReachHooksAndMetrics(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events.jsonl")
	h := hooks.New(hooks.Options{OnLoginFailed: "cat >> " + out, Node: "n1"})
	t.Cleanup(func() { h.Close(context.Background()) })
	m := metrics.New()
	f := start(t, 10, false, func(c *wftp.Config) {
		c.Events = func(e wftp.Event) { h.Observe(e); m.Observe(e) }
	})
	if code, _, _ := f.do(req{method: "POST", path: "/api/v1/login", body: `{"name":"root","password":"wrong"}`}); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/users", token: "wharf_wrong"}); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	f.must(200, "GET", "/api/v1/users", "") // a good token is no failure

	var lines []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(out)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) >= 2 && lines[0] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook saw %q, want two failed logins", b)
		}
	}
	users := map[string]bool{}
	for _, l := range lines {
		var ev hooks.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("hook input %q: %v", l, err)
		}
		if ev.Event != "login-failed" || ev.Via != "admin" || ev.Remote != "127.0.0.1" || ev.Result != "failed" {
			t.Errorf("hook event %+v", ev)
		}
		users[ev.User] = true
	}
	if !users["root"] || !users["(token)"] || len(lines) != 2 {
		t.Errorf("hook events for users %v (%d lines)", users, len(lines))
	}
	if got := counter(t, m, "wharf_logins_total", "result", "failed"); got != 2 {
		t.Errorf("wharf_logins_total{result=failed} = %v, want 2", got)
	}
}

// counter reads one labelled counter from m's registry.
func counter(t *testing.T, m *metrics.Metrics, name, label, value string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
