package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// get and put leave a destination that exists and differs alone unless
// Force (or Continue) says otherwise, file by file in a batch; an identical
// one is skipped, not refused. Against wharf and pyftpdlib (LIST, no HASH).
func TestOverwriteRefusedUnlessForced(t *testing.T) {
	servers := map[string]func(t *testing.T) (*Target, string){
		"wharf": func(t *testing.T) (*Target, string) {
			_, tg, home := wharfServer(t, ftptest.Options{})
			return tg, home
		},
		"pyftpdlib": func(t *testing.T) (*Target, string) {
			home := t.TempDir()
			return pyftpd(t, home), home
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			tg, home := start(t)
			ctx := context.Background()
			c := login(t, tg, Options{})
			os.MkdirAll(filepath.Join(home, "tree"), 0o755)
			remoteA := randomFile(t, filepath.Join(home, "tree", "a.bin"), 1000)
			randomFile(t, filepath.Join(home, "tree", "b.bin"), 1000)
			local := t.TempDir()
			os.MkdirAll(filepath.Join(local, "tree"), 0o755)
			mine := randomFile(t, filepath.Join(local, "tree", "a.bin"), 999)

			// One file: refused, the local file untouched, no .part left.
			_, err := Get(ctx, c, "tree/a.bin", filepath.Join(local, "tree", "a.bin"), TransferOptions{})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("get over an existing file: %v, want ErrExists", err)
			}
			if got, _ := os.ReadFile(filepath.Join(local, "tree", "a.bin")); sha(got) != sha(mine) {
				t.Fatal("the refused get changed the local file")
			}
			if _, err := os.Stat(filepath.Join(local, "tree", "a.bin.part")); err == nil {
				t.Fatal("the refused get left a .part")
			}

			// A batch: a.bin refused, b.bin still copied.
			res, err := Get(ctx, c, "tree", local, TransferOptions{Recursive: true})
			if !errors.Is(err, ErrExists) || len(res) != 2 {
				t.Fatalf("get -r: %v %+v", err, res)
			}
			for _, r := range res {
				switch r.Name {
				case "tree/a.bin":
					if r.Skipped != ErrExists.Error() {
						t.Errorf("a.bin: %+v, want skipped as existing", r)
					}
				case "tree/b.bin":
					if r.Verified == "" || r.Skipped != "" {
						t.Errorf("b.bin: %+v, want copied", r)
					}
				}
			}
			// Now b.bin is identical: skipped, no error.
			if _, err := Get(ctx, c, "tree/b.bin", filepath.Join(local, "tree", "b.bin"), TransferOptions{}); err != nil {
				t.Fatalf("get of an identical file: %v", err)
			}
			// -f replaces.
			if _, err := Get(ctx, c, "tree/a.bin", filepath.Join(local, "tree", "a.bin"), TransferOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(local, "tree", "a.bin")); sha(got) != sha(remoteA) {
				t.Fatal("get -f did not replace the local file")
			}

			// put: the same rule on the server.
			up := filepath.Join(t.TempDir(), "a.bin")
			upData := randomFile(t, up, 1500)
			_, err = Put(ctx, c, up, "tree/a.bin", TransferOptions{})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("put over an existing file: %v, want ErrExists", err)
			}
			if got, _ := os.ReadFile(filepath.Join(home, "tree", "a.bin")); sha(got) != sha(remoteA) {
				t.Fatal("the refused put changed the server's file")
			}
			if _, err := Put(ctx, c, up, "tree/a.bin", TransferOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(home, "tree", "a.bin")); sha(got) != sha(upData) {
				t.Fatal("put -f did not replace the server's file")
			}
			if _, err := Put(ctx, c, up, "tree/a.bin", TransferOptions{}); err != nil {
				t.Fatalf("put of an identical file: %v", err)
			}
		})
	}
}
