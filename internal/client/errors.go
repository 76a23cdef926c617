package client

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a reply from the server that refused what we asked. Code is the
// three-digit FTP reply code, Msg the server's text (multi-line replies joined
// with "\n").
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, PrintableText(e.Msg)) }

// Kind says what sort of failure a reply is, so callers can map it to exit
// codes or retry policies without reading reply text.
type Kind int

const (
	KindOther       Kind = iota
	KindLogin            // 530, 332: credentials refused or needed
	KindNotFound         // 550 (and 450, 501) about a missing file or folder
	KindPermission       // 550/553 refusing by permission
	KindQuota            // 552, or 452 about storage
	KindTransient        // other 4xx: try again later
	KindConnection       // 421: the server is closing the control connection
	KindUnsupported      // 500, 502, 504: command or parameter not implemented
)

var kindNames = [...]string{"other", "login", "not found", "permission", "quota", "transient", "connection", "unsupported"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Kind classifies the reply. 550 is overloaded by RFC 959 ("file unavailable")
// so only there the text decides between a missing file and a refusal; the
// default for an unexplained 550 is "not found", which is what most servers
// mean by it.
func (e *Error) Kind() Kind {
	switch {
	case e.Code == 530 || e.Code == 332:
		return KindLogin
	case e.Code == 421:
		return KindConnection
	case e.Code == 552:
		return KindQuota
	case e.Code == 452 && mentions(e.Msg, "quota", "space", "storage"):
		return KindQuota
	case e.Code == 553 || e.Code == 532:
		return KindPermission
	case e.Code == 550 || e.Code == 450:
		if mentions(e.Msg, "permission", "denied", "not allowed", "may not", "privilege", "forbidden", "refused", "read-only", "read only") {
			return KindPermission
		}
		if mentions(e.Msg, "quota") {
			return KindQuota
		}
		if e.Code == 450 && !mentions(e.Msg, "no such", "not found", "not exist", "doesn't exist") {
			return KindTransient
		}
		return KindNotFound
	case e.Code == 501 && mentions(e.Msg, "no such", "not found", "not exist", "doesn't exist"):
		// pyftpdlib answers MLSD and LIST of a missing folder with "501 No
		// such directory.": a bad parameter because it names nothing.
		return KindNotFound
	case e.Code == 500 || e.Code == 502 || e.Code == 504 || e.Code == 202:
		return KindUnsupported
	case e.Code >= 400 && e.Code < 500:
		return KindTransient
	}
	return KindOther
}

func mentions(msg string, words ...string) bool {
	m := strings.ToLower(msg)
	for _, w := range words {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// KindOf returns the Kind of the first *Error in err's chain, or KindOther.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind()
	}
	return KindOther
}

// ErrChecksum reports that a transfer arrived different from its source.
var ErrChecksum = errors.New("checksum mismatch")

// ErrTLSRequired reports that TLS was required but the server does not offer it.
var ErrTLSRequired = errors.New("server does not offer TLS (AUTH TLS) and --tls requires it")

// CertError is a certificate that was refused: unknown (not pinned, nobody
// asked to trust it) or changed since it was pinned.
type CertError struct {
	HostPort    string
	Fingerprint string
	Pinned      string // the fingerprint on file when it changed; "" when unknown
	KnownFile   string
}

func (e *CertError) Error() string {
	if e.Pinned != "" {
		// As loud as ssh's host key warning: this is the one moment a
		// man-in-the-middle shows.
		return fmt.Sprintf("\n"+
			"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"+
			"@    WARNING: THE SERVER'S CERTIFICATE HAS CHANGED!      @\n"+
			"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"+
			"Someone could be intercepting this connection (man-in-the-middle),\n"+
			"or the server's certificate was replaced.\n"+
			"  server:    %s\n  pinned:    %s (in %s)\n  presented: %s\n"+
			"Connection refused. If you know the server CHANGED its certificate, run again\n"+
			"with --trust %s (or remove its line from %s).",
			e.HostPort, e.Pinned, e.KnownFile, e.Fingerprint, e.Fingerprint, e.KnownFile)
	}
	return fmt.Sprintf("unknown certificate %s for %s; to trust it, run again with --trust %s", e.Fingerprint, e.HostPort, e.Fingerprint)
}

// DowngradeError is a server whose certificate is pinned but which no
// longer speaks TLS. It is refused before the password is sent, as loudly
// as a changed certificate: stripping AUTH TLS from FEAT is the cheapest
// man-in-the-middle there is.
type DowngradeError struct {
	HostPort  string
	Pinned    string // the fingerprint on file
	KnownFile string
	Why       string // "FEAT does not offer AUTH TLS", "AUTH TLS was refused (...)"
}

func (e *DowngradeError) Error() string {
	return fmt.Sprintf("\n"+
		"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"+
		"@    WARNING: THE SERVER NO LONGER OFFERS TLS!           @\n"+
		"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"+
		"Someone could be intercepting this connection (man-in-the-middle) to read\n"+
		"your password, or the server's TLS was switched off.\n"+
		"  server:    %s\n  pinned:    %s (in %s)\n  now:       %s\n"+
		"Connection refused before login. To log in without encryption anyway, run\n"+
		"again with --no-tls (the password then crosses the network in clear), or\n"+
		"remove its line from %s.",
		e.HostPort, e.Pinned, e.KnownFile, e.Why, e.KnownFile)
}

// Printable makes text from a server safe to show at a terminal: control
// characters (an ESC starting a sequence that recolours, retitles or
// rewrites the screen, a CR that hides what came before, C1 codes) and
// bytes that are not UTF-8 are shown as \x.. escapes; tabs stay. Names,
// replies and listings are the server's to choose, the terminal is not.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r != '\t' && unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r != '\t' && unicode.IsControl(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// PrintableText is Printable for each line of a message (multi-line
// replies, the certificate warning): line breaks stay.
func PrintableText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Printable(l)
	}
	return strings.Join(lines, "\n")
}
