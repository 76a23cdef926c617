package accounts

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"testing"
)

// Migrations apply by their place in name order, so two helpers' files
// numbered alike (0003_admins.sql and 0003_quota.sql once landed together)
// silently renumber every later one on databases migrated in between. The
// numbers must run 0001, 0002, ... without a gap or a repeat.
func TestMigrationNumbersAreConsecutive(t *testing.T) {
	for dir, fsys := range map[string]embed.FS{"migrations": migrationFS, "pgmigrations": pgMigrationFS} {
		names, err := fs.Glob(fsys, dir+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		for i, n := range names {
			if want := fmt.Sprintf("%s/%04d_", dir, i+1); len(n) < len(want) || n[:len(want)] != want {
				t.Errorf("%s: migration %d is %s, want a name starting %s", dir, i+1, n, want)
			}
		}
	}
}
