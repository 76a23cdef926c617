package ftp

import (
	"io/fs"
	"sync"
	"time"
)

// partialMarks remembers the files a quota refusal cut short, so listings
// can say so (the MLSx fact x.wharf.partial=quota): the policy keeps what
// arrived under the file's real name, and without a mark a later download
// would pass it off as a complete file.
//
// A mark is the file's identity (device and inode) with the size and time
// it had when cut; it holds only while both are unchanged, so a resume, a
// replacement or any other write ends it without every path that changes
// a file having to know about marks. It lives as long as the process: a
// restart forgets the marks, never the files.
type partialMarks struct {
	mu sync.Mutex
	m  map[[2]uint64]partialMark
}

type partialMark struct {
	size  int64
	mtime time.Time
}

// maxPartialMarks bounds the record; past it the oldest half is dropped
// (a mark is advice, the file itself is never at stake).
const maxPartialMarks = 10_000

func (p *partialMarks) mark(fi fs.FileInfo) {
	e := entryOf(fi)
	if !e.hasIno || !e.mode.IsRegular() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[[2]uint64]partialMark{}
	}
	if len(p.m) >= maxPartialMarks {
		n := 0
		for k := range p.m {
			if n >= maxPartialMarks/2 {
				break
			}
			delete(p.m, k)
			n++
		}
	}
	p.m[[2]uint64{e.dev, e.ino}] = partialMark{size: e.size, mtime: e.mtime}
}

// marked reports whether e is a file still as a refusal left it.
func (p *partialMarks) marked(e *entry) bool {
	if p == nil || !e.hasIno || !e.mode.IsRegular() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]uint64{e.dev, e.ino}
	m, ok := p.m[k]
	if !ok {
		return false
	}
	if m.size != e.size || !m.mtime.Equal(e.mtime) {
		delete(p.m, k) // written since: no longer what the refusal left
		return false
	}
	return true
}

// appendPartialFact adds the mark to an MLSx fact list when selected.
func appendPartialFact(b []byte, p *partialMarks, e *entry, facts factSet) []byte {
	if facts&factPartial != 0 && p.marked(e) {
		b = append(b, "x.wharf.partial=quota;"...)
	}
	return b
}
