package vfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// Local's side of Storage: a download is the open file itself (OSFiler,
// so sendfile applies), a new upload is a temporary file in the target's
// folder renamed into place by Commit, and a resume writes in place (at
// the end; one below the end is staged too, see rewrite).

var _ Storage = (*Local)(nil)

// OpenRead implements Storage.
func (l *Local) OpenRead(_ context.Context, name string, off int64) (Reader, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return nil, localErr(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, localErr(err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, WithKind(ErrIsDir, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR})
	}
	if off < 0 || off > fi.Size() {
		f.Close()
		return nil, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, localErr(err)
		}
	}
	return &localReader{f: f, fi: fi}, nil
}

// localReader is not an *os.File on purpose: only Read, Close and the
// OSFiler escape hatch are part of the contract.
type localReader struct {
	f  *os.File
	fi fs.FileInfo
}

func (r *localReader) Read(p []byte) (int, error) { return r.f.Read(p) }
func (r *localReader) Close() error               { return r.f.Close() }
func (r *localReader) Info() fs.FileInfo          { return r.fi }
func (r *localReader) OSFile() *os.File           { return r.f }

// List implements Storage. Symbolic links are shown as what they point to
// when that stays inside the root, as the link itself otherwise.
func (l *Local) List(_ context.Context, name string) (Lister, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return nil, localErr(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, localErr(err)
	}
	if !fi.IsDir() {
		f.Close()
		return nil, WithKind(ErrNotDir, &fs.PathError{Op: "list", Path: name, Err: syscall.ENOTDIR})
	}
	return &localLister{l: l, f: f, dir: name}, nil
}

type localLister struct {
	l   *Local
	f   *os.File
	dir string
}

func (ll *localLister) Next(n int) ([]fs.FileInfo, error) {
	ents, err := ll.f.ReadDir(n)
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		fi, ierr := e.Info()
		if ierr != nil {
			continue // vanished since the read
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if tfi, serr := ll.l.root.Stat(path.Join(ll.dir, e.Name())); serr == nil {
				fi = renamedInfo{tfi, e.Name()}
			}
		}
		out = append(out, fi)
	}
	if err == nil && len(ents) == 0 {
		err = io.EOF
	}
	return out, localErr(err)
}

func (ll *localLister) Close() error     { return ll.f.Close() }
func (ll *localLister) OSFile() *os.File { return ll.f }

// renamedInfo is a link's target under the link's name.
type renamedInfo struct {
	fs.FileInfo
	name string
}

func (r renamedInfo) Name() string { return r.name }

// Create implements Storage.
func (l *Local) Create(_ context.Context, name string, o CreateOptions) (Upload, error) {
	if o.Resume {
		f, err := l.root.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return nil, localErr(err)
		}
		fi, err := f.Stat()
		switch {
		case err != nil:
		case !fi.Mode().IsRegular():
			err = WithKind(ErrIsDir, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR})
		case o.Offset < 0 || o.Offset > fi.Size():
			err = &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
		case o.Offset < fi.Size():
			// What followed the offset is replaced, but not by cutting it
			// off now: an upload that then fails (a full disk) would lose
			// the old tail and never bring the new one. The first Offset
			// bytes are copied to a temporary file instead (in the
			// kernel: copy_file_range), which Commit renames over the
			// file.
			f.Close()
			return l.rewrite(name, o)
		}
		if err == nil {
			_, err = f.Seek(o.Offset, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, localErr(err)
		}
		return &localUpload{l: l, f: f, name: name, o: o, inPlace: true}, nil
	}
	if o.Offset != 0 {
		return nil, errors.New("vfs: an offset without Resume")
	}
	return l.staged(name, o)
}

// staged starts an upload through a temporary file beside name.
func (l *Local) staged(name string, o CreateOptions) (*localUpload, error) {
	tmp := o.TempName
	if tmp == "" {
		var b [8]byte
		rand.Read(b[:])
		tmp = ".wharf-upload-" + hex.EncodeToString(b[:])
	}
	tmp = path.Join(path.Dir(name), tmp)
	f, err := l.createBeneath(tmp, 0o644)
	if err != nil {
		return nil, localErr(err)
	}
	return &localUpload{l: l, f: f, name: name, tmp: tmp, o: o}, nil
}

// rewrite starts a resume below the end of name: a staged upload that
// holds the first o.Offset bytes of name already.
func (l *Local) rewrite(name string, o CreateOptions) (Upload, error) {
	src, err := l.root.Open(name)
	if err != nil {
		return nil, localErr(err)
	}
	defer src.Close()
	u, err := l.staged(name, o)
	if err != nil {
		return nil, err
	}
	n, err := u.f.ReadFrom(&io.LimitedReader{R: src, N: o.Offset})
	if err == nil && n < o.Offset {
		err = &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid} // cut meanwhile
	}
	if err != nil {
		u.Abandon(context.Background())
		return nil, localErr(err)
	}
	return u, nil
}

// localUpload writes to f: the temporary file tmp, or (inPlace) the
// target itself.
type localUpload struct {
	l       *Local
	f       *os.File
	name    string
	tmp     string
	o       CreateOptions
	inPlace bool
	closed  bool // f is closed (the data part of Commit is done)
	done    bool // committed or abandoned
}

func (u *localUpload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	return n, localErr(err)
}

func (u *localUpload) OSFile() *os.File { return u.f }

// finish syncs (if durable) and closes the file, once.
func (u *localUpload) finish() error {
	if u.closed {
		return nil
	}
	u.closed = true
	var err error
	if u.o.Durable {
		err = u.f.Sync()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	return localErr(err)
}

func (u *localUpload) Commit(ctx context.Context) (Committed, error) {
	return u.commit(ctx, !u.o.NoReplace)
}

func (u *localUpload) CommitReplace(ctx context.Context) (Committed, error) {
	return u.commit(ctx, true)
}

func (u *localUpload) commit(ctx context.Context, replace bool) (Committed, error) {
	if u.done {
		return Committed{}, errors.New("vfs: upload already ended")
	}
	if err := u.finish(); err != nil {
		u.Abandon(ctx)
		return Committed{}, err
	}
	if u.inPlace {
		u.done = true
		return Committed{}, u.syncDir()
	}
	if !replace {
		err := u.l.RenameNoReplace(ctx, u.tmp, u.name)
		switch {
		case err == nil:
			u.done = true
			return Committed{}, u.syncDir()
		case errors.Is(err, errors.ErrUnsupported):
			// A filesystem without RENAME_NOREPLACE or links: look, then
			// rename.
			if _, serr := u.l.root.Lstat(u.name); serr == nil {
				return Committed{}, WithKind(ErrExist, &fs.PathError{Op: "rename", Path: u.name, Err: fs.ErrExist})
			}
		default:
			// ErrExist included: the upload stays pending.
			return Committed{}, err
		}
	}
	var c Committed
	if old, err := u.l.root.Lstat(u.name); err == nil && old.Mode().IsRegular() {
		c = Committed{Replaced: true, OldSize: old.Size()}
	}
	if err := u.l.root.Rename(u.tmp, u.name); err != nil {
		return Committed{}, localErr(err)
	}
	u.done = true
	return c, u.syncDir()
}

// syncDir makes the rename (or the new size) durable.
func (u *localUpload) syncDir() error {
	if !u.o.Durable {
		return nil
	}
	d, err := u.l.root.Open(path.Dir(u.name))
	if err != nil {
		return localErr(err)
	}
	defer d.Close()
	return localErr(d.Sync())
}

func (u *localUpload) Abandon(context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	if !u.closed {
		u.closed = true
		u.f.Close()
	}
	if u.inPlace {
		return nil
	}
	if err := u.l.root.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove abandoned upload: %w", localErr(err))
	}
	return nil
}
