package xfer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/wharfftp/wharf/internal/accounts"
)

// ErrUnguardedTLS means Receive was handed a *tls.Conn that was not built on
// a GuardEOF connection, so a forged TCP FIN could not be told from the
// client's close_notify. It is a programming error in the caller.
var ErrUnguardedTLS = errors.New("xfer: TLS upload source not built on GuardEOF")

// ErrNotCounted marks a Receive whose bytes reached dst but whose quota
// Commit failed: the file holds them and usage may not; the engine must
// make usage right (a recount), not only log it.
var ErrNotCounted = errors.New("xfer: bytes stored but not counted")

// probeTries bounds how often the quota probe retries a Read that returned
// neither data nor an error, which io.Reader allows but a socket never does
// for long.
const probeTries = 100

// Receive copies an upload from src into dst until src's end and returns the
// bytes stored. dst is a storage's upload, or the *os.File behind one
// (vfs.OSFiler), which takes the zero-copy path below. Uploads that end cleanly return a nil error.
//
// Quota: q (nil: none) is drawn in reservations of 256 KiB doubling up to
// 8 MiB (so a small file near the limit holds little), each committed with
// what was written before the next is asked for, so any number of concurrent
// Receives sharing a Quota never together pass it. Each Receive is one
// writer (accounts.WithWriter): when the room left is held by other
// uploads' reservations it waits for them rather than failing. When
// the quota is used up and src still has data, Receive stores nothing more
// and returns the count with accounts.ErrQuotaExceeded: the file then holds
// exactly up to the quota. The byte read to detect that is dropped; the engine
// should close the data connection and reply 552. Commits use a context that
// is not cancelled with ctx, so an aborted upload still accounts for the bytes
// that reached the disk.
//
// Rate: lim (nil: none) paces the copy in chunks of at most its burst.
//
// Zero copy: with src a *net.TCPConn each chunk is
// dst.ReadFrom(&io.LimitedReader{R: src, N: granted}), which (*os.File).ReadFrom
// unwraps and turns into splice(2) from the socket through a pipe into the
// file. Verified on Linux 6.18 with Go 1.26 by strace -f -e trace=splice
// (TestZeroCopySurvivesLimits does it on every run where strace exists): the
// trace shows splice(socket, pipe, <= min(granted, 1 MiB)) followed by
// splice(pipe, file, same count), the last pair exactly the remaining quota,
// and no copy through user space. dst must not be opened with O_APPEND:
// Linux refuses splice into an append-only file and Go then falls back to a
// 32 KiB buffer copy; seek to the end instead. Other sources (TLS, TYPE A
// conversion) go through a pooled 256 KiB buffer.
//
// TLS: src may be a *tls.Conn, or FromCRLF of one, built with
// tls.Server(GuardEOF(raw), conf). A clean end needs the client's
// close_notify; a bare TCP FIN, anywhere, returns ErrTruncated. crypto/tls
// itself reports a FIN at a record boundary as a clean io.EOF, which is why
// the raw connection has to be watched.
//
// ctx is checked between chunks and buffers; a running splice is interrupted
// by closing src, which the engine does on ABOR.
func Receive(ctx context.Context, dst io.Writer, src io.Reader, q accounts.Quota, lim *rate.Limiter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	guard, err := findGuard(src)
	if err != nil {
		return 0, err
	}
	// maxStep reads the burst afresh for every chunk: the limiter is the
	// user's, and an admin's rate change resizes it while transfers run.
	maxStep := func() int64 {
		if lim == nil || lim.Limit() == rate.Inf {
			return maxChunk
		}
		return min(maxChunk, int64(max(lim.Burst(), 1)))
	}
	if lim != nil && lim.Limit() != rate.Inf && lim.Burst() < 1 {
		return 0, ErrBadLimiter
	}
	chunk := maxStep()
	if q != nil {
		chunk = min(chunk, firstReservation)
	}
	of, _ := dst.(*os.File)
	zero := of != nil && isKernelReader(src)
	// One upload is one writer: its Reserve then waits for room other
	// uploads hold rather than failing, and it commits every reservation
	// before asking for the next, so it never waits for itself.
	ctx = accounts.WithWriter(ctx)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		chunk = min(chunk, maxStep())
		want, reserved := chunk, int64(0)
		if q != nil {
			granted, err := q.Reserve(ctx, chunk)
			if err != nil && !errors.Is(err, accounts.ErrQuotaExceeded) {
				return total, fmt.Errorf("reserve quota: %w", err)
			}
			if granted <= 0 {
				more, err := probe(src, guard)
				if err != nil {
					return total, err
				}
				if more {
					return total, accounts.ErrQuotaExceeded
				}
				return total, nil
			}
			// Commit returns exactly what was granted, even if a Quota
			// granted more than asked.
			want, reserved = min(granted, chunk), granted
		}

		var n int64
		if zero {
			n, err = of.ReadFrom(&io.LimitedReader{R: src, N: want})
		} else {
			n, err = bufferedCopy(ctx, dst, src, want)
		}
		total += n
		if q != nil {
			if cerr := q.Commit(context.WithoutCancel(ctx), reserved, n); cerr != nil {
				return total, errors.Join(readErr(err), fmt.Errorf("%w: commit quota: %w", ErrNotCounted, cerr))
			}
		}
		if err != nil {
			return total, readErr(err)
		}
		if n < want {
			// Short of the limit without an error: src reached its end.
			return total, guard.check()
		}
		if lim != nil && lim.Limit() != rate.Inf {
			if err := pay(ctx, lim, n); err != nil {
				return total, err
			}
		}
		chunk = min(2*chunk, maxStep())
	}
}

// isKernelReader reports whether (*os.File).ReadFrom can splice from r.
func isKernelReader(r io.Reader) bool {
	switch r.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// readErr maps a TLS record cut in the middle (crypto/tls reports
// io.ErrUnexpectedEOF) to ErrTruncated.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w (%w)", ErrTruncated, err)
	}
	return err
}

// probe reads one byte to learn whether src has more data once the quota is
// used up. The byte is never written anywhere.
func probe(src io.Reader, guard *eofConn) (more bool, err error) {
	var b [1]byte
	for range probeTries {
		n, err := src.Read(b[:])
		if n > 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, guard.check()
		}
		if err != nil {
			return false, readErr(err)
		}
	}
	return false, io.ErrNoProgress
}

// GuardEOF wraps the raw connection under a TLS data connection so that
// Receive can tell the client's close_notify from a bare TCP FIN. Build
// upload connections as tls.Server(xfer.GuardEOF(raw), dataConf).
//
// It works because crypto/tls stops reading the raw connection once it has
// seen close_notify (the error is sticky), so the raw connection only reports
// EOF to it when the peer closed TCP without one.
func GuardEOF(c net.Conn) net.Conn { return &eofConn{Conn: c} }

type eofConn struct {
	net.Conn
	sawEOF atomic.Bool
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.sawEOF.Store(true)
	}
	return n, err
}

// check turns a clean end of the reader into ErrTruncated if the raw
// connection under TLS hit EOF. A nil guard (no TLS) always passes.
func (c *eofConn) check() error {
	if c != nil && c.sawEOF.Load() {
		return ErrTruncated
	}
	return nil
}

// findGuard looks through the readers this package builds for a *tls.Conn
// and returns its guard, or ErrUnguardedTLS if it has none.
func findGuard(r io.Reader) (*eofConn, error) {
	for {
		switch v := r.(type) {
		case *fromCRLF:
			r = v.r
		case *tls.Conn:
			if g, ok := v.NetConn().(*eofConn); ok {
				return g, nil
			}
			return nil, ErrUnguardedTLS
		default:
			return nil, nil
		}
	}
}
