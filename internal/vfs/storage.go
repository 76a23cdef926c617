package vfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Storage is the seam between the protocol engines and where files live,
// shaped by what FTP and the share page do rather than by what a local
// file can do, so that a backend without file descriptors (an object
// store) fills it as fully as the local disk:
//
//   - a download is a Reader opened at an offset;
//   - an upload is an Upload handle the engine writes to and then commits
//     or abandons; the commit is where a backend makes the new file
//     appear atomically, and refuses to replace one when asked not to;
//   - a listing is a Lister read in batches, so it streams;
//   - errors are the sentinels below (matched with errors.Is), which the
//     engine maps to replies in one place.
//
// Names are as for FS: slash-separated, relative to the root, "." the
// root itself. Every call takes the caller's context first: an aborted
// session cancels work on a slow backend through it.
//
// What only some backends can do is discovered through optional
// interfaces: OSFiler (zero-copy on a local file), Checksummer (stored
// checksums), NoReplaceRenamer.
type Storage interface {
	// OpenRead opens a regular file for reading from off (0 <= off <=
	// size). A folder gives ErrIsDir.
	OpenRead(ctx context.Context, name string, off int64) (Reader, error)
	// Create starts an upload to name (see CreateOptions). Nothing is
	// visible under name before Commit, except for a resume on a backend
	// that writes in place (Local), where the file already was.
	Create(ctx context.Context, name string, o CreateOptions) (Upload, error)
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// List opens the folder name for listing.
	List(ctx context.Context, name string) (Lister, error)
	Mkdir(ctx context.Context, name string, perm fs.FileMode) error
	// Remove removes a file, or a folder that is empty (ErrNotEmpty
	// otherwise).
	Remove(ctx context.Context, name string) error
	// Rename moves a file or a folder; a file already called newname is
	// replaced. A backend that cannot move a folder atomically may refuse
	// big ones with ErrTooLarge, never leaving one half moved.
	Rename(ctx context.Context, oldname, newname string) error
	// Chtimes sets the modification time (atime is ignored where a backend
	// has none).
	Chtimes(ctx context.Context, name string, atime, mtime time.Time) error
	// Avail reports the bytes free to a writer under name (a backend
	// without a limit reports math.MaxInt64).
	Avail(ctx context.Context, name string) (int64, error)
	Close() error
}

// Reader is an open download. Info describes the file as it was opened;
// reading past Info().Size() gives io.EOF.
type Reader interface {
	io.ReadCloser
	Info() fs.FileInfo
}

// Lister reads a folder's entries. Next returns at most n entries and
// io.EOF once none are left (possibly with the last entries). Entries
// come in the backend's order.
type Lister interface {
	Next(n int) ([]fs.FileInfo, error)
	Close() error
}

// CreateOptions says what an upload is for.
type CreateOptions struct {
	// Resume keeps the first Offset bytes of the existing file and writes
	// after them (REST+STOR, APPE). Without Resume the upload is a whole
	// new file, and Offset must be 0.
	Resume bool
	Offset int64
	// NoReplace makes Commit fail with ErrExist, changing nothing, if
	// something has the name by then (another session created it). The
	// upload is still pending then: commit it again without NoReplace
	// through CommitReplace, or abandon it.
	NoReplace bool
	// Durable asks Commit to make the file durable before returning.
	Durable bool
	// TempName is the base name, in the target's folder, under which a
	// backend that stages uploads as files (Local) writes before Commit;
	// the engine picks it so that it can recover uploads a crash left
	// behind. A backend that stages elsewhere ignores it.
	TempName string
}

// Upload is a file being written. Write is called from one goroutine.
// Exactly one of Commit (or CommitReplace) and Abandon ends it; either
// frees what it holds. After a failed Write the engine may still Commit
// what arrived (the broken-upload policy): Written bytes are then kept.
type Upload interface {
	io.Writer
	// Commit puts the file in place under its name.
	Commit(ctx context.Context) (Committed, error)
	// Abandon drops what was written: the name keeps whatever it had.
	// A Local resume writes in place, so there the bytes stay.
	Abandon(ctx context.Context) error
}

// ReplaceCommitter is an Upload created with NoReplace whose Commit found
// the name taken: CommitReplace puts it in place anyway.
type ReplaceCommitter interface {
	CommitReplace(ctx context.Context) (Committed, error)
}

// Committed reports what a Commit replaced, for the quota: Replaced is
// true when a regular file of OldSize bytes had the name just before.
type Committed struct {
	Replaced bool
	OldSize  int64
}

// OSFiler is the fast path of a Reader or an Upload backed by a local
// file: the transfer loops hand the *os.File to sendfile(2) and splice(2).
// It must not be written or read around the handle's own methods except
// through that copy.
type OSFiler interface {
	OSFile() *os.File
}

// Lstater is a Storage with symbolic links: Lstat describes a link
// itself, where Stat describes what it points to. The engine looks with
// Lstat where it has it, so a DELE or an upload over a link changes the
// link, never its target.
type Lstater interface {
	Lstat(ctx context.Context, name string) (fs.FileInfo, error)
}

// Identifier is a Storage that can name where it lives, uniquely in the
// process (a folder path, a bucket and key prefix): two Storages with one
// identity are the same files, and the engine's per-name locks (its commit
// rule) must then be shared between them.
type Identifier interface {
	Dir() string
}

// Checksummer is a Storage that may know a file's checksum without
// reading it (stored while it was uploaded). ok is false when it does not
// know it for this algorithm, or no longer (the file changed since).
type Checksummer interface {
	Checksum(ctx context.Context, name, algo string) (sum string, ok bool, err error)
}

// Errors of the seam. Backends return errors that satisfy errors.Is with
// one of them; ErrNotExist, ErrExist and ErrPermission are the io/fs
// sentinels, so *os.PathError values already match.
var (
	ErrNotExist   = fs.ErrNotExist
	ErrExist      = fs.ErrExist
	ErrPermission = fs.ErrPermission
	ErrNotEmpty   = errors.New("folder not empty")
	ErrNotDir     = errors.New("not a folder")
	ErrIsDir      = errors.New("is a folder")
	// ErrNoSpace: the storage is full (a disk, a bucket's own quota).
	ErrNoSpace = errors.New("no space left on the storage")
	// ErrTransient: the storage did not answer or failed in a way that
	// may pass (an outage, throttling, a timeout): retry later.
	ErrTransient = errors.New("storage temporarily unavailable")
	// ErrTooLarge: the operation is refused on this backend for its size
	// (a folder rename on an object store above its documented bound).
	ErrTooLarge = errors.New("too large for this operation on this storage")
)

// kindError is an error of a backend that also matches a seam sentinel.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }
func (e *kindError) Is(target error) bool {
	return target == e.kind
}

// WithKind returns err marked as also being kind (one of the sentinels
// above); a nil err stays nil.
func WithKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// OSError maps an error of a local file reached through OSFiler (the
// zero-copy paths write and read it around the handle's methods) to the
// seam's sentinels, as the handle's own methods would have.
func OSError(err error) error { return localErr(err) }

// localErr maps the errno values of local filesystem calls to the seam's
// sentinels; the original error stays reachable with errors.As.
func localErr(err error) error {
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.ENOTEMPTY:
		return WithKind(ErrNotEmpty, err)
	case syscall.EEXIST:
		// rmdir(2) of a folder with entries may say EEXIST (POSIX); it
		// stays an fs.ErrExist as well.
		return err
	case syscall.ENOTDIR:
		return WithKind(ErrNotDir, err)
	case syscall.EISDIR:
		return WithKind(ErrIsDir, err)
	case syscall.EINVAL:
		// A name the filesystem cannot hold, a folder moved into itself.
		return WithKind(fs.ErrInvalid, err)
	case syscall.ENAMETOOLONG:
		return WithKind(ErrBadPath, err)
	case syscall.ENOSPC, syscall.EDQUOT:
		return WithKind(ErrNoSpace, err)
	case syscall.EIO, syscall.EAGAIN, syscall.ETIMEDOUT, syscall.ESTALE:
		return WithKind(ErrTransient, err)
	}
	return err
}
