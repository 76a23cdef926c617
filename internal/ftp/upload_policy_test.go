package ftp_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
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
