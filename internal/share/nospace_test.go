package share

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/testenv"
)

// Issue 9, the class of the full-disk data loss on the HTTP side of
// `share --overwrite`: a PUT over an existing 2 MiB file that runs out of
// space (a 4 MiB tmpfs) answers 507 and keeps the original, and so does
// the FTP STOR of the same share.
func TestShareFullDiskRefusalKeepsTheOriginal(t *testing.T) {
	dir := testenv.MountTmpfs(t, "4m")
	orig := make([]byte, 2<<20)
	rand.Read(orig)
	p := filepath.Join(dir, "precious.bin")
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startShare(t, Options{Dir: dir, Overwrite: true})
	big := make([]byte, 5<<20)
	rand.Read(big)
	req, _ := http.NewRequest(http.MethodPut, s.httpURL()+"/precious.bin", bytes.NewReader(big))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("PUT of 5 MiB with 2 MiB free: %d, want 507", resp.StatusCode)
	}
	check := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(p); !bytes.Equal(b, orig) {
			t.Fatalf("%s: the refusal for lack of space changed the original (%d bytes now)", what, len(b))
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				t.Fatalf("%s: temporary file left: %s", what, e.Name())
			}
		}
	}
	check("HTTP PUT")
	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	if err := c.Stor("/precious.bin", bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "452") {
		t.Fatalf("FTP STOR of 5 MiB with 2 MiB free: %v, want 452", err)
	}
	check("FTP STOR")
}
