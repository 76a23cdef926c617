package vfs

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The fast local path: one openat2(2) confined by the kernel instead of
// os.Root's walk. os.Root opens and closes every folder on the way in user
// space, and every *os.File it returns costs five more calls (fcntl,
// epoll_ctl refused with EPERM for a regular file, fcntl back) while Go
// tests whether the poller can take it. A small upload paid about twenty
// system calls for its temporary file and its rename before a byte moved.
//
// RESOLVE_BENEATH refuses, in the kernel and atomically with the lookup,
// any "..", absolute path or symbolic link that would leave the root, as
// os.Root does. Any error at all (openat2 missing, a path that tries to
// leave, a name that does not exist) falls back to os.Root, so errors and
// the rare paths keep exactly os.Root's behaviour; only the common,
// successful open is served here.

const beneathResolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// beneath opens name under the root with openat2; ok is false when the
// caller must use os.Root instead.
func (l *Local) beneath(name string, flags int, perm uint32) (fd int, ok bool) {
	rfd, err := dirFD(l.dir)
	if err != nil {
		return -1, false
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(perm), Resolve: beneathResolve}
	if flags&unix.O_CREAT == 0 {
		how.Mode = 0
	}
	for {
		fd, err = unix.Openat2(rfd, name, &how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, false
	}
	return fd, true
}

// createBeneath is root.OpenFile(name, O_WRONLY|O_CREATE|O_EXCL, perm).
func (l *Local) createBeneath(name string, perm os.FileMode) (*os.File, error) {
	if fd, ok := l.beneath(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, uint32(perm.Perm())); ok {
		return os.NewFile(uintptr(fd), name), nil
	}
	return l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

// dirBeneath opens the folder name as a descriptor for the *at calls
// (O_PATH: no read access needed, no poller); close it with unix.Close.
// ok is false when the caller must use os.Root instead.
func (l *Local) dirBeneath(name string) (fd int, ok bool) {
	return l.beneath(name, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// lstatBeneath is root.Lstat(name) for a name in a subfolder, where
// os.Root opens each folder on the way (openat, fstatat, close for
// "dir/file"): one openat2(O_PATH|O_NOFOLLOW) instead, which is all a name
// that does not exist costs (an upload's three looks at its new name: the
// STOR, BeginUpload and the commit). An existing name costs the openat2,
// Go's fcntl probe, an fstat and a close: one call more than os.Root, for
// an *os.File's FileInfo (os.SameFile must keep working on it). ok is false
// when the caller must ask os.Root: a name at the top (one fstatat there),
// an odd name, any error but ENOENT.
func (l *Local) lstatBeneath(name string) (fi fs.FileInfo, err error, ok bool) {
	if !strings.Contains(name, "/") || path.Clean(name) != name || path.IsAbs(name) {
		return nil, nil, false
	}
	rfd, err := dirFD(l.dir)
	if err != nil {
		return nil, nil, false
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: beneathResolve}
	var fd int
	for {
		fd, err = unix.Openat2(rfd, name, &how)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == unix.ENOENT:
		// Beneath the root and missing: what os.Root answers too (a link
		// on the way that leaves the root is EXDEV, asked again there).
		return nil, &fs.PathError{Op: "lstatat", Path: name, Err: syscall.ENOENT}, true
	case err != nil:
		return nil, nil, false
	}
	f := os.NewFile(uintptr(fd), path.Base(name))
	fi, err = f.Stat()
	f.Close()
	if err != nil {
		return nil, nil, false
	}
	return fi, nil, true
}
