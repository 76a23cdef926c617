package cli

import (
	"errors"
	"io"
	"io/fs"
	"net"

	"github.com/wharfftp/wharf/internal/client"
)

// clientExitCode maps a client failure to the exit codes scripts rely on.
// A checksum mismatch wins over everything: it means data arrived wrong.
func clientExitCode(err error) int {
	if errors.Is(err, client.ErrChecksum) {
		return ExitChecksum
	}
	var ce *client.CertError
	if errors.As(err, &ce) || errors.Is(err, client.ErrTLSRequired) {
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
