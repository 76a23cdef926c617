package cli

import (
	"strings"
	"testing"
)

// An error naming a server's file (or quoting its reply) reaches the
// terminal with control characters escaped: the name is the server's or
// the link's author's to choose, the screen is not.
func TestClientErrorsShowControlCharactersEscaped(t *testing.T) {
	srv, _, _ := startServer(t, false)
	code, _, stderr := newClientEnv(t).run("", "get", "ftp://alice:secret@"+srv.Addr+"/%1b]0;owned%07%1b[2J.txt", t.TempDir()+"/x")
	if code == 0 {
		t.Fatal("get of a name with control characters succeeded")
	}
	if strings.ContainsAny(stderr, "\x1b\x07") || !strings.Contains(stderr, `\x1b]0;owned\x07`) {
		t.Fatalf("stderr: %q", stderr)
	}
}
