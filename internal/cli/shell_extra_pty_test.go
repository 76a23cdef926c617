package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// At a terminal rm -r asks before removing a folder, and only "y" removes
// it; cat escapes a file's terminal controls; a pager and a local command
// get the terminal and the prompt comes back after them.
func TestShellCommandsAtATerminal(t *testing.T) {
	srv, home, _ := startServer(t, false)
	os.MkdirAll(filepath.Join(home, "keep", "inner"), 0o755)
	os.WriteFile(filepath.Join(home, "keep", "inner", "f.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, "evil.txt"), []byte("before\x1b[2Jafter\n"), 0o644)
	e := newClientEnv(t)
	e.vars["PAGER"] = "sed 's/^/paged: /'"
	sh := startScreen(t, e, "ftp", "ftp://alice:secret@"+srv.Addr+"/")
	sh.waitFor("wharf:/> ", 1)

	sh.typ("rm -r keep\r")
	sh.waitFor("remove the folder keep and everything in it? [y/N] ", 1)
	sh.typ("n\r")
	sh.waitFor("keep kept", 1)
	if _, err := os.Stat(filepath.Join(home, "keep", "inner", "f.txt")); err != nil {
		t.Fatal("answered no, and the folder went")
	}
	q := "remove the folder keep and everything in it? [y/N] "
	sh.typ("rm -r keep\r")
	sh.waitFor(q, strings.Count(sh.text(), q)+1)
	sh.typ("y\r")
	sh.typ("lpwd\r")
	sh.waitFor(sh.cmd.Dir+"\n", 1)
	if _, err := os.Stat(filepath.Join(home, "keep")); err == nil {
		t.Fatalf("answered y, and the folder is still there; screen:\n%s", sh.text())
	}

	sh.typ("cat evil.txt\r")
	sh.waitFor(`before\x1b[2Jafter`, 1)
	if strings.Contains(sh.raw(), "before\x1b[2J") {
		t.Error("cat let a file's escape sequence reach the terminal")
	}
	sh.typ("more evil.txt\r")
	sh.waitFor("paged: before", 1)
	sh.typ("!echo from-sh-$((6*7))\r")
	sh.waitFor("from-sh-42", 1)
	sh.typ("quote noop\r")
	sh.waitFor("200 ", 1)
	sh.typ("quit\r")
	if code := sh.exit(); code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, sh.text())
	}
}
