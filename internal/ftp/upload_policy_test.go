package ftp_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// Regression (`wharf share --write`: a killed upload left a 1.5 MiB
// partial.bin that looked complete, while its uploader, lacking append and
// overwrite permission, could never resume or replace it): a broken upload
// keeps what arrived only for a user who may finish it; otherwise it is
// discarded, its room given back, and answered 426.
func TestBrokenUploadIsDiscardedWhenItsUploaderCannotResumeIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		perms accounts.Perm
		keep  bool
	}{
		{"drop box", accounts.PresetUploadOnly | accounts.PermList, false},
		{"may append", accounts.PresetUploadOnly | accounts.PermList | accounts.PermAppend, true},
		{"may overwrite", accounts.PresetUploadOnly | accounts.PermList | accounts.PermOverwrite, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.Start(t, ftptest.Options{})
			u := srv.Users.Set(accounts.User{Name: "v", Perms: tc.perms, QuotaBytes: 10 << 20, QuotaFiles: 10}, "pw")
			r := dialRaw(t, srv.Addr)
			r.login("v", "pw")
			r.must("TYPE I", 200)
			dc := dataConn(t, r)
			r.must("STOR partial.bin", 150)
			data := randomBytes(t, 1536<<10)
			if _, err := dc.Write(data); err != nil {
				t.Fatal(err)
			}
			// Wait for the server to take it all, then reset the
			// connection as a killed client's kernel may.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && tempSize(u.Home) < int64(len(data)); {
				time.Sleep(10 * time.Millisecond)
			}
			dc.(*net.TCPConn).SetLinger(0)
			dc.Close()
			r.expect(426)

			got := usage(t, srv, "v", "pw")
			fi, err := os.Stat(filepath.Join(u.Home, "partial.bin"))
			if tc.keep {
				if err != nil || fi.Size() == 0 {
					t.Fatalf("a user who may resume lost the partial upload: %v", err)
				}
				if got.UsedBytes != fi.Size() || got.UsedFiles != 1 {
					t.Errorf("usage %+v, want the %d bytes kept in 1 file", got, fi.Size())
				}
				return
			}
			if err == nil {
				t.Fatalf("partial.bin (%d bytes) kept for a user who can never finish it", fi.Size())
			}
			ents, _ := os.ReadDir(u.Home)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".wharf-upload-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
			if got.UsedBytes != 0 || got.UsedFiles != 0 {
				t.Errorf("usage %+v after a discarded upload, want nothing", got)
			}
			// A fresh upload of the same name is a new file again.
			dc = dataConn(t, r)
			r.must("STOR partial.bin", 150)
			dc.Write(data[:1000])
			dc.Close()
			r.expect(226)
		})
	}
}

// tempSize is the size of the upload temporary file in dir, -1 if none.
func tempSize(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), ".wharf-upload-") {
			return fi.Size()
		}
	}
	return -1
}

// Regression (the `wharf share --write` report itself: a killed `curl -T`
// left partial.bin): a killed client's kernel ends the data connection with
// a FIN, as if the upload were complete, so for a user who cannot resume,
// an upload whose client closed the control connection with it is broken
// and discarded. A finished curl upload by the same user still lands.
func TestKilledCurlUploadLeavesNothingForAUserWhoCannotResume(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "v", Perms: accounts.PresetUploadOnly | accounts.PermList}, "pw")
	for i := range 3 { // the race it pins is between two FINs: try a few
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(curl, "-s", "-T", "-", "ftp://v:pw@"+srv.Addr+"/partial.bin")
		cmd.Stdin = pr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pr.Close()
		pw.Write(randomBytes(t, 1536<<10))
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && tempSize(u.Home) < 1536<<10; {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		pw.Close()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ents, _ := os.ReadDir(u.Home); len(ents) == 0 {
				break
			}
		}
		if ents, _ := os.ReadDir(u.Home); len(ents) != 0 {
			t.Fatalf("try %d: home holds %v after a killed upload, want nothing", i, ents)
		}
		// The server gives the bytes back right after it removes the file:
		// wait for that too, but no longer than for the file.
		got := usage(t, srv, "v", "pw")
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (got.UsedBytes != 0 || got.UsedFiles != 0); time.Sleep(5 * time.Millisecond) {
			got = usage(t, srv, "v", "pw")
		}
		if got.UsedBytes != 0 || got.UsedFiles != 0 {
			t.Fatalf("try %d: usage %+v after a killed upload, want nothing", i, got)
		}
	}
	src := filepath.Join(t.TempDir(), "whole.bin")
	data := randomBytes(t, 1536<<10)
	writeFile(t, src, data)
	if out, err := exec.Command(curl, "-sS", "-T", src, "ftp://v:pw@"+srv.Addr+"/whole.bin").CombinedOutput(); err != nil {
		t.Fatalf("curl upload: %v\n%s", err, out)
	}
	if fileSum(t, filepath.Join(u.Home, "whole.bin")) != sum(data) {
		t.Fatal("a finished curl upload did not land whole")
	}
}
