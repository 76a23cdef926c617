package ftpproto

import (
	"errors"
	"unicode/utf8"
)

// Command is one parsed command line: Verb upper-cased, Arg as sent (after
// the single separating space).
type Command struct {
	Verb string
	Arg  string
}

// Parse errors. Both mean the line is not an FTP command; the server answers
// 500 and may count it towards closing the session.
var (
	ErrEmptyCommand = errors.New("ftpproto: empty command")
	ErrBadVerb      = errors.New("ftpproto: malformed command verb")
	ErrBadArgument  = errors.New("ftpproto: argument holds control bytes or invalid UTF-8")
)

// MaxVerbLen bounds a verb: RFC 959 verbs have 3 or 4 letters, extensions
// (XSHA256, RFC 2389 allows longer) stay well under this.
const MaxVerbLen = 8

// Parse splits a command line into verb and argument. The verb must be ASCII
// letters only; the argument must be valid UTF-8 (RFC 2640) without control
// bytes, so a CR, LF or NUL can never reach a file name or a reply. Digits
// may follow the first letter (XSHA256).
func Parse(line []byte) (Command, error) {
	if len(line) == 0 {
		return Command{}, ErrEmptyCommand
	}
	i := 0
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if i == 0 || i > MaxVerbLen {
		return Command{}, ErrBadVerb
	}
	var verb [MaxVerbLen]byte
	for j := 0; j < i; j++ {
		c := line[j]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= '0' && c <= '9' && j > 0: // XSHA256, XSHA1
		default:
			return Command{}, ErrBadVerb
		}
		verb[j] = c
	}
	cmd := Command{Verb: internVerb(verb[:i])}
	if i < len(line) {
		arg := line[i+1:]
		for _, c := range arg {
			if c < 0x20 || c == 0x7F {
				return cmd, ErrBadArgument
			}
		}
		if !utf8.Valid(arg) {
			return cmd, ErrBadArgument
		}
		cmd.Arg = string(arg)
	}
	return cmd, nil
}

// internVerb avoids one allocation per command for the verbs every session
// sends; the compiler turns the switch on string(b) into no allocation.
func internVerb(b []byte) string {
	switch string(b) {
	case "USER":
		return "USER"
	case "PASS":
		return "PASS"
	case "PWD":
		return "PWD"
	case "CWD":
		return "CWD"
	case "TYPE":
		return "TYPE"
	case "PASV":
		return "PASV"
	case "EPSV":
		return "EPSV"
	case "RETR":
		return "RETR"
	case "STOR":
		return "STOR"
	case "LIST":
		return "LIST"
	case "MLSD":
		return "MLSD"
	case "SIZE":
		return "SIZE"
	case "NOOP":
		return "NOOP"
	case "QUIT":
		return "QUIT"
	}
	return string(b)
}
