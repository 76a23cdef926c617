package ftp_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (a crash during an upload left a hidden .wharf-upload-* file
// forever, charged to the user, invisible and unresumable): the first login
// after a start settles every temporary file older than the server.
func TestStaleUploadTempFilesAreRecoveredAtFirstLogin(t *testing.T) {
	home := t.TempDir()
	old := time.Now().Add(-time.Hour)
	put := func(name string, size int, stale bool) []byte {
		t.Helper()
		b := randomBytes(t, size)
		p := filepath.Join(home, name)
		writeFile(t, p, b)
		if stale {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	newBin := put(".wharf-upload-0123456789abcdef-n-new.bin", 1000, true) // a new file: kept
	taken := put("taken", 500, false)
	put(".wharf-upload-1111111111111111-n-taken", 400, true) // its name was taken meanwhile
	doc := put("doc", 300, false)
	put(".wharf-upload-2222222222222222-r-doc", 700, true) // a replacement: the original stays
	put(".wharf-upload-3333333333333333", 50, true)        // target unknown
	deep := put("sub/.wharf-upload-4444444444444444-n-deep", 200, true)
	put(".wharf-upload-5555555555555555-n-fresh", 10, false) // an upload of this process
	// The usage the crashed server left: every temporary file's bytes
	// committed, a file taken by each new one, the replaced original's
	// bytes freed.
	srv := ftptest.Start(t, ftptest.Options{Users: []accounts.MemoryUser{{
		User: accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull, QuotaBytes: 1 << 20,
			UsedBytes: 1000 + 500 + 400 + 700 + 50 + 200 + 10, UsedFiles: 6},
	}}})
	if err := srv.Auth.SetPassword("q", "pw"); err != nil {
		t.Fatal(err)
	}
	c := login(t, srv.Addr, "q", "pw")

	want := map[string][]byte{"new.bin": newBin, "taken": taken, "doc": doc, "sub/deep": deep}
	for name, b := range want {
		if fileSum(t, filepath.Join(home, name)) != sum(b) {
			t.Errorf("%s does not hold what it should after recovery", name)
		}
	}
	var temps []string
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".wharf-upload-") {
			temps = append(temps, d.Name())
		}
		return nil
	})
	if len(temps) != 1 || !strings.HasSuffix(temps[0], "-n-fresh") {
		t.Errorf("temporary files left: %v, want only the one newer than the server", temps)
	}
	onDisk, files := walkHome(t, home)
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != onDisk || got.UsedFiles != files {
		t.Errorf("usage %d bytes %d files, a walk of the home finds %d and %d", got.UsedBytes, got.UsedFiles, onDisk, files)
	}
	// The recovered upload is an ordinary, resumable file.
	r, err := c.Retr("new.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, newBin) {
		t.Fatal("RETR of the recovered upload differs")
	}
}

// The temporary file of an upload in flight names its target, so that a
// crash leaves something recovery can put back.
func TestUploadTempFileNamesItsTarget(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	c := login(t, srv.Addr, "alice", "secret")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Stor("report.pdf", pr) }()
	pw.Write(randomBytes(t, 1000))
	var names []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ents, _ := os.ReadDir(home)
		names = names[:0]
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) > 0 {
			break
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || !strings.HasPrefix(names[0], ".wharf-upload-") || !strings.HasSuffix(names[0], "-n-report.pdf") {
		t.Fatalf("folder during the upload holds %v, want one .wharf-upload-*-n-report.pdf", names)
	}
}
