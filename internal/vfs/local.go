package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// Local is an FS on a directory of the local disk, confined by os.Root: the
// kernel-level openat walk refuses any component, symlinks included, that
// would leave the root.
type Local struct {
	root *os.Root
	dir  *os.File // the root folder itself, for openat2 (beneath.go)
}

// OpenLocal opens dir as the root of a Local FS.
func OpenLocal(dir string) (*Local, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	// Opened through the root, so both name the same folder even if dir
	// is renamed or replaced meanwhile.
	d, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &Local{root: r, dir: d}, nil
}

// Dir reports the directory the FS is rooted at (vfs.Identifier).
func (l *Local) Dir() string { return l.root.Name() }

func (l *Local) Open(_ context.Context, name string) (File, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (l *Local) OpenFile(_ context.Context, name string, flag int, perm fs.FileMode) (File, error) {
	f, err := l.root.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (l *Local) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	fi, err := l.root.Stat(name)
	return fi, localErr(err)
}

func (l *Local) Lstat(_ context.Context, name string) (fs.FileInfo, error) {
	if fi, err, ok := l.lstatBeneath(name); ok {
		return fi, err
	}
	fi, err := l.root.Lstat(name)
	return fi, localErr(err)
}

func (l *Local) Mkdir(_ context.Context, name string, perm fs.FileMode) error {
	return localErr(l.root.Mkdir(name, perm))
}

func (l *Local) MkdirAll(_ context.Context, name string, perm fs.FileMode) error {
	return localErr(l.root.MkdirAll(name, perm))
}

func (l *Local) Remove(_ context.Context, name string) error {
	return localErr(l.root.Remove(name))
}

func (l *Local) Rename(_ context.Context, oldname, newname string) error {
	return localErr(l.root.Rename(oldname, newname))
}

// RenameNoReplace implements NoReplaceRenamer with renameat2
// (RENAME_NOREPLACE) on the parent folders opened inside the root.
func (l *Local) RenameNoReplace(_ context.Context, oldname, newname string) error {
	ofd, closeOld, err := l.openDir(path.Dir(oldname))
	if err != nil {
		return err
	}
	defer closeOld()
	nfd := ofd
	if path.Dir(newname) != path.Dir(oldname) {
		var closeNew func()
		if nfd, closeNew, err = l.openDir(path.Dir(newname)); err != nil {
			return err
		}
		defer closeNew()
	}
	err = unix.Renameat2(ofd, path.Base(oldname), nfd, path.Base(newname), unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// A filesystem without RENAME_NOREPLACE: link(2) refuses an
		// existing name just as atomically, and the old name is removed
		// after. Never a replacing rename: the caller may not replace.
		if err := l.root.Link(oldname, newname); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, errors.ErrUnsupported) {
				// No hard links here either: no atomic refusal at all.
				return WithKind(errors.ErrUnsupported, err)
			}
			return localErr(err)
		}
		return localErr(l.root.Remove(oldname))
	}
	if err != nil {
		return localErr(&os.LinkError{Op: "renameat2", Old: oldname, New: newname, Err: err})
	}
	return nil
}

// openDir returns a descriptor of the folder name for the *at calls and
// the function that closes it.
func (l *Local) openDir(name string) (int, func(), error) {
	if fd, ok := l.dirBeneath(name); ok {
		return fd, func() { unix.Close(fd) }, nil
	}
	d, err := l.root.Open(name)
	if err != nil {
		return -1, nil, err
	}
	fd, err := dirFD(d)
	if err != nil {
		d.Close()
		return -1, nil, err
	}
	return fd, func() { d.Close() }, nil
}

// dirFD returns the descriptor of an open folder (valid while f is open).
func dirFD(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	rc.Control(func(d uintptr) { fd = int(d) })
	return fd, nil
}

func (l *Local) Chtimes(_ context.Context, name string, atime, mtime time.Time) error {
	return localErr(l.root.Chtimes(name, atime, mtime))
}

func (l *Local) Avail(_ context.Context, name string) (int64, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", name, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func (l *Local) Close() error {
	l.dir.Close()
	return l.root.Close()
}
