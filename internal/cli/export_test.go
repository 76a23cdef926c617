package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wharfftp/wharf/internal/testenv"
)

// The ENOSPC class of issue 9 on the admin side: `wharf user export FILE`
// truncated FILE before writing, so an export that ran out of space left
// the earlier one empty. It is written beside FILE and renamed over it
// now: on a full disk (a tmpfs) the earlier export stays whole, the
// command fails with one line, and no temporary file is left.
func TestUserExportOnAFullDiskKeepsTheEarlierExport(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"WHARF_DATA": data}
	for i := range 15 {
		if code, _, errs := wharfUser(t, env, "pw\n", "add", fmt.Sprintf("user%02d", i), "--password-stdin"); code != 0 {
			t.Fatalf("add: %d %s", code, errs)
		}
	}
	disk := testenv.MountTmpfs(t, "64k")
	file := filepath.Join(disk, "users.json")
	earlier := []byte("an earlier export\n")
	if err := os.WriteFile(file, earlier, 0o600); err != nil {
		t.Fatal(err)
	}
	// Fill the disk to the last byte.
	f, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := bytes.Repeat([]byte{1}, 4096); ; {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	code, _, errs := wharfUser(t, env, "", "export", file)
	if code == 0 {
		t.Fatal("export to a full disk succeeded")
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "no space left") {
		t.Errorf("export to a full disk says %q, want one line naming the cause", errs)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, earlier) {
		t.Fatalf("the failed export left %d bytes where the earlier export was", len(b))
	}
	ents, _ := os.ReadDir(disk)
	if len(ents) != 2 {
		t.Fatalf("the failed export left %d entries on the disk, want users.json and the filler", len(ents))
	}
	// With room again, it replaces the earlier one.
	os.Remove(filepath.Join(disk, "filler"))
	if code, _, errs := wharfUser(t, env, "", "export", file); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 4096 {
		t.Fatalf("the export: %v %v, want a 0600 file of every account", fi, err)
	}
}
