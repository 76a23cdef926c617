package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/units"
)

// Retr copies the remote file from offset (REST) into w and returns the
// bytes received.
func (c *Conn) Retr(ctx context.Context, name string, offset int64, w io.Writer) (int64, error) {
	var n int64
	err := c.transfer(ctx, "RETR "+name, offset, func(dc net.Conn) error {
		var err error
		n, err = io.Copy(w, dc)
		if err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		return nil
	})
	return n, err
}

// errRangeDone ends a RetrRange's data connection once its bytes are in.
var errRangeDone = errors.New("range complete")

// RetrRange copies length bytes of the remote file from offset into w:
// REST and RETR, then ABOR once they are in, FTP having no end offset. A
// file that ends before is an error (it changed on the server).
func (c *Conn) RetrRange(ctx context.Context, name string, offset, length int64, w io.Writer) (int64, error) {
	var n int64
	err := c.transfer(ctx, "RETR "+name, offset, func(dc net.Conn) error {
		var err error
		n, err = io.CopyN(w, dc, length)
		if err == io.EOF {
			return fmt.Errorf("download %s: the file ended at %d, before %d: it changed on the server", name, offset+n, offset+length)
		}
		if err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		return errRangeDone
	})
	if errors.Is(err, errRangeDone) {
		err = nil
	}
	return n, err
}

// Stor uploads r to the remote file. offset > 0 continues at that byte
// (REST + STOR when the server announces REST STREAM, else APPE).
func (c *Conn) Stor(ctx context.Context, name string, offset int64, r io.Reader) (int64, error) {
	line := "STOR " + name
	rest := int64(0)
	if offset > 0 {
		if c.Has("REST") {
			rest = offset
		} else {
			line = "APPE " + name
		}
	}
	return c.store(ctx, line, rest, r)
}

// Appe appends r to the remote file.
func (c *Conn) Appe(ctx context.Context, name string, r io.Reader) (int64, error) {
	return c.store(ctx, "APPE "+name, 0, r)
}

func (c *Conn) store(ctx context.Context, line string, rest int64, r io.Reader) (int64, error) {
	var n int64
	err := c.transfer(ctx, line, rest, func(dc net.Conn) error {
		var err error
		n, err = io.Copy(dc, r)
		if err != nil {
			return fmt.Errorf("upload %s: %w", strings.SplitN(line, " ", 2)[1], err)
		}
		return nil
	})
	return n, err
}

// EntryType is what a listing entry is.
type EntryType int

const (
	TypeFile EntryType = iota
	TypeDir
	TypeLink
	TypeOther
)

// Entry is one name in a folder listing.
type Entry struct {
	Name    string
	Type    EntryType
	Size    int64
	ModTime time.Time // zero when the listing did not say
	Perm    string    // as the server wrote it ("-rw-r--r--", MLSD perm=...)
	Target  string    // of a symbolic link, when the listing said
	Raw     string    // the line it came from
}

// List lists a folder ("" for the current one): MLSD when the server has
// it, else LIST parsed in its Unix or DOS form.
func (c *Conn) List(ctx context.Context, dir string) ([]Entry, error) {
	if c.Has("MLST") {
		return c.MLSD(ctx, dir)
	}
	lines, err := c.lines(ctx, withArg("LIST", dir))
	if err != nil {
		return nil, err
	}
	return listing(lines, ParseListLine), nil
}

// MLSD lists a folder in the machine-readable form of RFC 3659.
func (c *Conn) MLSD(ctx context.Context, dir string) ([]Entry, error) {
	lines, err := c.lines(ctx, withArg("MLSD", dir))
	if err != nil {
		return nil, err
	}
	return listing(lines, ParseMLSx), nil
}

// listing parses a folder listing's lines and keeps the entries that name
// one thing inside the folder. A server's listing is untrusted: a name with
// a slash ("../../x"), a NUL or a line break would make callers that join it
// onto a path (get -r, RemoveAll, the shell) reach outside the folder or
// send a second command, so it is dropped, as are "." and "..".
func listing(lines []string, parse func(string) (Entry, bool)) []Entry {
	var out []Entry
	for _, l := range lines {
		if e, ok := parse(l); ok && isEntryName(e.Name) {
			out = append(out, e)
		}
	}
	return out
}

// isEntryName reports whether name is a single element of a folder.
func isEntryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00\r\n")
}

// ListRaw returns the server's own LIST lines, for showing to a person.
func (c *Conn) ListRaw(ctx context.Context, dir string) ([]string, error) {
	return c.lines(ctx, withArg("LIST", dir))
}

// NameList returns NLST's names.
func (c *Conn) NameList(ctx context.Context, dir string) ([]string, error) {
	return c.lines(ctx, withArg("NLST", dir))
}

func withArg(cmd, arg string) string {
	if arg == "" {
		return cmd
	}
	return cmd + " " + arg
}

func (c *Conn) lines(ctx context.Context, line string) ([]string, error) {
	var out []string
	err := c.transfer(ctx, line, 0, func(dc net.Conn) error {
		var err error
		out, err = readLines(dc)
		return err
	})
	return out, err
}

// maxListLine bounds one line of a listing.
const maxListLine = 64 << 10

// A listing is held in memory whole (callers sort it, get -r walks it), and
// a hostile or broken server can send one without end. These bound it far
// above any real folder: a million names, 256 MiB of text.
const (
	maxListEntries = 1_000_000
	maxListBytes   = 256 << 20
)

// ErrListingTooBig reports a listing past maxListEntries or maxListBytes.
var ErrListingTooBig = errors.New("listing too big")

// readLines splits a listing into its non-empty lines, CRLF or LF ended.
func readLines(r io.Reader) ([]string, error) {
	return readLinesMax(r, maxListEntries, maxListBytes)
}

func readLinesMax(r io.Reader, maxEntries int, maxBytes int64) ([]string, error) {
	var out []string
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 4096), maxListLine)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			if len(out) == maxEntries {
				return nil, fmt.Errorf("read listing: %w: more than %d entries", ErrListingTooBig, maxEntries)
			}
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read listing: %w", err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("read listing: %w: more than %d bytes", ErrListingTooBig, maxBytes)
	}
	return out, nil
}

// Stat describes one path: MLST when offered, else SIZE/MDTM for a file or
// CWD for a folder.
func (c *Conn) Stat(ctx context.Context, name string) (Entry, error) {
	if c.Has("MLST") {
		code, msg, err := c.cmd(ctx, "MLST "+name)
		if err != nil {
			return Entry{}, err
		}
		if code/100 != 2 {
			return Entry{}, &Error{Code: code, Msg: msg}
		}
		for _, l := range strings.Split(msg, "\n")[1:] {
			if e, ok := ParseMLSx(strings.TrimPrefix(l, " ")); ok {
				e.Name = path.Base(name)
				return e, nil
			}
		}
	}
	size, serr := c.Size(ctx, name)
	if serr == nil {
		e := Entry{Name: path.Base(name), Type: TypeFile, Size: size}
		if t, err := c.MDTM(ctx, name); err == nil {
			e.ModTime = t
		}
		return e, nil
	}
	if c.broken != nil {
		return Entry{}, c.broken
	}
	wd, err := c.Pwd(ctx)
	if err != nil {
		return Entry{}, err
	}
	if err := c.Cwd(ctx, name); err != nil {
		return Entry{}, serr
	}
	if err := c.Cwd(ctx, wd); err != nil {
		return Entry{}, err
	}
	return Entry{Name: path.Base(name), Type: TypeDir}, nil
}

// Size returns the remote file's size (SIZE, RFC 3659).
func (c *Conn) Size(ctx context.Context, name string) (int64, error) {
	code, msg, err := c.cmd(ctx, "SIZE "+name)
	if err != nil {
		return 0, err
	}
	if code != 213 {
		return 0, &Error{Code: code, Msg: msg}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("SIZE %s: bad reply %q", name, msg)
	}
	return n, nil
}

// MDTM returns the remote file's modification time, in UTC.
func (c *Conn) MDTM(ctx context.Context, name string) (time.Time, error) {
	code, msg, err := c.cmd(ctx, "MDTM "+name)
	if err != nil {
		return time.Time{}, err
	}
	if code != 213 {
		return time.Time{}, &Error{Code: code, Msg: msg}
	}
	t, ok := parseFactTime(strings.TrimSpace(msg))
	if !ok {
		return time.Time{}, fmt.Errorf("MDTM %s: bad reply %q", name, msg)
	}
	return t, nil
}

// SetModTime sets the remote file's time with MFMT when the server has it.
func (c *Conn) SetModTime(ctx context.Context, name string, t time.Time) error {
	if !c.Has("MFMT") {
		return nil
	}
	return c.expect(ctx, 2, "MFMT "+t.UTC().Format("20060102150405")+" "+name)
}

// Pwd returns the current remote folder.
func (c *Conn) Pwd(ctx context.Context) (string, error) {
	code, msg, err := c.cmd(ctx, "PWD")
	if err != nil {
		return "", err
	}
	if code != 257 {
		return "", &Error{Code: code, Msg: msg}
	}
	return parseQuoted(msg), nil
}

// parseQuoted reads the "..." path of a 257 reply ("" inside means ").
func parseQuoted(msg string) string {
	i := strings.Index(msg, `"`)
	if i < 0 {
		return strings.TrimSpace(msg)
	}
	var b strings.Builder
	for j := i + 1; j < len(msg); j++ {
		if msg[j] == '"' {
			if j+1 < len(msg) && msg[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			break
		}
		b.WriteByte(msg[j])
	}
	return b.String()
}

// Cwd changes the remote folder.
func (c *Conn) Cwd(ctx context.Context, dir string) error {
	if err := c.expect(ctx, 2, "CWD "+dir); err != nil {
		return err
	}
	// Remembered so a connection dialed to replace this one can go back
	// (see redial); relative to the login folder while no CWD was absolute.
	c.wd = path.Join(c.wd, dir)
	if strings.HasPrefix(dir, "/") {
		c.wd = path.Clean(dir)
	}
	return nil
}

// Mkdir creates a remote folder.
func (c *Conn) Mkdir(ctx context.Context, dir string) error {
	return c.expect(ctx, 2, "MKD "+dir)
}

// ErrNotFolder reports a path that exists but is not a folder where a
// folder is needed (mkdir -p through a file).
var ErrNotFolder = errors.New("exists and is not a folder")

// MkdirAll creates dir and its missing parents. A file in the way (dir
// itself or a parent) fails with ErrNotFolder: it is no folder to put
// things in. A symbolic link is taken as the server presents it.
func (c *Conn) MkdirAll(ctx context.Context, dir string) error {
	dir = path.Clean(dir)
	if dir == "." || dir == "/" {
		return nil
	}
	if st, err := c.Stat(ctx, dir); err == nil {
		if st.Type == TypeDir || st.Type == TypeLink {
			return nil
		}
		return fmt.Errorf("%s %w", dir, ErrNotFolder)
	} else if c.broken != nil {
		return err
	}
	if err := c.MkdirAll(ctx, path.Dir(dir)); err != nil {
		return err
	}
	merr := c.Mkdir(ctx, dir)
	if merr == nil || c.broken != nil {
		return merr
	}
	// A server that cannot Stat (no MLST nor SIZE, and CWD into a file
	// fails like CWD into nothing) still shows what is in the way.
	parent := path.Dir(dir)
	if parent == "." {
		parent = ""
	}
	if entries, err := c.List(ctx, parent); err == nil {
		for _, e := range entries {
			if e.Name != path.Base(dir) {
				continue
			}
			if e.Type == TypeDir || e.Type == TypeLink {
				return nil // made by someone else meanwhile
			}
			return fmt.Errorf("%s %w", dir, ErrNotFolder)
		}
	}
	return merr
}

// Rmdir removes an empty remote folder.
func (c *Conn) Rmdir(ctx context.Context, dir string) error {
	return c.expect(ctx, 2, "RMD "+dir)
}

// Delete removes a remote file.
func (c *Conn) Delete(ctx context.Context, name string) error {
	return c.expect(ctx, 2, "DELE "+name)
}

// Rename moves a remote file or folder (RNFR/RNTO).
func (c *Conn) Rename(ctx context.Context, from, to string) error {
	if err := c.expect(ctx, 3, "RNFR "+from); err != nil {
		return err
	}
	return c.expect(ctx, 2, "RNTO "+to)
}

// RemoveAll removes a remote file or a whole folder tree.
func (c *Conn) RemoveAll(ctx context.Context, name string) error {
	e, err := c.Stat(ctx, name)
	if err != nil {
		return err
	}
	if e.Type != TypeDir {
		return c.Delete(ctx, name)
	}
	entries, err := c.List(ctx, name)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		p := path.Join(name, ent.Name)
		if ent.Type == TypeDir {
			err = c.RemoveAll(ctx, p)
		} else {
			err = c.Delete(ctx, p)
		}
		if err != nil {
			return err
		}
	}
	return c.Rmdir(ctx, name)
}

// Noop checks that the server is still there (and resets its idle timer).
func (c *Conn) Noop(ctx context.Context) error {
	return c.expect(ctx, 2, "NOOP")
}

// Help returns the server's HELP text.
func (c *Conn) Help(ctx context.Context) (string, error) {
	code, msg, err := c.cmd(ctx, "HELP")
	if err != nil {
		return "", err
	}
	if code/100 != 2 {
		return "", &Error{Code: code, Msg: msg}
	}
	return msg, nil
}

// Quota is the server's answer to SITE QUOTA.
type Quota struct {
	Used, Limit int64 // bytes; < 0 when not said (Limit also when unlimited)
	// Files and FileLimit count files the same way: < 0 when not said,
	// FileLimit also when unlimited.
	Files, FileLimit int64
	Text             string
}

// FilesLeft is how many more files the quota allows, or -1 when there is no
// limit or the count is unknown.
func (q Quota) FilesLeft() int64 {
	if q.FileLimit < 0 || q.Files < 0 {
		return -1
	}
	return max(q.FileLimit-q.Files, 0)
}

// Left is what remains of the quota, or -1 when there is no limit or the
// usage is unknown.
func (q Quota) Left() int64 {
	if q.Limit < 0 || q.Used < 0 {
		return -1
	}
	return max(q.Limit-q.Used, 0)
}

// SiteQuota asks SITE QUOTA. Servers word the reply freely; the numbers are
// read from "Key: value" lines whose key says bytes used, allowed (limit,
// quota) or left (free, available), values being byte counts or sizes
// ("10MiB", "unlimited"); "Files ..." lines the same way for the file
// count; percent lines are skipped, as derived. Text keeps the reply
// for showing as is.
func (c *Conn) SiteQuota(ctx context.Context) (Quota, error) {
	code, msg, err := c.cmd(ctx, "SITE QUOTA")
	if err != nil {
		return Quota{}, err
	}
	if code/100 != 2 {
		return Quota{}, &Error{Code: code, Msg: msg}
	}
	return parseQuota(msg), nil
}

// exactBytes reads the "(N bytes)" that follows a rounded size.
func exactBytes(val string) (int64, bool) {
	_, inner, ok := strings.Cut(val, "(")
	num, ok2 := strings.CutSuffix(strings.TrimSpace(inner), " bytes)")
	if !ok || !ok2 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	return n, err == nil && n >= 0
}

func parseQuota(msg string) Quota {
	q := Quota{Used: -1, Limit: -1, Files: -1, FileLimit: -1, Text: msg}
	left, filesLeft := int64(-1), int64(-1)
	for _, line := range strings.Split(msg, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.ToLower(key), strings.TrimSpace(val)
		if strings.Contains(key, "percent") || strings.Contains(val, "%") {
			continue // derived, and worded every which way: the counts say it
		}
		files := strings.Contains(key, "file")
		var n int64
		var err error
		if files {
			num, _, _ := strings.Cut(val, " ") // "2", "2 files"
			n, err = strconv.ParseInt(num, 10, 64)
			if err == nil && n < 0 {
				continue
			}
		} else {
			n, err = units.ParseSize(val)
			if exact, ok := exactBytes(val); ok {
				n, err = exact, nil // "1.2MiB (1258291 bytes)": the count is exact
			}
		}
		if err != nil {
			if strings.EqualFold(val, "unlimited") || strings.EqualFold(val, "none") {
				n = -1
			} else {
				continue
			}
		}
		used, limit, rest := &q.Used, &q.Limit, &left
		if files {
			used, limit, rest = &q.Files, &q.FileLimit, &filesLeft
		}
		switch {
		case strings.Contains(key, "used"):
			*used = n
		case strings.Contains(key, "allowed") || strings.Contains(key, "limit") || strings.Contains(key, "quota") || strings.Contains(key, "max"):
			*limit = n
		case strings.Contains(key, "left") || strings.Contains(key, "free") || strings.Contains(key, "avail") || strings.Contains(key, "remaining"):
			*rest = n
		}
	}
	if q.FileLimit < 0 && filesLeft >= 0 && q.Files >= 0 && filesLeft <= math.MaxInt64-q.Files {
		q.FileLimit = q.Files + filesLeft
	}
	if q.Limit < 0 && left >= 0 && q.Used >= 0 && left <= math.MaxInt64-q.Used {
		q.Limit = q.Used + left
	}
	return q
}
