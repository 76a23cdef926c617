package ftp

import (
	"context"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wharfftp/wharf/internal/vfs"
)

// direntBufSize is the getdents64 buffer: 64 KiB holds about 2,000 entries
// of a typical folder, so a 10k listing takes a handful of calls (Go's
// ReadDir reads 8 KiB at a time).
const direntBufSize = 64 << 10

// firstDirentBatch is the first getdents of a listing (about 250
// entries): the only one no statting runs beside.
const firstDirentBatch = 8 << 10

// direntBufs pools the getdents buffers; they exist only while a listing
// runs, so idle sessions hold none.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, direntBufSize); return &b }}

// statxMask is what a listing line needs.
const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_NLINK | unix.STATX_SIZE |
	unix.STATX_MTIME | unix.STATX_INO

// streamDirFD lists the open directory f with getdents64 and one statx per
// entry relative to the directory's descriptor: no FileInfo, name string or
// path is allocated per entry, and the name goes to statx straight from the
// getdents buffer, where the kernel already put its terminating NUL.
// os.(*File).ReadDir costs a DirEntry, a FileInfo and a name per entry and
// reads 8 KiB at a time. ok is false when the fast path cannot run (then
// nothing was written).
//
// The statx calls are the cost of a big listing (about 1.5 us each on the
// benchmark VM, two thirds of a 10k listing) and are independent, so each
// getdents batch is split between up to GOMAXPROCS goroutines, each
// formatting its share into its own buffer, while the next batch is read.
// Lines come in directory order within a share: a listing has no defined
// order (no sort, so the first line never waits for the last).
func streamDirFD(ctx context.Context, f *os.File, fsys vfs.Storage, dirName string, l *lister, w io.Writer) (n int64, err error, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var fd int
	rc.Control(func(d uintptr) { fd = int(d) })
	// Two batches: the next getdents runs while the last one is statted.
	var bufs [2][]byte
	for i := range bufs {
		bp := direntBufs.Get().(*[]byte)
		defer direntBufs.Put(bp)
		bufs[i] = *bp
	}
	var recs [2][]int32 // offsets of the records of each batch
	workers := min(runtime.GOMAXPROCS(0), maxListWorkers)
	// shares[0] is l itself; the others format into their own buffers.
	shares := make([]*lister, workers)
	shares[0] = l
	for i := 1; i < workers; i++ {
		c := *l
		c.buf = nil
		shares[i] = &c
	}
	var total int64
	write := func(s *lister) error {
		if len(s.buf) == 0 {
			return nil
		}
		n, err := w.Write(s.buf)
		total += int64(n)
		s.buf = s.buf[:0]
		return err
	}
	writeAll := func() error {
		for _, s := range shares {
			if err := write(s); err != nil {
				return err
			}
		}
		return nil
	}
	cur := 0
	// A small first batch: statting starts after a short getdents instead
	// of a full one, which nothing overlaps.
	more, err := readBatch(fd, bufs[cur][:firstDirentBatch], &recs[cur])
	for {
		if err != nil {
			return total, &fs.PathError{Op: "getdents", Path: dirName, Err: err}, true
		}
		if !more {
			return total, writeAll(), true
		}
		if err := ctx.Err(); err != nil {
			return total, err, true
		}
		batch, rs := bufs[cur], recs[cur]
		n := workers
		if len(rs) < 2*minListShare {
			n = 1 // not worth a goroutine
		}
		per := (len(rs) + n - 1) / n
		var wg sync.WaitGroup
		for i := range n {
			lo, hi := min(i*per, len(rs)), min((i+1)*per, len(rs))
			wg.Go(func() { listRecords(ctx, fd, batch, rs[lo:hi], fsys, dirName, shares[i]) })
		}
		cur = 1 - cur
		more, err = readBatch(fd, bufs[cur], &recs[cur])
		wg.Wait()
		for _, s := range shares {
			if len(s.buf) >= listFlush {
				if err := write(s); err != nil {
					return total, err, true
				}
			}
		}
	}
}

// readBatch reads the next getdents64 batch of fd into buf and the offsets
// of its records into recs; more is false at the end of the directory.
func readBatch(fd int, buf []byte, recs *[]int32) (more bool, err error) {
	var nr int
	for {
		nr, err = unix.Getdents(fd, buf)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil || nr <= 0 {
		return false, err
	}
	rs := (*recs)[:0]
	for off := 0; off+19 < nr; {
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name.
		reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
		if reclen == 0 || off+reclen > nr {
			break
		}
		rs = append(rs, int32(off))
		off += reclen
	}
	*recs = rs
	return true, nil
}

// Parallel listing bounds: more goroutines than this buy nothing on the
// kernel's dentry locks, and a batch below 2*minListShare entries is not
// split at all.
const (
	maxListWorkers = 4
	minListShare   = 256
)

// listRecords stats and formats the getdents records at offsets recs of
// buf into l.buf.
func listRecords(ctx context.Context, fd int, buf []byte, recs []int32, fsys vfs.Storage, dirName string, l *lister) {
	var stx unix.Statx_t
	var e entry
	for _, off := range recs {
		rec := buf[off : int(off)+int(binary.NativeEndian.Uint16(buf[off+16:]))]
		nameLen := 0
		for 19+nameLen < len(rec) && rec[19+nameLen] != 0 {
			nameLen++
		}
		if nameLen == 0 || 19+nameLen >= len(rec) {
			continue
		}
		// Valid until buf is read into again; never kept.
		name := unsafe.String(&rec[19], nameLen)
		if name == "." || name == ".." || !l.shows(name) {
			continue
		}
		if statxAt(fd, &rec[19], &stx) != nil {
			continue // vanished since getdents
		}
		fillEntry(&e, &stx)
		if e.mode&fs.ModeSymlink != 0 {
			// Show what the link points to when it stays inside the jail;
			// a link out of it is listed as the link itself.
			if tfi, err := fsys.Stat(ctx, path.Join(dirName, name)); err == nil {
				e = entryOf(tfi)
			}
		}
		l.appendStat(&e, name)
	}
}

// statxAt is statx(dirfd, name, AT_SYMLINK_NOFOLLOW) with name a
// NUL-terminated byte string already in memory (x/sys's Statx copies the
// name into a new allocation each call).
func statxAt(dirfd int, name *byte, stx *unix.Statx_t) error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
			unix.AT_SYMLINK_NOFOLLOW, statxMask, uintptr(unsafe.Pointer(stx)), 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return errno
	}
}

// fillEntry converts statx fields as os.Lstat would.
func fillEntry(e *entry, stx *unix.Statx_t) {
	m := uint32(stx.Mode)
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	e.mode = mode
	e.size = int64(stx.Size)
	e.mtime = time.Unix(stx.Mtime.Sec, int64(stx.Mtime.Nsec))
	e.nlink = max(uint64(stx.Nlink), 1)
	e.dev = unix.Mkdev(stx.Dev_major, stx.Dev_minor)
	e.ino = stx.Ino
	e.hasIno = true
}
