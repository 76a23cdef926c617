package cli

import (
	"errors"
	"strings"
)

// Exit codes, stable for scripts: a script can tell what went wrong without
// parsing messages.
const (
	ExitOK         = 0
	ExitFailure    = 1 // anything not listed below
	ExitUsage      = 2 // bad flags or arguments
	ExitConnection = 3 // could not reach or keep the server
	ExitLogin      = 4 // login refused
	ExitNotFound   = 5 // no such file, folder or user
	ExitPermission = 6 // refused by permissions
	ExitQuota      = 7 // disk quota or storage exceeded
	ExitChecksum   = 8 // a transfer arrived different from its source

	ExitInterrupted = 130 // stopped by Ctrl-C (128+SIGINT, as shells report it)
)

// ExitError carries the exit code a failure should end the process with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// withCode marks err with an exit code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// UsageError is a mistake in how the command was called.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageError(err error) error { return &UsageError{Err: err} }

func exitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	// cobra reports unknown commands and argument-count mistakes as plain errors.
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") ||
		strings.HasPrefix(msg, "requires ") || strings.HasPrefix(msg, "unknown flag") {
		return ExitUsage
	}
	return ExitFailure
}
