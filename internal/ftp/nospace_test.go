package ftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// The class of TestFullDiskRefusalKeepsTheOriginal (issue 9): no upload
// command may truncate or replace a file before the new data is safely
// stored, so a full disk (a 4 MiB tmpfs holding a 2 MiB file) refuses with
// 452 and the original's bytes are all still there. REST below the end
// cut the file at the offset before any byte arrived, and the refusal
// then left neither the old tail nor the new one.
func TestFullDiskRefusalKeepsTheOriginalForEveryUploadCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		// send uploads 5 MiB (more than the disk holds) to "precious.bin" (2 MiB) and returns the reply
		// that ended the transfer.
		send func(t *testing.T, r *raw, data []byte) int
		// whole: the file must be exactly the original; otherwise the
		// original must be its prefix (what fitted of an append is kept,
		// resumable, as the quota refusal keeps it).
		whole bool
	}{
		{"STOR", func(t *testing.T, r *raw, data []byte) int { return upload(t, r, "STOR precious.bin", data) }, true},
		{"REST below the end + STOR", func(t *testing.T, r *raw, data []byte) int {
			r.must("REST 1024", 350)
			return upload(t, r, "STOR precious.bin", data)
		}, true},
		{"REST 1 + STOR", func(t *testing.T, r *raw, data []byte) int {
			r.must("REST 1", 350)
			return upload(t, r, "STOR precious.bin", data)
		}, true},
		{"REST at the end + STOR", func(t *testing.T, r *raw, data []byte) int {
			r.must("REST 2097152", 350)
			return upload(t, r, "STOR precious.bin", data)
		}, false},
		{"APPE", func(t *testing.T, r *raw, data []byte) int { return upload(t, r, "APPE precious.bin", data) }, false},
		{"STOU", func(t *testing.T, r *raw, data []byte) int { return upload(t, r, "STOU precious.bin", data) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := testenv.MountTmpfs(t, "4m")
			srv := ftptest.Start(t, ftptest.Options{})
			srv.Users.Set(accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull}, "pw")
			orig := randomBytes(t, 2<<20)
			writeFile(t, filepath.Join(home, "precious.bin"), orig)
			r := dialRaw(t, srv.Addr)
			r.login("q", "pw")
			r.must("TYPE I", 200)
			if code := tc.send(t, r, randomBytes(t, 5<<20)); code != 452 {
				t.Fatalf("5 MiB with 2 MiB free: %d, want 452", code)
			}
			got, err := os.ReadFile(filepath.Join(home, "precious.bin"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.whole && !bytes.Equal(got, orig):
				t.Fatalf("the refusal for lack of space changed the original (%d bytes now)", len(got))
			case !tc.whole && !bytes.HasPrefix(got, orig):
				t.Fatalf("the refusal for lack of space changed the original's bytes (%d bytes now)", len(got))
			}
			ents, _ := os.ReadDir(home)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".wharf-upload-") {
					t.Errorf("a temporary file is left: %s", e.Name())
				}
			}
			equalsDisk(t, srv, "q", "pw", home)
		})
	}
}

// upload sends cmd on a fresh passive data connection, writes data until
// the server stops taking it, and returns the final reply's code.
func upload(t *testing.T, r *raw, cmd string, data []byte) int {
	t.Helper()
	dc := dataConn(t, r)
	r.must(cmd, 150)
	dc.Write(data) // fails once the server refuses and closes
	dc.Close()
	code, _ := r.read()
	return code
}
