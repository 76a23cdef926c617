package ftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// Listing tuning: entries read per ReadDir call, and the buffer size at
// which formatted lines are written out. One write per ~64 KiB keeps a 10k
// entry listing to a handful of syscalls without holding it all in memory.
const (
	listBatch = 256
	listFlush = 64 << 10
)

// sixMonths is the ls cut-off between "Jan _2 15:04" and "Jan _2  2006".
const sixMonths = 182 * 24 * time.Hour

// listFormat selects the line format of a listing.
type listFormat int

const (
	formatLS   listFormat = iota // LIST: ls -l
	formatName                   // NLST: bare names
	formatMLSx                   // MLSD: RFC 3659 facts
)

// lister formats directory entries into one reused buffer.
type lister struct {
	format listFormat
	now    time.Time
	user   accounts.User
	dirAbs string // client-visible directory being listed
	facts  factSet
	buf    []byte
	// match, when set, is the pattern an entry's name must match (LIST
	// and NLST of a trailing glob); prefix goes before each name of an
	// NLST, so "NLST dir/*.txt" answers paths a client can RETR.
	match  *glob
	prefix string
	// hideDot leaves out names starting with a dot (Config.HideDotNames).
	hideDot  bool
	partials *partialMarks
}

// shows reports whether the lister shows a directory entry.
func (l *lister) shows(name string) bool {
	return listable(name) && !(l.hideDot && name[0] == '.')
}

// appendEntry formats one entry.
func (l *lister) appendEntry(fi fs.FileInfo, name string) {
	e := entryOf(fi)
	l.appendStat(&e, name)
}

// appendStat formats one entry from its stat fields; name is appended as
// is (string or the bytes of a directory read), never kept.
func (l *lister) appendStat(e *entry, name string) {
	if l.match != nil && !l.match.match(name) {
		return
	}
	switch l.format {
	case formatName:
		l.buf = append(l.buf, l.prefix...)
		l.buf = append(l.buf, name...)
		l.buf = append(l.buf, '\r', '\n')
	case formatLS:
		l.buf = appendLSEntry(l.buf, e, name, l.now)
	case formatMLSx:
		l.buf = appendFactsEntry(l.buf, e, l.perms(name), l.facts)
		l.buf = appendPartialFact(l.buf, l.partials, e, l.facts)
		l.buf = append(l.buf, ' ')
		l.buf = append(l.buf, name...)
		l.buf = append(l.buf, '\r', '\n')
	}
}

// perms returns the permissions that apply to an entry. Only users with
// per-folder rules pay for a path per entry.
func (l *lister) perms(name string) accounts.Perm {
	if len(l.user.PathPerms) == 0 {
		return l.user.Perms
	}
	return l.user.PermsFor(path.Join(l.dirAbs, name))
}

// entry is what a listing line needs to know of a file. The fast directory
// reader fills it straight from statx, without a FileInfo per entry.
type entry struct {
	mode     fs.FileMode
	size     int64
	mtime    time.Time
	nlink    uint64
	dev, ino uint64
	hasIno   bool // dev and ino are known (the "unique" fact)
}

func entryOf(fi fs.FileInfo) entry {
	e := entry{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime(), nlink: 1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Nlink > 0 {
			e.nlink = uint64(st.Nlink)
		}
		e.dev, e.ino, e.hasIno = uint64(st.Dev), uint64(st.Ino), true
	}
	return e
}

// appendLS formats fi as an `ls -l` line, the form FileZilla, lftp, curl
// and jlaffaye/ftp parse: "-rw-r--r-- 1 owner group size Mon DD HH:MM name".
func appendLS(b []byte, fi fs.FileInfo, name string, now time.Time) []byte {
	e := entryOf(fi)
	return appendLSEntry(b, &e, name, now)
}

func appendLSEntry(b []byte, e *entry, name string, now time.Time) []byte {
	b = appendMode(b, e.mode)
	var num [20]byte
	b = append(b, ' ')
	b = appendPadded(b, strconv.AppendUint(num[:0], e.nlink, 10), 3)
	b = append(b, " ftp      ftp      "...)
	b = appendPadded(b, strconv.AppendInt(num[:0], e.size, 10), 12)
	b = append(b, ' ')
	mt := e.mtime
	b = appendLSDate(b, mt, now.Sub(mt) <= sixMonths && now.Sub(mt) >= -time.Hour)
	b = append(b, ' ')
	b = append(b, name...)
	return append(b, '\r', '\n')
}

// appendLSDate writes "Jan _2 15:04" (recent) or "Jan _2  2006" by hand:
// time.AppendFormat costs more than the rest of a listing line together.
func appendLSDate(b []byte, t time.Time, recent bool) []byte {
	y, mo, d := t.Date()
	b = append(b, monthAbbr[3*(mo-1):3*mo]...)
	b = append(b, ' ')
	if d < 10 {
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(d), 10)
	b = append(b, ' ')
	if !recent {
		b = append(b, ' ')
		return strconv.AppendInt(b, int64(y), 10)
	}
	h, m, _ := t.Clock()
	b = append2(b, h)
	b = append(b, ':')
	return append2(b, m)
}

const monthAbbr = "JanFebMarAprMayJunJulAugSepOctNovDec"

// append2 writes n (0-99) as two digits.
func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// appendTimeVal writes an RFC 3659 time-val (UTC, YYYYMMDDHHMMSS).
func appendTimeVal(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, m, sec := t.Clock()
	b = append2(b, y/100%100)
	b = append2(b, y%100)
	b = append2(b, int(mo))
	b = append2(b, d)
	b = append2(b, h)
	b = append2(b, m)
	return append2(b, sec)
}

func appendPadded(b, field []byte, width int) []byte {
	for i := len(field); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, field...)
}

// appendMode writes the ten-character ls mode ("drwxr-xr-x").
func appendMode(b []byte, m fs.FileMode) []byte {
	switch {
	case m.IsDir():
		b = append(b, 'd')
	case m&fs.ModeSymlink != 0:
		b = append(b, 'l')
	case m&fs.ModeNamedPipe != 0:
		b = append(b, 'p')
	case m&fs.ModeSocket != 0:
		b = append(b, 's')
	case m&fs.ModeCharDevice != 0:
		b = append(b, 'c')
	case m&fs.ModeDevice != 0:
		b = append(b, 'b')
	default:
		b = append(b, '-')
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m&(1<<uint(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	return b
}

// factSet selects MLSx facts (OPTS MLST).
type factSet uint8

const (
	factType factSet = 1 << iota
	factSize
	factModify
	factPerm
	factUnique
	factPartial // x.wharf.partial: cut short by a quota refusal (partial.go)
	allFacts    = factType | factSize | factModify | factPerm | factUnique | factPartial
)

var factNames = [...]struct {
	f    factSet
	name string
}{{factType, "type"}, {factSize, "size"}, {factModify, "modify"}, {factPerm, "perm"}, {factUnique, "unique"}, {factPartial, "x.wharf.partial"}}

// appendFacts writes the RFC 3659 facts of fi, each followed by ';'.
func appendFacts(b []byte, fi fs.FileInfo, p accounts.Perm, facts factSet) []byte {
	e := entryOf(fi)
	return appendFactsEntry(b, &e, p, facts)
}

func appendFactsEntry(b []byte, e *entry, p accounts.Perm, facts factSet) []byte {
	dir := e.mode.IsDir()
	if facts&factType != 0 {
		if dir {
			b = append(b, "type=dir;"...)
		} else if e.mode.IsRegular() {
			b = append(b, "type=file;"...)
		} else {
			b = append(b, "type=OS.unix=other;"...)
		}
	}
	if facts&factSize != 0 && !dir {
		b = append(b, "size="...)
		b = strconv.AppendInt(b, e.size, 10)
		b = append(b, ';')
	}
	if facts&factModify != 0 {
		b = append(b, "modify="...)
		b = appendTimeVal(b, e.mtime)
		b = append(b, ';')
	}
	if facts&factPerm != 0 {
		b = append(b, "perm="...)
		b = appendPermFact(b, dir, p)
		b = append(b, ';')
	}
	if facts&factUnique != 0 && e.hasIno {
		b = append(b, "unique="...)
		b = strconv.AppendUint(b, e.dev, 16)
		b = append(b, 'g')
		b = strconv.AppendUint(b, e.ino, 16)
		b = append(b, ';')
	}
	return b
}

// appendPermFact maps account permissions to RFC 3659 section 7.5.5 perm
// letters.
func appendPermFact(b []byte, dir bool, p accounts.Perm) []byte {
	type pl struct {
		perm accounts.Perm
		c    byte
	}
	var table []pl
	if dir {
		b = append(b, 'e')
		table = []pl{{accounts.PermList, 'l'}, {accounts.PermUpload, 'c'}, {accounts.PermMkdir, 'm'},
			{accounts.PermDelete, 'p'}, {accounts.PermRmdir, 'd'}, {accounts.PermRename, 'f'}}
	} else {
		table = []pl{{accounts.PermDownload, 'r'}, {accounts.PermOverwrite, 'w'}, {accounts.PermAppend, 'a'},
			{accounts.PermDelete, 'd'}, {accounts.PermRename, 'f'}}
	}
	for _, e := range table {
		if p.Has(e.perm) {
			b = append(b, e.c)
		}
	}
	return b
}

// listable reports whether a directory entry can be shown: uploads in
// progress are hidden, and names that would break the line framing are
// skipped rather than mangled.
func listable(name string) bool {
	return !isTempName(name) && strings.IndexAny(name, "\r\n") < 0
}

// streamDir formats the entries of the directory name into w as it reads
// them, in the storage's order (no sort: a 10k entry folder must not wait
// for the last entry to send the first). A listing of a local folder
// (vfs.OSFiler) takes the getdents/statx fast path.
func (ss *session) streamDir(ctx context.Context, fsys vfs.Storage, name string, l *lister, w io.Writer) (int64, error) {
	d, err := fsys.List(ctx, name)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if of, ok := d.(vfs.OSFiler); ok {
		if n, err, ok := streamDirFD(ctx, of.OSFile(), fsys, name, l, w); ok {
			return n, err
		}
	}
	var total int64
	flush := func() error {
		if len(l.buf) == 0 {
			return nil
		}
		n, err := w.Write(l.buf)
		total += int64(n)
		l.buf = l.buf[:0]
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ents, rerr := d.Next(listBatch)
		for _, fi := range ents {
			n := fi.Name()
			if !l.shows(n) {
				continue
			}
			// A storage's listing shows links as what they point to
			// inside the jail already.
			l.appendEntry(fi, n)
			if len(l.buf) >= listFlush {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return total, flush()
			}
			return total, rerr
		}
		if len(ents) == 0 {
			return total, flush()
		}
	}
}
