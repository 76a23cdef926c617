package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wharfftp/wharf/internal/units"
)

// PartialError is a transfer stopped part-way by its context (Ctrl-C, a
// deadline): what was kept, where, and that -c resumes it. Err is the
// failure underneath, for those who need it; Error is a sentence for a
// person.
type PartialError struct {
	Upload bool
	Name   string // as the user sees it (Result.Name)
	Part   string // a download's .part file; "" for an upload
	// Done is the bytes in place when it stopped; for an upload, those
	// sent, some of which may have been in socket buffers at the cut.
	Done int64
	Size int64 // of the whole file, -1 unknown
	Err  error
}

func (e *PartialError) Unwrap() error { return e.Err }

func (e *PartialError) Error() string {
	if e.Done <= 0 {
		return fmt.Sprintf("%s was stopped before any byte moved", Printable(e.Name))
	}
	of := ""
	if e.Size > 0 {
		of = " of " + units.FormatSize(e.Size)
	}
	if e.Upload {
		return fmt.Sprintf("%s is partly uploaded: the server keeps what arrived (up to %s%s)", Printable(e.Name), units.FormatSize(e.Done), of)
	}
	return fmt.Sprintf("%s is partly downloaded: %s%s kept as %s", Printable(e.Name), units.FormatSize(e.Done), of, Printable(e.Part))
}

// Partials finds the PartialErrors in err, joined errors included.
func Partials(err error) []*PartialError {
	switch e := err.(type) {
	case nil:
		return nil
	case *PartialError:
		return []*PartialError{e}
	case interface{ Unwrap() []error }:
		var out []*PartialError
		for _, x := range e.Unwrap() {
			out = append(out, Partials(x)...)
		}
		return out
	}
	return Partials(errors.Unwrap(err))
}

// DescribeInterrupted says in one sentence what an interrupted transfer
// left and how to resume it, resume being the command to give ("the same
// command with -c", "get -c"). ok is false when err holds no partial
// transfer.
func DescribeInterrupted(err error, resume string) (sentence string, ok bool) {
	ps := Partials(err)
	var kept []*PartialError
	for _, p := range ps {
		if p.Done > 0 {
			kept = append(kept, p)
		}
	}
	switch {
	case len(ps) == 0:
		return "", false
	case len(kept) == 0:
		return "stopped before any byte moved; nothing to resume", true
	case len(kept) == 1:
		return kept[0].Error() + "; " + resume + " resumes it", true
	}
	dir := "downloaded (kept as NAME.part)"
	if kept[0].Upload {
		dir = "uploaded (the server keeps what arrived)"
	}
	names := make([]string, 0, 3)
	for i, p := range kept {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(kept)-3))
			break
		}
		names = append(names, Printable(p.Name))
	}
	return fmt.Sprintf("%d files are partly %s: %s; %s resumes them", len(kept), dir, strings.Join(names, ", "), resume), true
}
