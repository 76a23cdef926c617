package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharfftp/wharf/internal/client"
)

// clientExitCode maps a client failure to the exit codes scripts rely on.
// A checksum mismatch wins over everything: it means data arrived wrong.
func clientExitCode(err error) int {
	if errors.Is(err, client.ErrChecksum) {
		return ExitChecksum
	}
	if errors.Is(err, client.ErrIsFolder) {
		return ExitUsage // "is a folder; use -r": the command, not the server
	}
	var ce *client.CertError
	var de *client.DowngradeError
	if errors.As(err, &ce) || errors.As(err, &de) || errors.Is(err, client.ErrTLSRequired) {
		return ExitConnection
	}
	switch client.KindOf(err) {
	case client.KindLogin:
		return ExitLogin
	case client.KindNotFound:
		return ExitNotFound
	case client.KindPermission:
		return ExitPermission
	case client.KindQuota:
		return ExitQuota
	case client.KindConnection, client.KindTransient:
		return ExitConnection
	}
	// Local files: a missing source or a folder we may not write.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return ExitNotFound
		case errors.Is(err, fs.ErrPermission):
			return ExitPermission
		}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return ExitConnection
	}
	return ExitFailure
}

// errInterrupted is why a client command's context ended when the user
// pressed Ctrl-C.
var errInterrupted = errors.New("interrupted")

// interruptible gives a one-shot client command (get, put, ls) a context
// that Ctrl-C cancels with errInterrupted and SIGTERM cancels plainly, and
// the stop to defer. It stands in for Main's signal context, which hears the
// same signals: with one listener deciding, the cause is certain.
func interruptible(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			if s == os.Interrupt {
				cancel(errInterrupted)
			} else {
				cancel(nil)
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel(nil) }
}

// interrupted gives a failure that Ctrl-C caused exit code 130 (128+SIGINT),
// which shells and scripts read as "stopped by the user". What was already
// written stays: a download's .part is kept for -c.
func interrupted(ctx context.Context, err error) error {
	return interruptedResume(ctx, err, "the same command with -c")
}

// interruptedResume is interrupted for a command whose way to go on is
// resume ("the same mirror command": mirror has no -c, it resumes itself).
func interruptedResume(ctx context.Context, err error, resume string) error {
	if err == nil || !errors.Is(context.Cause(ctx), errInterrupted) {
		return err
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		err = ee.Err
	}
	// A person pressed Ctrl-C: what matters is what was kept and how to
	// go on, not the socket error the cancel caused underneath.
	if s, ok := client.DescribeInterrupted(err, resume); ok {
		return withCode(ExitInterrupted, fmt.Errorf("%w: %s", errInterrupted, s))
	}
	if !errors.Is(err, errInterrupted) {
		err = fmt.Errorf("%w: %w", errInterrupted, err)
	}
	return withCode(ExitInterrupted, printableError{err})
}
