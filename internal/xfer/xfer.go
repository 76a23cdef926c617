// Package xfer owns the byte-moving loops of file transfers: downloads
// (Send), uploads under a quota (Receive), TYPE A line-ending conversion
// (ToCRLF, FromCRLF) and file checksums (Hash).
//
// Its loops are written so that the kernel's zero-copy paths survive rate
// limits and quotas: between a *os.File and a *net.TCPConn they only ever
// hand the kernel objects themselves, or an *io.LimitedReader of one, to
// io.Copy and (*os.File).ReadFrom, which the standard library turns into
// sendfile(2) and splice(2). Anything else goes through one pooled buffer.
//
// It must never wrap a kernel object in a counting or buffering reader on the
// zero-copy path, never store a byte past a quota, never report a truncated
// TLS upload as complete, and never speak FTP: reply codes, ABOR handling and
// deciding what to do with a partial file belong to the engine.
package xfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/time/rate"
)

// bufSize is the pooled copy buffer for transfers the kernel cannot do
// itself (TLS, TYPE A). 256 KiB keeps a TLS connection writing full 16 KiB
// records back to back with few syscalls on the file side.
const bufSize = 256 << 10

// maxChunk caps one step of a limited or quota-checked copy: the loop looks at
// its context between steps, so this bounds how much runs past an ABOR on a
// fast link, and it is the most quota one Receive reserves at a time.
const maxChunk = 8 << 20

// firstReservation is the quota an upload asks for first; each further
// reservation doubles up to maxChunk. Reserved bytes count against the limit
// until committed, so a small file near the limit must not hold megabytes
// that a parallel upload of the same user then has to wait for.
const firstReservation = 256 << 10

// bufPool holds transfer buffers. It is the package's only package-level
// variable: a cache without observable state, so buffers exist only while
// transfers run and are shared by all of them. Pointers to slices avoid an
// allocation on every Put.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// ErrTruncated means the peer ended a TLS upload by closing TCP without a TLS
// close_notify. An attacker on the path can forge that FIN to cut a file
// short, so the transfer must be reported as failed (426), never complete.
var ErrTruncated = errors.New("TLS data connection closed without close_notify: upload truncated")

// ErrBadLimiter means a finite rate limiter with a burst below one byte: it
// could never let a byte through.
var ErrBadLimiter = errors.New("rate limiter burst must be at least 1 byte")

// Send copies src to dst until src's end, at most at lim's rate (nil: no
// limit), and returns the bytes copied.
//
// With dst a *net.TCPConn and src an *os.File (or an *io.LimitedReader of
// one), the kernel sends the file with sendfile(2), also under a limit: each
// chunk of at most the limiter's burst is a fresh *io.LimitedReader over the
// original file. Pass the raw objects; any wrapper disables this. If src is
// an *io.LimitedReader its N is kept up to date.
//
// ctx is checked between chunks; a running sendfile is interrupted by closing
// dst, which the engine does on ABOR.
func Send(ctx context.Context, dst io.Writer, src io.Reader, lim *rate.Limiter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if lim == nil || lim.Limit() == rate.Inf {
		if kernelCopy(dst, src) {
			return io.Copy(dst, src)
		}
		return bufferedCopy(ctx, dst, src, -1)
	}
	if lim.Burst() < 1 {
		return 0, ErrBadLimiter
	}

	// Unwrap a caller's LimitedReader so each chunk is a single LimitedReader
	// of the file: sendfile looks through one level only.
	outer, _ := src.(*io.LimitedReader)
	inner := src
	if outer != nil {
		inner = outer.R
	}
	zero := kernelCopy(dst, inner)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		// The burst is read afresh: the limiter is the user's, and an
		// admin's rate change resizes it while transfers run.
		want := min(int64(max(lim.Burst(), 1)), maxChunk)
		if outer != nil {
			want = min(want, outer.N)
			if want <= 0 {
				return total, nil
			}
		}
		var n int64
		var err error
		if zero {
			n, err = io.Copy(dst, &io.LimitedReader{R: inner, N: want})
		} else {
			n, err = bufferedCopy(ctx, dst, inner, want)
		}
		total += n
		if outer != nil {
			outer.N -= n
		}
		if err != nil {
			return total, err
		}
		// Paying after the chunk lets the first burst go at once and keeps
		// the wait exact for a short last chunk.
		if err := pay(ctx, lim, n); err != nil {
			return total, err
		}
		if n < want {
			return total, nil
		}
	}
}

// pay waits until lim allows n more bytes, asking for at most its current
// burst at a time: WaitN refuses more than the burst, and the burst may
// shrink (an admin lowered the user's rate) after a chunk was sized by it.
func pay(ctx context.Context, lim *rate.Limiter, n int64) error {
	for n > 0 {
		k := min(n, int64(max(lim.Burst(), 1)))
		if err := lim.WaitN(ctx, int(k)); err != nil {
			if ctx.Err() == nil && k > int64(lim.Burst()) {
				continue // the burst shrank in between: ask for less
			}
			return fmt.Errorf("rate limit: %w", err)
		}
		n -= k
	}
	return nil
}

// kernelCopy reports whether io.Copy(dst, src) is done by the kernel
// (sendfile, splice or copy_file_range) without a user-space buffer.
func kernelCopy(dst io.Writer, src io.Reader) bool {
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	switch src.(type) {
	case *os.File, *net.TCPConn, *net.UnixConn:
	default:
		return false
	}
	switch dst.(type) {
	case *os.File, *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// bufferedCopy copies up to limit bytes (limit < 0: to EOF) through a pooled
// buffer, checking ctx between buffers. io.Copy is avoided on purpose:
// (*os.File).WriteTo would fall back to allocating its own buffer for a
// destination such as a *tls.Conn.
func bufferedCopy(ctx context.Context, dst io.Writer, src io.Reader, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for limit < 0 || total < limit {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		p := buf
		if limit >= 0 && int64(len(p)) > limit-total {
			p = p[:limit-total]
		}
		nr, rerr := src.Read(p)
		if nr > 0 {
			nw, werr := dst.Write(p[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
			if nw != nr {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
	return total, nil
}
