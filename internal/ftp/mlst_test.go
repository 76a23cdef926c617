package ftp_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (OPTS MLST with an empty or unknown fact list turned on all
// facts): RFC 3659 section 7.9 says such a list selects none, so MLST and
// MLSD print only the names.
func TestOptsMlstWithNoKnownFactSelectsNone(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "f.bin"), []byte("12345"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	host, _ := hostPort(t, srv.Addr)
	for _, opts := range []string{"OPTS MLST", "OPTS MLST ", "OPTS MLST frob;", "OPTS MLST ;;"} {
		code, msg := r.send(opts)
		if code != 200 || strings.TrimSpace(msg) != "MLST OPTS" {
			t.Errorf("%q = %d %q, want 200 MLST OPTS with no facts", opts, code, msg)
		}
		lines := strings.Split(r.must("MLST f.bin", 250), "\n")
		// The entry line is a space, the facts (none), a space, the name.
		if len(lines) < 2 || lines[1] != "  /f.bin" {
			t.Errorf("after %q, MLST f.bin = %q, want the name alone", opts, lines)
		}
		if msg := r.must("FEAT", 211); !strings.Contains(msg, " MLST type;size;modify;perm;unique;x.wharf.partial;\n") {
			t.Errorf("after %q FEAT still marks facts as selected:\n%s", opts, msg)
		}
		data, code := retrData(t, r, host, "MLSD")
		if code != 226 || string(data) != " f.bin\r\n" {
			t.Errorf("after %q, MLSD = %q (%d), want \" f.bin\\r\\n\"", opts, data, code)
		}
	}
	// A known fact still selects just itself; a new login starts with all.
	r.must("OPTS MLST size;", 200)
	if lines := strings.Split(r.must("MLST f.bin", 250), "\n"); lines[1] != " size=5; /f.bin" {
		t.Errorf("MLST with size selected = %q", lines[1])
	}
	r.must("REIN", 220)
	r.login("alice", "secret")
	if lines := strings.Split(r.must("MLST f.bin", 250), "\n"); !strings.Contains(lines[1], "type=file;") || !strings.Contains(lines[1], "modify=") {
		t.Errorf("MLST after REIN and a new login = %q, want all facts", lines[1])
	}
}
