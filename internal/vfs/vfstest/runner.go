package vfstest

import "testing"

// suite runs a conformance suite's subtests one after the other and lets
// the suite's helpers (closures shared by every subtest) fail the one
// running.
type suite struct {
	t   *testing.T
	cur *testing.T // the running subtest
}

// run runs fn as the subtest name.
func (s *suite) run(name string, fn func(t *testing.T)) {
	s.t.Run(name, func(t *testing.T) {
		s.cur = t
		fn(t)
	})
}

// must fails the running subtest on an error.
func (s *suite) must(err error) {
	s.cur.Helper()
	if err != nil {
		s.cur.Fatal(err)
	}
}
