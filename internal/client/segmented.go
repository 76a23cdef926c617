package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// minSegment keeps segments worth a connection of their own: below it the
// logins and data connections cost more than the parallel bytes save.
const minSegment = 1 << 20

// stateEvery is how often a segmented download writes down its progress:
// what a kill loses is at most this much of each segment's transfer.
const stateEvery = 200 * time.Millisecond

// segment is one byte range of a segmented download. Done counts the bytes
// from Start already written to the .part.
type segment struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"` // exclusive
	Done  int64 `json:"done"`
}

// segState is the file beside the .part (NAME.part.state) that lets a
// resumed segmented download fetch only what is missing. It names the
// server's size and time: a file that changed since starts over.
type segState struct {
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime,omitzero"`
	Segments []segment `json:"segments"`
}

// StateFile is where a segmented download of local keeps its progress.
func StateFile(local string) string { return local + ".part.state" }

func loadState(name string, size int64, mtime time.Time) (*segState, bool) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, false
	}
	var st segState
	if json.Unmarshal(b, &st) != nil || st.Size != size || !st.ModTime.Equal(mtime) || len(st.Segments) == 0 {
		return nil, false
	}
	// Untrusted as any file: the segments must tile [0, size) exactly.
	var at int64
	for _, s := range st.Segments {
		if s.Start != at || s.End <= s.Start || s.Done < 0 || s.Done > s.End-s.Start {
			return nil, false
		}
		at = s.End
	}
	return &st, at == size
}

func saveState(name string, st *segState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name) // whole or not at all, should the kill come now
}

// split cuts [from, size) into n ranges of nearly equal length.
func splitRange(from, size int64, n int) []segment {
	out := make([]segment, 0, n)
	step := (size - from) / int64(n)
	for i := range n {
		s := segment{Start: from + int64(i)*step, End: from + int64(i+1)*step}
		if i == n-1 {
			s.End = size
		}
		out = append(out, s)
	}
	return out
}

// GetSegmented downloads one remote file over n connections at once (lftp's
// pget -n): n byte ranges, each fetched with REST on its own data and
// control connection (o.Dial opens the others; c carries the first),
// written in place into NAME.part. Progress is kept in NAME.part.state, so
// with o.Continue an interrupted download fetches only the bytes each
// range still misses. The whole file is then verified by the server's
// checksum, as Get does, and renamed. Where segments cannot help (a small
// file, no size, no REST, no Dial, n < 2) it is a plain Get.
func GetSegmented(ctx context.Context, c *Conn, remote, local string, n int, o TransferOptions) (Result, error) {
	jobs, err := planGet(ctx, c, remote, local, TransferOptions{})
	if err != nil {
		return Result{}, err
	}
	j := jobs[0]
	if j.size < 0 {
		if sz, err := c.Size(ctx, j.remote); err == nil {
			j.size = sz
		}
	}
	parts := min(int64(n), j.size/minSegment)
	if parts < 2 || o.Dial == nil || !c.Has("REST") {
		res, err := run(ctx, c, []job{j}, o, getFile)
		return res[0], err
	}
	if j.mtime.IsZero() && c.Has("MDTM") {
		j.mtime, _ = c.MDTM(ctx, j.remote)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return getSegmented(ctx, c, j, int(parts), o)
}

func getSegmented(ctx context.Context, c *Conn, j job, n int, o TransferOptions) (res Result, err error) {
	res = Result{Name: j.name, Local: j.local, Remote: j.remote, Size: j.size}
	part, stateName := j.local+".part", StateFile(j.local)
	var st *segState
	if o.Continue {
		if s, ok := loadState(stateName, j.size, j.mtime); ok {
			st = s
		} else if fi, err := os.Stat(part); err == nil && fi.Mode().IsRegular() && fi.Size() <= j.size {
			// A .part of a plain get: its bytes are a prefix, the rest
			// is split.
			from := fi.Size()
			st = &segState{Size: j.size, ModTime: j.mtime}
			if from > 0 {
				st.Segments = []segment{{Start: 0, End: from, Done: from}}
			}
			if from < j.size {
				st.Segments = append(st.Segments, splitRange(from, j.size, n)...)
			}
		}
	}
	var already int64
	if st != nil {
		for _, s := range st.Segments {
			already += s.Done
		}
	}
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrExists) {
			err = &PartialError{Name: j.name, Part: part, Done: already + res.Moved, Size: j.size, Err: err}
		}
	}()
	if st == nil && (o.Continue || !o.Force) {
		if fi, err := os.Stat(j.local); err == nil {
			if why := identical(ctx, c, j.local, j.remote, j.size, fi.ModTime(), j.mtime); why != "" {
				res.Skipped = why
				o.Observer.Begin(j.name, j.size, j.size).End(res, nil)
				return res, nil
			}
		}
	}
	if !o.Force && !o.Continue {
		if _, err := os.Lstat(j.local); err == nil {
			return refuse(o, j, res, "get "+j.local)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE
	if st == nil {
		flags |= os.O_TRUNC
		st = &segState{Size: j.size, ModTime: j.mtime, Segments: splitRange(0, j.size, n)}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	defer f.Close()
	if err := saveState(stateName, st); err != nil {
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	tr := &lockedTracker{t: o.Observer.Begin(j.name, j.size, already)}
	defer func() { tr.End(res, err) }()

	// done[i] is segment i's bytes in place; the saver writes them down.
	done := make([]atomic.Int64, len(st.Segments))
	var todo []int
	for i, s := range st.Segments {
		done[i].Store(s.Done)
		if s.Done < s.End-s.Start {
			todo = append(todo, i)
		}
	}
	var stateMu sync.Mutex
	flush := func() error {
		stateMu.Lock()
		defer stateMu.Unlock()
		for i := range st.Segments {
			st.Segments[i].Done = done[i].Load()
		}
		return saveState(stateName, st)
	}
	stopSaver := make(chan struct{})
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		t := time.NewTicker(stateEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				flush()
			case <-stopSaver:
				return
			}
		}
	}()

	start := time.Now()
	queue := make(chan int, len(todo))
	for _, i := range todo {
		queue <- i
	}
	close(queue)
	var moved atomic.Int64
	var errMu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range min(n, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := c
			if w > 0 {
				var err error
				if conn, err = o.Dial(ctx); err != nil {
					return // a server limit on sessions: the others take its share
				}
				defer conn.Quit(context.WithoutCancel(ctx))
			}
			for i := range queue {
				s := st.Segments[i]
				from := s.Start + done[i].Load()
				wr := &segWriter{f: f, at: from, done: &done[i], moved: &moved, tr: tr}
				var err error
				if s.End == j.size {
					// The last range reads to the end: no abort needed.
					_, err = conn.Retr(ctx, j.remote, from, wr)
					if err == nil && wr.at != s.End {
						err = fmt.Errorf("download %s: %d bytes, want %d: it changed on the server", j.remote, wr.at, s.End)
					}
				} else {
					_, err = conn.RetrRange(ctx, j.remote, from, s.End-from, wr)
				}
				if err != nil {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("get %s (bytes %d-%d): %w", j.remote, s.Start, s.End-1, err))
					errMu.Unlock()
					if conn.Err() != nil || ctx.Err() != nil {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stopSaver)
	<-saverDone
	res.Moved, res.Elapsed = moved.Load(), time.Since(start)
	ferr := flush()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for i, s := range st.Segments {
		if done[i].Load() != s.End-s.Start {
			return res, fmt.Errorf("get %s: bytes %d-%d were not fetched (no connection could take them)", j.remote, s.Start, s.End-1)
		}
	}
	if ferr != nil {
		return res, fmt.Errorf("get %s: %w", j.remote, ferr)
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	if o.BeforeVerify != nil {
		o.BeforeVerify(part, j.remote)
	}
	vc := c
	if c.Err() != nil {
		// A server that mishandled an abort: the bytes are in, the
		// check needs a connection.
		if vc, err = o.Dial(ctx); err != nil {
			return res, fmt.Errorf("get %s: verify: %w", j.remote, err)
		}
		defer vc.Quit(context.WithoutCancel(ctx))
	}
	res.Verified, res.Unchecked, err = verify(ctx, vc, part, j.remote)
	if err != nil {
		if errors.Is(err, ErrChecksum) {
			os.Remove(part) // its bytes are wrong: a rerun must start over
			os.Remove(stateName)
		}
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	if err := place(part, j.local, o.Force || o.Continue); err != nil {
		if errors.Is(err, ErrExists) {
			res.Skipped = ErrExists.Error()
		}
		return res, fmt.Errorf("get %s: %w", j.local, err)
	}
	os.Remove(stateName)
	if !j.mtime.IsZero() {
		os.Chtimes(j.local, j.mtime, j.mtime)
	}
	return res, nil
}

// segWriter writes one range's bytes at their place in the .part and
// counts them once written (so the state never claims bytes not there).
type segWriter struct {
	f     *os.File
	at    int64
	done  *atomic.Int64
	moved *atomic.Int64
	tr    Tracker
}

func (w *segWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.at)
	w.at += int64(n)
	w.done.Add(int64(n))
	w.moved.Add(int64(n))
	w.tr.Add(int64(n))
	return n, err
}

// lockedTracker lets several segments report one file: a Tracker hears
// one goroutine per file.
type lockedTracker struct {
	mu sync.Mutex
	t  Tracker
}

func (l *lockedTracker) Add(n int64) {
	l.mu.Lock()
	l.t.Add(n)
	l.mu.Unlock()
}

func (l *lockedTracker) End(r Result, err error) {
	l.mu.Lock()
	l.t.End(r, err)
	l.mu.Unlock()
}
