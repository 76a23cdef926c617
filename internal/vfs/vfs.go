// Package vfs is the jailed, per-user view of a file tree that every protocol
// front end (FTP, the share's HTTP page) works through.
//
// It owns the translation of client paths into names inside one root, and the
// filesystem operations on those names. It must never let a name reach outside
// its root (no "..", no absolute path, no symlink that points out), never
// interpret protocol commands, and never decide permissions or quotas: those
// belong to the protocol engine and to package accounts.
//
// Names passed to an FS are slash-separated and relative to the root, as
// produced by Resolve: "." is the root itself. The Local backend confines them
// with os.Root, so even a name that slipped past Resolve cannot escape.
package vfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// File is an open file or directory. The Local backend returns *os.File, so
// io.Copy between it and a *net.TCPConn keeps the kernel's zero-copy paths
// (sendfile, splice); callers must not wrap it in buffering readers.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Seeker
	io.Closer
	Stat() (fs.FileInfo, error)
	Sync() error
	Truncate(size int64) error
	// ReadDir reads up to n entries of a directory, so listings can stream.
	ReadDir(n int) ([]fs.DirEntry, error)
}

// FS is a file tree confined to one root. Every method takes the caller's
// context first, so an aborted session can cancel work on slow backends.
type FS interface {
	Open(ctx context.Context, name string) (File, error)
	OpenFile(ctx context.Context, name string, flag int, perm fs.FileMode) (File, error)
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	Lstat(ctx context.Context, name string) (fs.FileInfo, error)
	Mkdir(ctx context.Context, name string, perm fs.FileMode) error
	MkdirAll(ctx context.Context, name string, perm fs.FileMode) error
	// Remove removes a file or an empty directory.
	Remove(ctx context.Context, name string) error
	Rename(ctx context.Context, oldname, newname string) error
	Chtimes(ctx context.Context, name string, atime, mtime time.Time) error
	// Avail reports the bytes free to an unprivileged writer on the
	// filesystem that holds name.
	Avail(ctx context.Context, name string) (int64, error)
	Close() error
}

// NoReplaceRenamer is an FS that can rename a file only if nothing has the
// new name, atomically (the check and the rename cannot be told apart by
// another writer). Uploads use it to put a new file in place without
// looking first, and to commit for a user who may not replace a file. A
// name that exists gives an error satisfying errors.Is(err, fs.ErrExist),
// and nothing changes. An implementation that cannot refuse atomically
// fails; it never falls back to a rename that replaces.
type NoReplaceRenamer interface {
	RenameNoReplace(ctx context.Context, oldname, newname string) error
}

// ErrBadPath is returned by Resolve for a client path that can never name a
// file: it holds a NUL byte, a CR or LF, or is not valid UTF-8 (RFC 2640).
var ErrBadPath = errors.New("invalid path")

// MaxPathLen bounds a client path; longer ones are refused rather than cut,
// as vsftpd does with its command line limit.
const MaxPathLen = 4096

// Resolve turns a client path (absolute, or relative to the client's working
// directory cwd, itself absolute as the client sees it) into the client-visible
// absolute path and the root-relative name an FS takes. ".." can climb at most
// to the root, where it stays, as a chrooted server behaves.
func Resolve(cwd, p string) (abs, name string, err error) {
	if len(p) > MaxPathLen || strings.ContainsAny(p, "\x00\r\n") || !utf8.ValidString(p) {
		// CR and LF could never be listed or named back over FTP, and would
		// let a name forge reply or listing lines.
		return "", "", ErrBadPath
	}
	if !strings.HasPrefix(p, "/") {
		p = cwd + "/" + p
	}
	abs = path.Clean("/" + p)
	if abs == "/" {
		return "/", ".", nil
	}
	return abs, abs[1:], nil
}
