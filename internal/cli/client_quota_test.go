package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/accounts"
)

// Issue 10: a quota refusal keeps the part that fit under the real name;
// the upload's summary says which file was cut short and by how much, and
// a later get says "partial upload" for it, not "verified".
func TestQuotaCutUploadIsNamedAndItsDownloadSaysPartial(t *testing.T) {
	srv, _, _ := startServer(t, false)
	srv.Users.Set(accounts.User{Name: "small", Perms: accounts.PresetFull, QuotaBytes: 30_000}, "pw")
	src := filepath.Join(t.TempDir(), "tree")
	writeRandom(t, filepath.Join(src, "a.bin"), 10_000)
	writeRandom(t, filepath.Join(src, "b.bin"), 40_000)
	e := newClientEnv(t)
	base := "ftp://small:pw@" + srv.Addr + "/"
	code, stdout, stderr := e.run("", "put", "-r", src, base)
	if code != ExitQuota || !strings.Contains(stdout, "1 cut short by the quota (tree/b.bin 19.5KiB of 39KiB)") {
		t.Fatalf("put -r past the quota: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "cut short by the quota, 19.5KiB of 39KiB stored") {
		t.Errorf("stderr does not say how much was stored:\n%s", stderr)
	}
	code, stdout, stderr = e.run("", "get", "-r", base+"tree", t.TempDir())
	if code != 0 {
		t.Fatalf("get -r: exit %d: %s", code, stderr)
	}
	var bLine string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "tree/b.bin ") {
			bLine = l
		}
	}
	if !strings.Contains(bLine, "partial upload") || strings.Contains(bLine, "verified") {
		t.Errorf("the cut file's line: %q, want it called a partial upload\n%s", bLine, stdout)
	}
	if !strings.Contains(stdout, "1 verified SHA-256") || !strings.Contains(stdout, "1 partial uploads copied as they are (tree/b.bin)") {
		t.Errorf("summary:\n%s", stdout)
	}
}
