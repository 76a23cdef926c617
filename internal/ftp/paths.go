package ftp

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/vfs"
)

// tmpPrefix starts the name of an upload in progress. Such names are hidden
// from listings and refused as client paths, so no client can read, list or
// clobber another session's partial upload.
const tmpPrefix = ".wharf-upload-"

// isTempName reports whether a directory entry is an upload in progress.
func isTempName(name string) bool { return strings.HasPrefix(name, tmpPrefix) }

// resolve turns a client path into its client-visible absolute form and the
// FS name. The jail itself is os.Root's job; this only rejects what can
// never be a valid name.
func (ss *session) resolve(arg string) (abs, name string, err error) {
	abs, name, err = vfs.Resolve(ss.cwd, arg)
	if err != nil {
		return "", "", err
	}
	if isTempName(path.Base(abs)) {
		return "", "", vfs.ErrBadPath
	}
	if ss.srv.cfg.HideDotNames && HasDotName(abs) {
		return "", "", ErrHiddenName
	}
	return abs, name, nil
}

// ErrHiddenName refuses a client path through a name that starts with a
// dot while Config.HideDotNames is set: to a reader it does not exist (550
// "No such file or directory."), to a writer the name is not allowed (553).
var ErrHiddenName = fmt.Errorf("hidden name: %w", fs.ErrNotExist)

// HasDotName reports whether a slash-separated path has an element that
// starts with a dot ("." and ".." themselves excepted: Resolve has cleaned
// them away, and an HTTP path may still hold them).
func HasDotName(p string) bool {
	for elem := range strings.SplitSeq(p, "/") {
		if len(elem) > 0 && elem[0] == '.' && elem != "." && elem != ".." {
			return true
		}
	}
	return false
}

// need checks a permission on a client-visible path; the user's settings
// are re-read so an admin's change applies at once.
func (ss *session) need(abs string, p accounts.Perm) error {
	if !ss.user().PermsFor(abs).Has(p) {
		ss.log.Info("permission denied", "path", abs, "perm", p.String())
		return errPermission
	}
	return nil
}

// permTarget is the client-visible path whose permissions the gate checks
// for a command: the path argument with options and numbers stripped, or
// the working directory.
func (ss *session) permTarget(verb, arg string) string {
	switch verb {
	case "LIST", "NLST", "STAT":
		arg = stripListOptions(arg)
	case "MFMT":
		_, arg, _ = strings.Cut(arg, " ")
	case "XMD5", "XSHA1", "XSHA256", "XSHA512", "XCRC":
		arg, _, _, _ = splitRangeArgs(arg) // bad numbers: the handler's 501
	}
	if arg == "" {
		return ss.cwd
	}
	abs, _, err := vfs.Resolve(ss.cwd, arg)
	if err != nil {
		return ss.cwd
	}
	return abs
}

// stripListOptions drops ls-style options ("-la", "-a -l") that clients
// such as lftp and FileZilla put before the path of LIST.
func stripListOptions(arg string) string {
	for strings.HasPrefix(arg, "-") {
		opt, rest, _ := strings.Cut(arg, " ")
		if len(opt) < 2 || strings.Trim(opt[1:], "alRtrhdF1") != "" {
			break // a file name that starts with '-'
		}
		arg = strings.TrimLeft(rest, " ")
	}
	return arg
}

// errBadRangeArgs refuses a checksum range that is not two byte offsets
// (a negative number, or one past int64).
var errBadRangeArgs = replyErr(ftpproto.CodeArgSyntaxError, "Invalid byte range: offsets are non-negative integers.")

// splitRangeArgs parses "file [start [end]]" of the X* checksum commands;
// numbers at the end are the range, the rest (spaces included) the file.
// Clients differ in details, so "file, start, end" and a quoted file name
// are accepted too. Only ASCII spaces separate: a no-break space (or any
// other Unicode space) is part of the name, as it is everywhere else. A
// trailing word that is a number but not an offset (signed negative, or
// too large for one) is refused (errBadRangeArgs) rather than taken for part
// of the name; so is a signed one.
func splitRangeArgs(arg string) (file string, start, end int64, err error) {
	file = strings.Trim(arg, " ")
	var nums []int64
	for len(nums) < 2 {
		i := strings.LastIndexByte(file, ' ')
		if i < 0 {
			break // the last word is the file
		}
		word := strings.TrimSuffix(file[i+1:], ",")
		if !isIntWord(word) {
			break
		}
		n, ok := parseOffset(word)
		if !ok {
			return "", 0, -1, errBadRangeArgs
		}
		nums = append([]int64{n}, nums...)
		file = strings.TrimRight(file[:i], " ")
	}
	file = strings.TrimSuffix(file, ",")
	if len(file) >= 2 && file[0] == '"' && file[len(file)-1] == '"' {
		file = file[1 : len(file)-1]
	}
	switch len(nums) {
	case 0:
		return file, 0, -1, nil
	case 1:
		return file, nums[0], -1, nil
	}
	return file, nums[0], nums[1], nil
}

// isIntWord reports whether w is an optionally signed run of ASCII digits.
func isIntWord(w string) bool {
	w = strings.TrimPrefix(strings.TrimPrefix(w, "-"), "+")
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return true
}
