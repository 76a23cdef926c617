package ftp

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/vfs"
)

// argRule says whether a command takes an argument.
type argRule int

const (
	argNone     argRule = iota // an argument is a 501
	argRequired                // a missing argument is a 501
	argOptional
)

// command is one row of the command table: everything the gate needs to
// refuse a command before its handler runs, and its HELP text.
type command struct {
	handler    func(ss *session, arg string) error
	preLogin   bool          // allowed before login
	arg        argRule       //
	perm       accounts.Perm // required permission; PermNone: none (the handler may check more)
	inTransfer bool          // runs while a transfer is in progress instead of waiting for it
	// closes marks what a client sends to close a transfer it just
	// finished (its checksum, size and time, QUIT): during Shutdown such a
	// session may still run these for Config.CloseGrace, and nothing else.
	closes bool
	help   string // "Syntax: ..." text for HELP
}

// commandTable builds the table. It is a function, not a package variable,
// so there is no global state; the server builds it once.
func commandTable() map[string]command {
	t := map[string]command{
		// Access control (RFC 959 4.1.1, RFC 4217).
		"USER": {handler: (*session).cmdUSER, preLogin: true, arg: argRequired, help: "USER <name>"},
		"PASS": {handler: (*session).cmdPASS, preLogin: true, arg: argOptional, help: "PASS <password>"},
		"REIN": {handler: (*session).cmdREIN, arg: argNone, help: "REIN (log out, keep the connection)"},
		"QUIT": {handler: (*session).cmdQUIT, preLogin: true, arg: argNone, closes: true, help: "QUIT"},
		"AUTH": {handler: (*session).cmdAUTH, preLogin: true, arg: argRequired, help: "AUTH TLS"},
		"PBSZ": {handler: (*session).cmdPBSZ, preLogin: true, arg: argRequired, help: "PBSZ 0"},
		"PROT": {handler: (*session).cmdPROT, preLogin: true, arg: argRequired, help: "PROT P|C"},
		"CCC":  {handler: (*session).cmdCCC, arg: argNone, help: "CCC (refused: the control connection stays encrypted)"},
		// RFC 959 commands wharf has no use for: known, so 502 rather
		// than 500 (RFC 959 section 4.2).
		"ACCT": {handler: (*session).cmdNotImplemented, preLogin: true, arg: argOptional, help: "ACCT (not implemented: USER and PASS are the whole login)"},
		"SMNT": {handler: (*session).cmdNotImplemented, preLogin: true, arg: argOptional, help: "SMNT (not implemented: one file tree per user)"},

		// Transfer parameters (4.1.2, RFC 2428, RFC 3659).
		"PORT": {handler: (*session).cmdPORT, arg: argRequired, help: "PORT h1,h2,h3,h4,p1,p2"},
		"EPRT": {handler: (*session).cmdEPRT, arg: argRequired, help: "EPRT |proto|addr|port|"},
		"PASV": {handler: (*session).cmdPASV, arg: argNone, help: "PASV"},
		"EPSV": {handler: (*session).cmdEPSV, arg: argOptional, help: "EPSV [1|2|ALL]"},
		"TYPE": {handler: (*session).cmdTYPE, arg: argRequired, help: "TYPE A|I"},
		"STRU": {handler: (*session).cmdSTRU, arg: argRequired, help: "STRU F"},
		"MODE": {handler: (*session).cmdMODE, arg: argRequired, help: "MODE S"},
		"REST": {handler: (*session).cmdREST, arg: argRequired, help: "REST <offset>"},
		"RANG": {handler: (*session).cmdRANG, arg: argRequired, closes: true, help: "RANG <start> <end> (byte range of the next RETR or HASH)"},
		"ALLO": {handler: (*session).cmdALLO, arg: argRequired, help: "ALLO <bytes>"},

		// Service commands (4.1.3).
		"RETR": {handler: (*session).cmdRETR, arg: argRequired, perm: accounts.PermDownload, help: "RETR <file>"},
		"STOR": {handler: (*session).cmdSTOR, arg: argRequired, help: "STOR <file>"},
		"STOU": {handler: (*session).cmdSTOU, arg: argOptional, perm: accounts.PermUpload, help: "STOU [name hint]"},
		"APPE": {handler: (*session).cmdAPPE, arg: argRequired, help: "APPE <file>"},
		"RNFR": {handler: (*session).cmdRNFR, arg: argRequired, perm: accounts.PermRename, help: "RNFR <old name>"},
		"RNTO": {handler: (*session).cmdRNTO, arg: argRequired, perm: accounts.PermRename, help: "RNTO <new name>"},
		"ABOR": {handler: (*session).cmdABOR, arg: argNone, inTransfer: true, help: "ABOR"},
		"DELE": {handler: (*session).cmdDELE, arg: argRequired, perm: accounts.PermDelete, help: "DELE <file>"},
		"RMD":  {handler: (*session).cmdRMD, arg: argRequired, perm: accounts.PermRmdir, help: "RMD <dir>"},
		"MKD":  {handler: (*session).cmdMKD, arg: argRequired, perm: accounts.PermMkdir, help: "MKD <dir>"},
		"PWD":  {handler: (*session).cmdPWD, arg: argNone, help: "PWD"},
		"CWD":  {handler: (*session).cmdCWD, arg: argRequired, help: "CWD <dir>"},
		"CDUP": {handler: (*session).cmdCDUP, arg: argNone, help: "CDUP"},
		"LIST": {handler: (*session).cmdLIST, arg: argOptional, perm: accounts.PermList, help: "LIST [-la] [path]"},
		"NLST": {handler: (*session).cmdNLST, arg: argOptional, perm: accounts.PermList, help: "NLST [path]"},
		"MLSD": {handler: (*session).cmdMLSD, arg: argOptional, perm: accounts.PermList, help: "MLSD [dir]"},
		"MLST": {handler: (*session).cmdMLST, arg: argOptional, perm: accounts.PermList, help: "MLST [path]"},
		"SITE": {handler: (*session).cmdSITE, arg: argRequired, help: "SITE HELP|QUOTA"},
		"SYST": {handler: (*session).cmdSYST, preLogin: true, arg: argNone, inTransfer: true, help: "SYST"},
		"STAT": {handler: (*session).cmdSTAT, arg: argOptional, inTransfer: true, help: "STAT [path]"},
		"HELP": {handler: (*session).cmdHELP, preLogin: true, arg: argOptional, inTransfer: true, help: "HELP [command]"},
		"NOOP": {handler: (*session).cmdNOOP, preLogin: true, arg: argNone, inTransfer: true, help: "NOOP"},
		"FEAT": {handler: (*session).cmdFEAT, preLogin: true, arg: argNone, inTransfer: true, help: "FEAT"},
		"OPTS": {handler: (*session).cmdOPTS, preLogin: true, arg: argRequired, closes: true, help: "OPTS UTF8 ON | OPTS HASH <algo> | OPTS MLST <facts>"},

		// RFC 3659 and friends.
		"SIZE": {handler: (*session).cmdSIZE, arg: argRequired, closes: true, perm: accounts.PermList, help: "SIZE <file>"},
		"MDTM": {handler: (*session).cmdMDTM, arg: argRequired, closes: true, perm: accounts.PermList, help: "MDTM <file>"},
		"MFMT": {handler: (*session).cmdMFMT, arg: argRequired, closes: true, perm: accounts.PermSetTime, help: "MFMT YYYYMMDDHHMMSS <file>"},
		"AVBL": {handler: (*session).cmdAVBL, arg: argOptional, help: "AVBL [path] (free bytes)"},

		// Checksums (draft-bryan-ftpext-hash and the X* de-facto commands).
		"HASH":    {handler: (*session).cmdHASH, arg: argRequired, closes: true, perm: accounts.PermDownload, help: "HASH <file>"},
		"XMD5":    {handler: xhash("MD5"), arg: argRequired, closes: true, perm: accounts.PermDownload, help: "XMD5 <file> [start [end]]"},
		"XSHA1":   {handler: xhash("SHA-1"), arg: argRequired, closes: true, perm: accounts.PermDownload, help: "XSHA1 <file> [start [end]]"},
		"XSHA256": {handler: xhash("SHA-256"), arg: argRequired, closes: true, perm: accounts.PermDownload, help: "XSHA256 <file> [start [end]]"},
		"XSHA512": {handler: xhash("SHA-512"), arg: argRequired, closes: true, perm: accounts.PermDownload, help: "XSHA512 <file> [start [end]]"},
		"XCRC":    {handler: xhash("CRC32"), arg: argRequired, closes: true, perm: accounts.PermDownload, help: "XCRC <file> [start [end]]"},
	}
	// RFC 775 aliases.
	t["XPWD"] = t["PWD"]
	t["XCWD"] = t["CWD"]
	t["XCUP"] = t["CDUP"]
	t["XMKD"] = t["MKD"]
	t["XRMD"] = t["RMD"]
	return t
}

// handleCommand parses a line and runs it through the gate.
func (ss *session) handleCommand(line []byte) {
	cmd, err := ftpproto.Parse(line)
	if err != nil {
		if errors.Is(err, ftpproto.ErrBadArgument) {
			ss.log.Info("refused argument with control bytes", "cmd", cmd.Verb)
			ss.reply(ftpproto.CodeArgSyntaxError, "Invalid characters in argument.")
			if ss.badInput() {
				ss.quitting = true
			}
			return
		}
		if errors.Is(err, ftpproto.ErrEmptyCommand) {
			ss.reply(ftpproto.CodeSyntaxError, "Empty command.")
			return
		}
		ss.reply(ftpproto.CodeSyntaxError, "Syntax error, command unrecognized.")
		if ss.badInput() || ss.unknownBeforeLogin() {
			ss.quitting = true
		}
		return
	}
	ss.noteVerb(cmd.Verb)
	if cmd.Verb == "PASS" {
		ss.log.Debug("command", "cmd", "PASS", "arg", "****")
	} else {
		ss.log.Debug("command", "cmd", cmd.Verb, "arg", cmd.Arg)
	}
	row, ok := ss.srv.commands[cmd.Verb]
	if ok && !row.inTransfer {
		ss.waitTransfer()
	}
	if ss.srv.shuttingDown.Load() && !ss.mayRunWhileClosing(row, ok) {
		ss.reply(ftpproto.CodeUnavailable, "Server shutting down.")
		ss.quitting = true
		return
	}
	if !ok {
		ss.reply(ftpproto.CodeSyntaxError, "Command not understood.")
		if ss.unknownBeforeLogin() {
			ss.quitting = true
		}
		return
	}
	if ss.loggedIn() && ss.accountGone() {
		return
	}
	switch {
	case !row.preLogin && !ss.loggedIn():
		ss.reply(ftpproto.CodeNotLoggedIn, "Please log in with USER and PASS first.")
		return
	case row.arg == argRequired && cmd.Arg == "":
		ss.reply(ftpproto.CodeArgSyntaxError, "Syntax error: "+cmd.Verb+" needs an argument.")
		return
	case row.arg == argNone && cmd.Arg != "":
		ss.reply(ftpproto.CodeArgSyntaxError, "Syntax error: "+cmd.Verb+" takes no argument.")
		return
	case row.perm != accounts.PermNone && !ss.user().PermsFor(ss.permTarget(cmd.Verb, cmd.Arg)).Has(row.perm):
		ss.log.Info("permission denied", "cmd", cmd.Verb, "path", ss.permTarget(cmd.Verb, cmd.Arg))
		ss.reply(ReasonPermission.FTP())
		ss.clearOneShot(cmd.Verb)
		return
	}
	if ss.loggedIn() {
		ss.unknownPre = 0
	}
	if err := row.handler(ss, cmd.Arg); err != nil {
		code, text := ss.replyFor(cmd.Verb, err)
		ss.reply(code, text)
	}
	ss.clearOneShot(cmd.Verb)
}

// clearOneShot forgets state a command consumed, whether it succeeded or
// not: REST lasts until the next transfer (clients put PASV, TYPE or SIZE in
// between), RANG until the next transfer or HASH, RNFR only until the next
// command.
func (ss *session) clearOneShot(verb string) {
	switch verb {
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		ss.rest = 0
		ss.rangSet = false
	case "HASH":
		ss.rangSet = false
	}
	if verb != "RNFR" {
		ss.rnfr, ss.rnfrAbs = "", ""
	}
}

// accountGone ends the session of an account the admin disabled, or that
// expired, since login: the change applies at the next command.
func (ss *session) accountGone() bool {
	u := ss.user()
	if !u.Disabled && (u.Expires.IsZero() || time.Now().Before(u.Expires)) {
		return false
	}
	ss.log.Info("account disabled or expired during the session; closing")
	ss.reply(ftpproto.CodeUnavailable, "Account no longer available; closing.")
	ss.quitting = true
	return true
}

// unknownBeforeLogin counts an unknown command before login and reports
// whether the session should close (ALPACA defence).
func (ss *session) unknownBeforeLogin() bool {
	if ss.loggedIn() {
		return false
	}
	ss.unknownPre++
	if ss.unknownPre >= maxUnknownBeforeLogin {
		ss.log.Warn("closing session: unknown commands before login (cross-protocol request?)")
		ss.reply(ftpproto.CodeUnavailable, "Not an FTP client; closing.")
		return true
	}
	return false
}

// replyError is a handler's way to pick the exact reply.
type replyError struct {
	code int
	text string
}

func (e *replyError) Error() string { return e.text }

func replyErr(code int, text string) error { return &replyError{code: code, text: text} }

// cmdNotImplemented answers a command the table knows but wharf does not
// do.
func (ss *session) cmdNotImplemented(string) error {
	return replyErr(ftpproto.CodeNotImplemented, "Command not implemented.")
}

// errPermission is a permission refusal found by a handler (the table
// cannot know, e.g. overwrite against new upload).
var errPermission = ReasonPermission.reply()

// errNoReplace refuses to write over an existing file for a user who may
// create files but not replace them: the file's existence is the reason,
// as the share's web side says it (409).
var errNoReplace = ReasonNoReplace.reply()

// replyFor is the one place that turns an error into a reply. Raw error
// text goes to the log only.
func (ss *session) replyFor(verb string, err error) (int, string) {
	var re *replyError
	if errors.As(err, &re) {
		return re.code, re.text
	}
	code, text := errorReply(verb, err)
	// After login the session's logger carries the user already.
	log := ss.log
	if !ss.loggedIn() && ss.userName != "" {
		log = log.With("user", ss.userName)
	}
	if code == ftpproto.CodeLocalError || code == ftpproto.CodeFileUnavailable && !errors.Is(err, fs.ErrNotExist) {
		log.Info("command failed", "cmd", verb, "code", code, "err", err)
	} else {
		log.Debug("command failed", "cmd", verb, "code", code, "err", err)
	}
	return code, text
}

// errorReply maps sentinel errors to reply codes: the engine's own, the
// accounts', and the storage seam's (vfs.Err*), never a backend's errno.
func errorReply(verb string, err error) (int, string) {
	storing := slices.Contains([]string{"STOR", "STOU", "APPE", "MKD", "XMKD", "RNTO"}, verb)
	switch {
	case errors.Is(err, accounts.ErrQuotaExceeded):
		return ReasonQuota.FTP()
	case errors.Is(err, ErrFileBusy):
		return ReasonBusy.FTP()
	case errors.Is(err, ErrChangedMeanwhile):
		return ReasonChanged.FTP()
	case errors.Is(err, vfs.ErrTransient):
		return ReasonUnavailable.FTP()
	case errors.Is(err, ErrNotPlainFile):
		return ftpproto.CodeFileUnavailable, "Not a plain file."
	case errors.Is(err, vfs.ErrNoSpace):
		return ReasonNoSpace.FTP()
	case errors.Is(err, ErrHiddenName) && storing:
		return ReasonHidden.FTP()
	case errors.Is(err, vfs.ErrBadPath), errors.Is(err, fs.ErrInvalid) && storing:
		code, text := ReasonBadName.FTP()
		if !storing {
			code = ftpproto.CodeFileUnavailable // 553 is for a name to store
		}
		return code, text
	case errors.Is(err, vfs.ErrTooLarge):
		return ftpproto.CodeFileUnavailable, "Too large for this operation on this storage."
	case errors.Is(err, vfs.ErrNotExist):
		return ReasonNotFound.FTP()
	case errors.Is(err, vfs.ErrExist) && verb != "MKD" && verb != "XMKD" && storing:
		return ReasonNoReplace.FTP()
	case errors.Is(err, vfs.ErrExist):
		return ReasonExists.FTP()
	case errors.Is(err, vfs.ErrPermission):
		return ReasonPermission.FTP()
	case errors.Is(err, vfs.ErrNotEmpty):
		return ReasonNotEmpty.FTP()
	case errors.Is(err, vfs.ErrNotDir):
		return ReasonNotFolder.FTP()
	case errors.Is(err, vfs.ErrIsDir):
		return ftpproto.CodeFileUnavailable, "Is a directory."
	case errors.Is(err, context.Canceled):
		return ftpproto.CodeTransferAborted, "Request canceled."
	}
	var pe *fs.PathError
	var le *os.LinkError
	if errors.As(err, &pe) || errors.As(err, &le) {
		// os.Root's "path escapes from parent", a link loop, a move
		// across filesystems (a rename reports them as a LinkError).
		return ftpproto.CodeFileUnavailable, "Requested action not taken."
	}
	return ftpproto.CodeLocalError, "Local error in processing."
}

// helpText lists the commands for HELP, generated from the table.
func (s *Server) helpText() string {
	verbs := make([]string, 0, len(s.commands))
	for v := range s.commands {
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	var b strings.Builder
	b.WriteString("The following commands are recognized.")
	for i, v := range verbs {
		if i%8 == 0 {
			b.WriteString("\n")
		}
		b.WriteString(" ")
		b.WriteString(v)
	}
	b.WriteString("\nHelp OK.")
	return b.String()
}
