package cli

import (
	"strings"
	"testing"
)

// Regression (issue 10): `--expires DATE` silently meant the start of that
// day, and WHARF_PASSWORD was used for whatever user the URL named; both
// are now said where a user looks, in the commands' help.
func TestHelpSaysWhatExpiresDateAndWharfPasswordMean(t *testing.T) {
	e := newClientEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"user", "add", "--help"}, []string{"--expires", "start of that day"}},
		{[]string{"user", "set", "--help"}, []string{"--expires", "start of that day"}},
		{[]string{"get", "--help"}, []string{"WHARF_PASSWORD is taken as the password of whichever", "user logs in", "WHARF_PASSWORD is not used"}},
		{[]string{"put", "--help"}, []string{"WHARF_PASSWORD is taken as the password of whichever"}},
	} {
		code, out, errs := e.run("", tc.args...)
		if code != 0 {
			t.Errorf("wharf %v: exit %d, %s", tc.args, code, errs)
		}
		// Help text is wrapped: compare with line breaks as spaces.
		flat := strings.Join(strings.Fields(out), " ")
		for _, w := range tc.want {
			if !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
				t.Errorf("wharf %v does not say %q", tc.args, w)
			}
		}
	}
}
