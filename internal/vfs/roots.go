package vfs

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Roots shares one open Local per folder between everything that has it
// open: a server's sessions of one user all work in the same home, and an
// os.Root per session would hold a file descriptor per session (10,000
// idle sessions of one user would need 20,000 descriptors with their
// sockets) and cost an open and a close per login. The zero value is
// ready to use; it is safe for concurrent use.
//
// A folder replaced on disk (deleted and created again, or another folder
// renamed into its place) is noticed by the next Open, which then opens the
// new one; the FSs already handed out keep the folder they opened, as a
// Local of their own would.
type Roots struct {
	mu sync.Mutex
	m  map[string]*sharedRoot // guarded by mu; by the path given to Open
}

type sharedRoot struct {
	local    *Local
	refs     int // guarded by Roots.mu
	dev, ino uint64
}

// Open returns a Storage (a Local) rooted at dir. Its Close releases it; the root itself
// is closed when its last user closes.
func (r *Roots) Open(dir string) (Storage, error) {
	// Checked on every open, outside the lock: one stat is far cheaper
	// than the open and close it saves.
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, &os.PathError{Op: "stat", Path: dir, Err: err})
	}
	r.mu.Lock()
	if s := r.m[dir]; s != nil && s.dev == uint64(st.Dev) && s.ino == uint64(st.Ino) {
		s.refs++
		r.mu.Unlock()
		return &sharedFS{Local: s.local, roots: r, s: s, dir: dir}, nil
	}
	r.mu.Unlock()
	l, err := OpenLocal(dir)
	if err != nil {
		return nil, err
	}
	// The identity of what was opened, not of what the path named a
	// moment before.
	fi, err := l.root.Stat(".")
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	s := &sharedRoot{local: l, refs: 1}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[string]*sharedRoot)
	}
	if old := r.m[dir]; old == nil || old.dev != s.dev || old.ino != s.ino {
		r.m[dir] = s // the old entry, if any, lives on for its users
	} else {
		// Another Open raced us to the same folder: share its root.
		old.refs++
		r.mu.Unlock()
		l.Close()
		return &sharedFS{Local: old.local, roots: r, s: old, dir: dir}, nil
	}
	r.mu.Unlock()
	return &sharedFS{Local: l, roots: r, s: s, dir: dir}, nil
}

// release drops one user of s.
func (r *Roots) release(dir string, s *sharedRoot) {
	r.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last && r.m[dir] == s {
		delete(r.m, dir)
	}
	r.mu.Unlock()
	if last {
		s.local.Close()
	}
}

// sharedFS is one user's handle on a shared root.
type sharedFS struct {
	*Local
	roots *Roots
	s     *sharedRoot
	dir   string
	once  sync.Once
}

// Close releases this handle; the root closes with its last handle.
func (f *sharedFS) Close() error {
	f.once.Do(func() { f.roots.release(f.dir, f.s) })
	return nil
}
