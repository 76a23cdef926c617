package ftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/vfs"
)

func (ss *session) cmdPWD(string) error {
	ss.reply(ftpproto.CodeCreated, ftpproto.Quote(ss.cwd)+" is the current directory.")
	return nil
}

func (ss *session) cmdCWD(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	fi, err := ss.fs.Stat(ss.ctx, name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return ReasonNotFolder.reply()
	}
	ss.cwd = abs
	ss.reply(ftpproto.CodeFileActionOK, "Directory successfully changed.")
	return nil
}

func (ss *session) cmdCDUP(string) error { return ss.cmdCWD("..") }

func (ss *session) cmdMKD(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	if err := ss.fs.Mkdir(ss.ctx, name, 0o755); err != nil {
		return err
	}
	ss.log.Info("mkdir", "path", abs)
	ss.reply(ftpproto.CodeCreated, ftpproto.Quote(abs)+" created.")
	return nil
}

func (ss *session) cmdRMD(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	if abs == "/" {
		return replyErr(ftpproto.CodeFileUnavailable, "Can't remove the root folder.")
	}
	fi, err := statL(ss.ctx, ss.fs, name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return ReasonNotFolder.reply()
	}
	if err := ss.fs.Remove(ss.ctx, name); err != nil {
		// rmdir(2) of a folder with entries is ENOTEMPTY or, as POSIX
		// allows and some filesystems do, EEXIST.
		if errors.Is(err, vfs.ErrNotEmpty) || errors.Is(err, vfs.ErrExist) {
			return ReasonNotEmpty.reply()
		}
		return err
	}
	ss.log.Info("rmdir", "path", abs)
	ss.event(Event{Kind: Deleted, Path: abs, RealPath: ss.realPath(abs), Dir: true})
	ss.reply(ftpproto.CodeFileActionOK, "Remove directory operation successful.")
	return nil
}

// listTarget resolves the path of LIST/NLST/MLSD (options stripped) and
// stats it.
func (ss *session) listTarget(arg string) (abs, name string, fi fs.FileInfo, err error) {
	arg = stripListOptions(arg)
	if arg == "" {
		arg = "."
	}
	abs, name, err = ss.resolve(arg)
	if err != nil {
		return "", "", nil, err
	}
	fi, err = ss.fs.Stat(ss.ctx, name)
	if err != nil {
		return "", "", nil, err
	}
	return abs, name, fi, nil
}

func (ss *session) cmdLIST(arg string) error { return ss.list(arg, formatLS, "LIST") }
func (ss *session) cmdNLST(arg string) error { return ss.list(arg, formatName, "NLST") }

func (ss *session) cmdMLSD(arg string) error {
	abs, name, fi, err := ss.listTarget(arg)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		// RFC 3659 section 7.2.1: MLSD of a file is an error.
		return ReasonNotFolder.reply()
	}
	// The folder is stat'ed once (on S3 a stat is up to three requests).
	return ss.listAt(abs, name, fi, nil, "", formatMLSx, "MLSD")
}

// list runs a directory listing over the data connection.
func (ss *session) list(arg string, format listFormat, verb string) error {
	abs, name, fi, err := ss.listTarget(arg)
	var match *glob
	var prefix string
	if errors.Is(err, fs.ErrNotExist) && format != formatMLSx {
		dir, _, g, gerr := splitGlob(stripListOptions(arg))
		if errors.Is(gerr, errGlobComplex) {
			return replyErr(ftpproto.CodeArgSyntaxError, "Pattern too complex.")
		}
		if g != nil {
			abs, name, fi, err = ss.listTarget(dir)
			if err == nil && !fi.IsDir() {
				err = fs.ErrNotExist
			}
			match = g
			if format == formatName && dir != "." {
				prefix = strings.TrimSuffix(dir, "/") + "/"
			}
		}
	}
	if err != nil {
		return err
	}
	return ss.listAt(abs, name, fi, match, prefix, format, verb)
}

// listAt runs the listing of a resolved target (fi is what name is).
func (ss *session) listAt(abs, name string, fi fs.FileInfo, match *glob, prefix string, format listFormat, verb string) error {
	l := &lister{format: format, now: time.Now(), user: ss.user(), dirAbs: abs, facts: ss.facts(), match: match, prefix: prefix, hideDot: ss.srv.cfg.HideDotNames, partials: &ss.srv.partials}
	fsys := ss.fs
	return ss.startTransfer(verb+" "+abs, abs, false, func(ctx context.Context, dc net.Conn, x *transfer) (int64, error) {
		if !fi.IsDir() {
			l.appendEntry(fi, path.Base(abs))
			n, err := dc.Write(l.buf)
			return int64(n), err
		}
		return ss.streamDir(ctx, fsys, name, l, dc)
	}, nil)
}

// splitGlob splits a LIST or NLST argument whose last component is a
// pattern ("*.txt", "dir/sp*", "[ab]?") into its folder and the compiled
// pattern; g is nil when the argument is no pattern (or not a valid one).
// Only that last component may hold * ? or [...]: a glob is matched over
// one folder's entries, never across folders, and in one pass over each
// name (glob.go), so it costs about as much as listing the folder (classic
// ftp's mget sends NLST *.txt). A pattern past the caps of glob.go is
// errGlobComplex. A name that exists is never taken for a pattern; list
// checks that first.
func splitGlob(arg string) (dir, pattern string, g *glob, err error) {
	dir, pattern = path.Split(arg)
	if !strings.ContainsAny(pattern, "*?[") || strings.ContainsAny(dir, "*?[") {
		return "", "", nil, nil
	}
	if g, err = compileGlob(pattern); err != nil {
		if errors.Is(err, errGlobComplex) {
			return "", "", nil, err
		}
		return "", "", nil, nil
	}
	switch dir {
	case "":
		dir = "."
	case "/":
	default:
		dir = strings.TrimSuffix(dir, "/")
	}
	return dir, pattern, g, nil
}

// facts is the OPTS MLST selection; an empty one prints no facts, only
// names (RFC 3659 section 7.9).
func (ss *session) facts() factSet { return ss.mlstFacts }

func (ss *session) cmdMLST(arg string) error {
	if arg == "" {
		arg = "."
	}
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	fi, err := ss.fs.Stat(ss.ctx, name)
	if err != nil {
		return err
	}
	b := appendFacts(nil, fi, ss.user().PermsFor(abs), ss.facts())
	e := entryOf(fi)
	b = appendPartialFact(b, &ss.srv.partials, &e, ss.facts())
	// RFC 3659 section 7.2: the fact line starts with one space, which the
	// multi-line writer adds.
	ss.reply(ftpproto.CodeFileActionOK, "Listing "+abs+"\n"+string(b)+" "+abs+"\nEnd.")
	return nil
}

// statPath answers STAT <path> with an ls listing on the control connection
// (RFC 959: 213 for a file, 212 for a directory).
func (ss *session) statPath(arg string) error {
	abs, name, fi, err := ss.listTarget(arg)
	if err != nil {
		return err
	}
	if err := ss.need(abs, accounts.PermList); err != nil {
		return err
	}
	l := &lister{format: formatLS, now: time.Now(), user: ss.user(), dirAbs: abs, hideDot: ss.srv.cfg.HideDotNames}
	var sb strings.Builder
	code := ftpproto.CodeFileStatus
	if fi.IsDir() {
		code = ftpproto.CodeDirStatus
		if _, err := ss.streamDir(ss.ctx, ss.fs, name, l, &sb); err != nil {
			return err
		}
	} else {
		l.appendEntry(fi, path.Base(abs))
		sb.Write(l.buf)
	}
	body := strings.ReplaceAll(strings.TrimSuffix(sb.String(), "\r\n"), "\r\n", "\n")
	if body != "" {
		body += "\n"
	}
	ss.reply(code, fmt.Sprintf("Status of %s:\n%sEnd of status.", abs, body))
	return nil
}
