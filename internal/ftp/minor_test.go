package ftp_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (RNTO into a symbolic link that points out of the home
// answered 451 Local error): the jail's refusal is a 550.
func TestRenameIntoALinkOutOfTheHomeIs550(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(home, "out")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "f"), []byte("data"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("RNFR f", 350)
	r.must("RNTO out/f", 550)
	if _, err := os.Stat(filepath.Join(outside, "f")); err == nil {
		t.Fatal("the file was moved out of the home")
	}
	r.must("RNFR out", 350)
	r.must("RNTO out2", 250) // renaming the link itself stays inside
}

// Regression (RMD of a folder with files in it did not say why): RFC 959
// leaves the text free; wharf says what every other server says.
func TestRemoveNonEmptyFolderSaysDirectoryNotEmpty(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "d", "f"), []byte("x"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	if msg := r.must("RMD d", 550); msg != "Directory not empty." {
		t.Fatalf("RMD of a non-empty folder: %q", msg)
	}
	if msg := r.must("XRMD d", 550); msg != "Directory not empty." {
		t.Fatalf("XRMD of a non-empty folder: %q", msg)
	}
}

// Regression (ACCT and SMNT answered 500 as if unknown, EPSV 3 answered
// 501): RFC 959 section 4.2 has 502 for known commands a server does not
// implement; RFC 2428 section 3 has 522 and the supported list for a
// network protocol the host does not know.
func TestUnimplementedCommandsAndUnknownEpsvProtocol(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.must("ACCT x", 502)
	r.login("alice", "secret")
	r.must("ACCT x", 502)
	r.must("SMNT /mnt", 502)
	if msg := r.must("EPSV 3", 522); msg != "Network protocol not supported, use (1,2)." {
		t.Errorf("EPSV 3: %q", msg)
	}
	r.must("EPSV 2", 522) // the connection is IPv4
	r.must("EPSV foo", 501)
	r.must("EPSV 1", 229)
	r.must("NOOP", 200)
}

// Regression (SIZE in TYPE A reported the file's size, not what an ASCII
// transfer sends): it is refused there, as vsftpd and pyftpdlib do.
func TestSizeIsRefusedInAsciiMode(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "t.txt"), []byte("a\nb\n"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE A", 200)
	if msg := r.must("SIZE t.txt", 550); msg != "SIZE not allowed in ASCII mode." {
		t.Errorf("SIZE in TYPE A: %q", msg)
	}
	r.must("TYPE I", 200)
	if msg := r.must("SIZE t.txt", 213); msg != "4" {
		t.Errorf("SIZE in TYPE I: %q", msg)
	}
}
