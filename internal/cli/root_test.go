package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Regression (issue 10): `wharf user frobnicate` printed help and exited 0
// while `wharf frobnicate` exited 2. Every level of the command tree, the
// ones cobra adds (help, completion) included, answers an unknown
// subcommand or flag with exit 2 and one line naming it.
func TestEveryCommandRefusesUnknownSubcommandsAndFlagsWithExit2(t *testing.T) {
	e := newClientEnv(t)
	root := newRoot(&Env{Getenv: func(string) string { return "" }})
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		n++
		cases := [][]string{append(append([]string{}, path...), "--frobnicate")}
		if c.HasSubCommands() {
			cases = append(cases, append(append([]string{}, path...), "frobnicate"))
		}
		for _, args := range cases {
			code, _, errs := e.run("", args...)
			if code != ExitUsage || !strings.Contains(errs, "frobnicate") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("wharf %s: exit %d, stderr %q; want exit 2 and one line naming frobnicate", strings.Join(args, " "), code, errs)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	if n < 15 {
		t.Fatalf("walked only %d commands", n)
	}
	// Asking for help is not a mistake.
	for _, args := range [][]string{{"user"}, {"help", "user"}, {"user", "--help"}, {"help"}} {
		if code, out, errs := e.run("", args...); code != 0 || !strings.Contains(out+errs, "Usage:") {
			t.Errorf("wharf %s: exit %d, %q %q", strings.Join(args, " "), code, out, errs)
		}
	}
	if code, _, errs := e.run("", "help", "frobnicate"); code != ExitUsage || !strings.Contains(errs, "frobnicate") {
		t.Errorf("wharf help frobnicate: exit %d, %q", code, errs)
	}
}
