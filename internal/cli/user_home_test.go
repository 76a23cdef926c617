package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regression (a home given through a symlink skipped the overlap checks):
// `wharf user add eve --home LINK` where LINK pointed at a folder holding
// the data directory succeeded, and eve could then download wharf.db and
// tls/key.pem; a link to another user's home made them share it. The
// checks now compare the paths with links resolved.
func TestUserAddRefusesHomesThatReachTheDataDirOrAnotherHomeThroughSymlinks(t *testing.T) {
	top := t.TempDir()
	data := filepath.Join(top, "srv", "data")
	env := map[string]string{"WHARF_DATA": data}
	add := func(name, home string) (int, string) {
		t.Helper()
		code, _, errs := wharfUser(t, env, "pw\n", "add", name, "--password-stdin", "--home", home)
		return code, errs
	}
	if code, errs := add("alice", filepath.Join(top, "users", "alice")); code != 0 {
		t.Fatalf("add alice: exit %d, %s", code, errs)
	}
	links := filepath.Join(top, "links")
	os.MkdirAll(links, 0o755)
	link := func(name, target string) string {
		t.Helper()
		p := filepath.Join(links, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ what, home, want string }{
		{"a link to a folder holding the data directory", link("srv", filepath.Join(top, "srv")), "contains the data directory"},
		{"a link to the data directory", link("data", data), "contains the data directory"},
		{"a folder below a link into the data directory", filepath.Join(link("data2", data), "tls"), "inside the data directory"},
		{"a link to another user's home", link("alice", filepath.Join(top, "users", "alice")), "inside the home of user alice"},
		{"a new folder below a link to another user's home", filepath.Join(link("alice2", filepath.Join(top, "users", "alice")), "new", "deeper"), "inside the home of user alice"},
		{"a link to a folder holding another user's home", link("users", filepath.Join(top, "users")), "holds the home of user alice"},
	}
	for _, c := range cases {
		code, errs := add("eve", c.home)
		if code == 0 {
			t.Errorf("%s (%s) was accepted as a home", c.what, c.home)
			continue
		}
		if !strings.Contains(errs, c.want) {
			t.Errorf("%s: stderr %q, want it to say %q", c.what, errs, c.want)
		}
	}
	// A link to a folder of its own is a fine home.
	own := filepath.Join(top, "eve-real")
	os.MkdirAll(own, 0o755)
	if code, errs := add("eve", link("eve", own)); code != 0 {
		t.Fatalf("a link to an unrelated folder: exit %d, %s", code, errs)
	}
	// And its target is then taken: bob cannot reach it by its real path.
	if code, _ := add("bob", filepath.Join(own, "sub")); code == 0 {
		t.Fatal("a home inside eve's home, named by its real path, was accepted")
	}
}
