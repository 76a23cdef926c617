package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// MirrorOptions shape Mirror. The names follow lftp's mirror.
type MirrorOptions struct {
	Reverse   bool // local to remote (-R); otherwise remote to local
	Delete    bool // remove what is at the destination but no longer at the source
	OnlyNewer bool // replace a destination file only when the source's is newer
	DryRun    bool // plan only: nothing is moved, created or deleted
	// Checksum compares files of equal size by the server's checksum
	// instead of their times, where the server offers one.
	Checksum bool
	// Exclude holds globs (path.Match) matched against each path relative
	// to the mirrored folder and against its base name; what matches is
	// neither copied nor deleted.
	Exclude  []string
	Parallel int
	Observer Observer
	Dial     func(ctx context.Context) (*Conn, error)
	// Reconnect and OnReconnect are TransferOptions': a dropped control
	// connection is reopened and the mirror goes on.
	Reconnect   bool
	OnReconnect func(msg string)
}

// MirrorKind is what the plan does with one path.
type MirrorKind int

const (
	MirrorNew     MirrorKind = iota // only at the source: copied
	MirrorChanged                   // differs: replaced (or resumed)
	MirrorDelete                    // only at the destination, and Delete: removed
	MirrorSkip                      // same already, or kept by a rule (Why says)
	MirrorKeep                      // only at the destination, kept (no Delete)
)

func (k MirrorKind) String() string {
	return [...]string{"new", "changed", "delete", "skip", "keep"}[k]
}

// MirrorItem is one line of the plan.
type MirrorItem struct {
	Kind MirrorKind
	Name string // relative to the mirrored folders, slash-separated
	Dir  bool
	Size int64  // of the source file; -1 unknown
	Why  string // for changed and skip: what was compared
	// replace: a file where a folder goes or the other way round; what
	// is at the destination is removed first.
	replace bool
}

// MirrorSummary is what a mirror did (or, with DryRun, would do).
type MirrorSummary struct {
	Plan                           []MirrorItem
	New, Changed, Deleted, Skipped int   // files (Deleted counts folders too)
	Kept                           int   // only at the destination, left there without Delete
	Bytes                          int64 // moved over the network
	Elapsed                        time.Duration
	Results                        []Result
}

// mirrorEntry is one side's view of one path.
type mirrorEntry struct {
	dir   bool
	size  int64
	mtime time.Time
	// holdsExcluded: a folder with excluded paths inside, which --delete
	// must not take away with it.
	holdsExcluded bool
}

// markExcluded notes on each folder above name that it holds an
// excluded path.
func markExcluded(tree map[string]mirrorEntry, name string) {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		e := tree[d]
		e.holdsExcluded = true
		tree[d] = e
	}
}

// Mirror makes the folder dst a copy of the folder src: with Reverse, src is
// local and dst remote; otherwise src is remote and dst local (created when
// missing). Files are compared by size and time (by checksum with Checksum),
// and only those that differ move; destination times are set from the
// source's (MFMT on the server, os.Chtimes here) so that a rerun finds
// them the same. Downloads resume their NAME.part and uploads the shorter
// file on the server, so a mirror that was killed finishes when run again;
// a resumed file whose checksum then fails is sent again whole, once.
func Mirror(ctx context.Context, c *Conn, src, dst string, o MirrorOptions) (MirrorSummary, error) {
	start := time.Now()
	var sum MirrorSummary
	var srcTree, dstTree map[string]mirrorEntry
	var err error
	remoteRoot, localRoot := src, dst
	if o.Reverse {
		remoteRoot, localRoot = dst, src
	}
	if r := strings.TrimRight(remoteRoot, "/"); r != "" || remoteRoot == "" {
		remoteRoot = r
	} else {
		remoteRoot = "/"
	}
	to := TransferOptions{Continue: true, Force: true, Recursive: true, Parallel: o.Parallel, Observer: o.Observer, Dial: o.Dial, Reconnect: o.Reconnect, OnReconnect: o.OnReconnect}
	remoteTree, err := planAgain(ctx, c, to, func() (map[string]mirrorEntry, error) {
		return remoteMirrorTree(ctx, c, cmpOr(remoteRoot, "."), o, o.Reverse)
	})
	if err != nil {
		return sum, err
	}
	localTree, err := localMirrorTree(localRoot, o, !o.Reverse)
	if err != nil {
		return sum, err
	}
	if o.Reverse {
		srcTree, dstTree = localTree, remoteTree
	} else {
		srcTree, dstTree = remoteTree, localTree
		// A NAME.part beside a NAME the server has is an interrupted
		// download of ours: resumed, never deleted nor reported as extra.
		for name := range dstTree {
			if base, ok := strings.CutSuffix(name, ".part"); ok {
				if e, ok := srcTree[base]; ok && !e.dir {
					delete(dstTree, name)
				}
			}
		}
	}
	if !o.Reverse && !c.Has("MLST") && c.Has("MDTM") {
		// LIST times are rounded to the minute, or lack the time of day:
		// ask for the exact time of the files that would compare by it.
		for name, e := range srcTree {
			if d, ok := dstTree[name]; ok && !e.dir && !d.dir && d.size == e.size {
				if t, err := c.MDTM(ctx, joinRemote(remoteRoot, name)); err == nil {
					e.mtime = t
					srcTree[name] = e
				}
			}
		}
	} else if o.Reverse && !c.Has("MLST") && c.Has("MDTM") {
		for name, e := range dstTree {
			if s, ok := srcTree[name]; ok && !e.dir && !s.dir && s.size == e.size {
				if t, err := c.MDTM(ctx, joinRemote(remoteRoot, name)); err == nil {
					e.mtime = t
					dstTree[name] = e
				}
			}
		}
	}
	sum.Plan, err = mirrorPlan(ctx, c, srcTree, dstTree, remoteRoot, localRoot, o)
	if err != nil {
		return sum, err
	}
	for _, it := range sum.Plan {
		switch it.Kind {
		case MirrorNew:
			if !it.Dir {
				sum.New++
			}
		case MirrorChanged:
			if !it.Dir {
				sum.Changed++
			}
		case MirrorDelete:
			sum.Deleted++
		case MirrorSkip:
			sum.Skipped++
		case MirrorKeep:
			sum.Kept++
		}
	}
	if o.DryRun {
		sum.Elapsed = time.Since(start)
		return sum, nil
	}
	var errs []error
	var jobs []job
	// Folders first, parents before children (the plan is sorted), so
	// every file has somewhere to go.
	if !o.Reverse {
		if err := os.MkdirAll(localRoot, 0o755); err != nil {
			return sum, fmt.Errorf("mirror: %w", err)
		}
	} else if remoteRoot != "/" && remoteRoot != "" {
		if err := c.MkdirAll(ctx, remoteRoot); err != nil {
			return sum, fmt.Errorf("mirror: create %s: %w", remoteRoot, err)
		}
	}
	for _, it := range sum.Plan {
		if it.Kind != MirrorNew && it.Kind != MirrorChanged {
			continue
		}
		r, l := joinRemote(remoteRoot, it.Name), filepath.Join(localRoot, filepath.FromSlash(it.Name))
		if it.replace {
			var err error
			if o.Reverse {
				err = c.RemoveAll(ctx, r)
			} else {
				err = os.RemoveAll(l)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mirror: replace %s: %w", it.Name, err))
				if c.Err() != nil {
					return sum, errors.Join(errs...)
				}
				continue
			}
		}
		if it.Dir {
			var err error
			if o.Reverse {
				err = ensureRemoteDir(ctx, c, r)
			} else {
				err = os.MkdirAll(l, 0o755)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mirror: create %s: %w", it.Name, err))
				if c.Err() != nil {
					return sum, errors.Join(errs...)
				}
			}
			continue
		}
		e := srcTree[it.Name]
		jobs = append(jobs, job{name: it.Name, remote: r, local: l, size: e.size, mtime: e.mtime})
	}
	fn := mirrorGet
	if o.Reverse {
		fn = mirrorPut(dstTree)
	}
	res, err := run(ctx, c, jobs, to, fn)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range res {
		if r.Name != "" {
			sum.Results = append(sum.Results, r)
			sum.Bytes += r.Moved
		}
	}
	if ctx.Err() == nil && c.Err() == nil {
		// Deepest first: a folder is empty by the time it goes.
		for i := len(sum.Plan) - 1; i >= 0; i-- {
			it := sum.Plan[i]
			if it.Kind != MirrorDelete {
				continue
			}
			var err error
			if o.Reverse {
				r := joinRemote(remoteRoot, it.Name)
				if it.Dir {
					err = c.RemoveAll(ctx, r)
				} else {
					err = c.Delete(ctx, r)
				}
			} else {
				err = os.RemoveAll(filepath.Join(localRoot, filepath.FromSlash(it.Name)))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mirror: delete %s: %w", it.Name, err))
				if c.Err() != nil {
					break
				}
			}
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, errors.Join(errs...)
}

func joinRemote(root, name string) string {
	if root == "" || root == "." {
		return name
	}
	return path.Join(root, name)
}

// excluded reports whether name (relative, slash-separated) matches one of
// the globs, whole or by its base name.
func excluded(name string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, path.Base(name)); ok {
			return true
		}
	}
	return false
}

// remoteMirrorTree lists root recursively. A missing root is an empty
// tree when it is the destination (the mirror creates it).
func remoteMirrorTree(ctx context.Context, c *Conn, root string, o MirrorOptions, isDst bool) (map[string]mirrorEntry, error) {
	tree := map[string]mirrorEntry{}
	if isDst {
		st, err := c.Stat(ctx, root)
		if err != nil {
			if c.Err() != nil {
				return nil, err
			}
			return tree, nil // missing: the mirror creates it
		}
		if st.Type != TypeDir {
			return nil, fmt.Errorf("mirror: %s %w", root, ErrNotFolder)
		}
	}
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		entries, err := c.List(ctx, dir)
		if err != nil {
			return fmt.Errorf("mirror: list %s: %w", dir, err)
		}
		for _, e := range entries {
			if !filepath.IsLocal(e.Name) || strings.Contains(e.Name, "\\") {
				continue // a listing must not steer files outside the folder
			}
			name := path.Join(rel, e.Name)
			if excluded(name, o.Exclude) {
				markExcluded(tree, name)
				continue
			}
			switch e.Type {
			case TypeDir:
				tree[name] = mirrorEntry{dir: true}
				if err := walk(path.Join(dir, e.Name), name); err != nil {
					return err
				}
			case TypeFile:
				tree[name] = mirrorEntry{size: e.Size, mtime: e.ModTime}
			}
			// Links and others are not followed: their size and time say
			// nothing about what they point to.
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	return tree, nil
}

// localMirrorTree walks root. A missing root is an empty tree when it is
// the destination.
func localMirrorTree(root string, o MirrorOptions, isDst bool) (map[string]mirrorEntry, error) {
	tree := map[string]mirrorEntry{}
	fi, err := os.Stat(root)
	if err != nil {
		if isDst && errors.Is(err, fs.ErrNotExist) {
			return tree, nil
		}
		return nil, fmt.Errorf("mirror: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("mirror: %s %w", root, ErrNotFolder)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		if excluded(name, o.Exclude) {
			markExcluded(tree, name)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			tree[name] = mirrorEntry{dir: true}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		tree[name] = mirrorEntry{size: info.Size(), mtime: info.ModTime()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	return tree, nil
}

// mirrorPlan decides, path by path in sorted order, what to do.
func mirrorPlan(ctx context.Context, c *Conn, srcTree, dstTree map[string]mirrorEntry, remoteRoot, localRoot string, o MirrorOptions) ([]MirrorItem, error) {
	names := make([]string, 0, len(srcTree)+len(dstTree))
	for n := range srcTree {
		names = append(names, n)
	}
	for n := range dstTree {
		if _, ok := srcTree[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var plan []MirrorItem
	// Under a folder that goes, everything goes with it: one line says so.
	var gone string
	for _, n := range names {
		s, inSrc := srcTree[n]
		d, inDst := dstTree[n]
		if gone != "" && strings.HasPrefix(n, gone+"/") {
			continue
		}
		switch {
		case !inDst:
			plan = append(plan, MirrorItem{Kind: MirrorNew, Name: n, Dir: s.dir, Size: s.size})
		case !inSrc:
			switch {
			case o.Delete && d.holdsExcluded:
				// Its other contents go one by one; it stays for what
				// the exclusions keep.
			case o.Delete:
				plan = append(plan, MirrorItem{Kind: MirrorDelete, Name: n, Dir: d.dir})
				if d.dir {
					gone = n
				}
			case !d.dir:
				plan = append(plan, MirrorItem{Kind: MirrorKeep, Name: n, Why: "only at the destination (--delete removes it)"})
			}
		case s.dir && d.dir:
		case s.dir != d.dir:
			what := "a folder at the source, a file at the destination"
			if d.dir {
				what = "a file at the source, a folder at the destination"
			}
			if !o.Delete {
				plan = append(plan, MirrorItem{Kind: MirrorSkip, Name: n, Dir: s.dir, Why: what + " (--delete replaces it)"})
				if s.dir {
					gone = n // nothing can go inside a file
				}
				continue
			}
			plan = append(plan, MirrorItem{Kind: MirrorChanged, Name: n, Dir: s.dir, Size: s.size, Why: what, replace: true})
		default:
			it, err := compareFiles(ctx, c, n, s, d, remoteRoot, localRoot, o)
			if err != nil {
				return nil, err
			}
			plan = append(plan, it)
		}
	}
	return plan, nil
}

// compareFiles decides whether the destination file d is already the
// source file s.
func compareFiles(ctx context.Context, c *Conn, n string, s, d mirrorEntry, remoteRoot, localRoot string, o MirrorOptions) (MirrorItem, error) {
	it := MirrorItem{Name: n, Size: s.size}
	newer := !s.mtime.IsZero() && !d.mtime.IsZero() && s.mtime.Truncate(time.Second).After(d.mtime.Truncate(time.Second))
	if o.OnlyNewer && !newer && !d.mtime.IsZero() {
		it.Kind, it.Why = MirrorSkip, "not newer at the source"
		if s.size == d.size && sameTime(s.mtime, d.mtime) {
			it.Why = "same size and time"
		}
		return it, nil
	}
	if s.size != d.size {
		it.Kind, it.Why = MirrorChanged, fmt.Sprintf("size %d, was %d", s.size, d.size)
		return it, nil
	}
	if o.Checksum && c.HashAlgo() != "" {
		algo, rsum, err := c.Hash(ctx, joinRemote(remoteRoot, n))
		if err == nil {
			lsum, err := FileHash(algo, filepath.Join(localRoot, filepath.FromSlash(n)))
			if err != nil {
				return it, fmt.Errorf("mirror: %w", err)
			}
			if lsum == rsum {
				it.Kind, it.Why = MirrorSkip, "same size and "+algo
			} else {
				it.Kind, it.Why = MirrorChanged, algo+" differs"
			}
			return it, nil
		}
		if c.Err() != nil {
			return it, err
		}
	}
	if sameTime(s.mtime, d.mtime) {
		it.Kind, it.Why = MirrorSkip, "same size and time"
		return it, nil
	}
	it.Kind, it.Why = MirrorChanged, "time differs"
	return it, nil
}

// mirrorGet downloads one file of a mirror: resumed from its .part when
// that was written after the server's file last changed (an older .part
// holds another version's bytes), again from scratch when the resumed copy
// fails its checksum, and the local time set from the server's even when
// the bytes were found the same.
func mirrorGet(ctx context.Context, cp **Conn, j job, o TransferOptions) (Result, error) {
	part := j.local + ".part"
	if fi, err := os.Stat(part); err == nil && !j.mtime.IsZero() && fi.ModTime().Before(j.mtime) {
		os.Remove(part)
	}
	res, err := getFile(ctx, cp, j, o)
	if err != nil && errors.Is(err, ErrChecksum) && (*cp).Err() == nil && ctx.Err() == nil {
		os.Remove(part)
		res, err = getFile(ctx, cp, j, o)
	}
	if err == nil && !j.mtime.IsZero() {
		os.Chtimes(j.local, j.mtime, j.mtime)
	}
	return res, err
}

// mirrorPut uploads one file of a mirror. A shorter file on the server is
// continued only when it was written after the local file last changed
// (an interrupted upload of this version): a shorter file from before is
// another version, and a server without checksums could not tell the
// spliced result from the real one. A resumed upload that fails its
// checksum is sent again whole. The server's time is set from the local
// file's.
func mirrorPut(dst map[string]mirrorEntry) fileFunc {
	return func(ctx context.Context, cp **Conn, j job, o TransferOptions) (Result, error) {
		d, ok := dst[j.name]
		o.Continue = ok && !d.dir && d.size < j.size && !d.mtime.IsZero() && d.mtime.After(j.mtime)
		res, err := putFile(ctx, cp, j, o)
		if err != nil && o.Continue && errors.Is(err, ErrChecksum) && (*cp).Err() == nil && ctx.Err() == nil {
			o.Continue = false
			res, err = putFile(ctx, cp, j, o)
		}
		if err == nil && !j.mtime.IsZero() {
			(*cp).SetModTime(ctx, j.remote, j.mtime)
		}
		return res, err
	}
}
