//go:build !linux

package ftp

import (
	"context"
	"io"
	"os"

	"github.com/wharfftp/wharf/internal/vfs"
)

// streamDirFD is the Linux getdents/statx fast path; elsewhere the portable
// ReadDir loop runs.
func streamDirFD(context.Context, *os.File, vfs.Storage, string, *lister, io.Writer) (int64, error, bool) {
	return 0, nil, false
}
