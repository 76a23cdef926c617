package accounts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Files of a data directory.
const (
	markerFile = ".wharf-data" // says the directory is ours
	dbFile     = "wharf.db"
	lockFile   = "serve.lock"
	homesDir   = "home" // default homes: DATA/home/NAME
	marker     = "wharf data directory, format 1\n"
)

// ErrNotDataDir marks a directory wharf refuses to use: not empty, and not
// created by wharf.
var ErrNotDataDir = errors.New("not a wharf data directory")

// ErrNoDataDir means the data directory does not exist (and the caller asked
// not to create it).
var ErrNoDataDir = errors.New("no wharf data directory")

// prepareDataDir makes dir a wharf data directory, or checks that it is one,
// and returns its absolute path.
func prepareDataDir(dir string, mustExist bool) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(abs, markerFile)); err == nil {
		return abs, nil
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if mustExist {
			return "", fmt.Errorf("%w at %s", ErrNoDataDir, abs)
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return "", fmt.Errorf("create data directory: %w", err)
		}
	case err != nil:
		return "", fmt.Errorf("data directory %s: %w", abs, err)
	case len(entries) > 0:
		return "", fmt.Errorf("%s: %w (it is not empty and has no %s marker); refusing to use it", abs, ErrNotDataDir, markerFile)
	}
	if err := os.WriteFile(filepath.Join(abs, markerFile), []byte(marker), 0o600); err != nil {
		return "", fmt.Errorf("mark data directory: %w", err)
	}
	return abs, nil
}

// ErrDataDirInUse means another wharf serve holds the data directory.
var ErrDataDirInUse = errors.New("data directory is in use by another wharf serve")

// LockServer takes the data directory's exclusive server lock, so two
// servers never share one database and quota accounts. Admin commands do
// not take it and run beside a server. The lock is an flock on
// DATA/serve.lock, released by unlock or by the process's death, so a crash
// leaves nothing stale behind. The file holds the holder's pid for the
// error message.
func LockServer(dataDir string) (unlock func(), err error) {
	abs, err := prepareDataDir(dataDir, false)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(abs, lockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				return nil, fmt.Errorf("%w (pid %d): %s", ErrDataDirInUse, pid, abs)
			}
			return nil, fmt.Errorf("%w: %s", ErrDataDirInUse, abs)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		// Empty the pid first so a reader never sees a dead holder's pid
		// next to a free lock for long; the flock goes with the close.
		f.Truncate(0)
		f.Close()
	}, nil
}
