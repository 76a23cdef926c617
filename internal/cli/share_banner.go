package cli

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/wharfftp/wharf/internal/share"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

// qrStyle is how the banner draws its QR code.
type qrStyle int

const (
	qrNone   qrStyle = iota // --no-qr, or not a terminal: a code in a log file scans nothing
	qrColour                // half blocks with both colours set explicitly
)

// The QR code is drawn with the quiet zone the standard asks for (4
// modules) and at the lowest error correction, which keeps a LAN address
// at version 2 (25 modules): 17 lines with half blocks, so that with the
// lines printed after it the banner fits an 80x24 terminal.
const (
	qrQuietZone = 4
	qrLevel     = qrcode.Low
)

// ANSI colours of the code: set for every cell, so the code reads the same
// on a light and a dark terminal (drawing one colour as the terminal's own
// background inverts it on a light one, and scanners then fail).
const (
	ansiDarkFG   = "\x1b[30m"
	ansiLightFG  = "\x1b[97m"
	ansiDarkBG   = "\x1b[40m"
	ansiLightBG  = "\x1b[107m"
	ansiReset    = "\x1b[0m"
	upperHalfBlk = "▀"
)

// qrModules returns the code's modules, quiet zone included (true: dark).
func qrModules(text string) ([][]bool, error) {
	code, err := qrcode.New(text, qrLevel)
	if err != nil {
		return nil, err
	}
	code.DisableBorder = true
	inner := code.Bitmap()
	n := len(inner) + 2*qrQuietZone
	m := make([][]bool, n)
	for y := range m {
		m[y] = make([]bool, n)
		if iy := y - qrQuietZone; iy >= 0 && iy < len(inner) {
			copy(m[y][qrQuietZone:], inner[iy])
		}
	}
	return m, nil
}

// renderQR draws modules two rows per line: each cell is an upper half
// block whose foreground is the upper module and background the lower one.
func renderQR(m [][]bool) string {
	var b strings.Builder
	for y := 0; y < len(m); y += 2 {
		fg, bg := "", ""
		for x := range m[y] {
			top, bottom := m[y][x], false // below an odd last row: quiet zone
			if y+1 < len(m) {
				bottom = m[y+1][x]
			}
			wantFG, wantBG := ansiLightFG, ansiLightBG
			if top {
				wantFG = ansiDarkFG
			}
			if bottom {
				wantBG = ansiDarkBG
			}
			if wantFG != fg {
				b.WriteString(wantFG)
				fg = wantFG
			}
			if wantBG != bg {
				b.WriteString(wantBG)
				bg = wantBG
			}
			b.WriteString(upperHalfBlk)
		}
		b.WriteString(ansiReset + "\n")
	}
	return b.String()
}

// printShare tells the person at the terminal what to give visitors. The
// QR code comes first, so that the lines that matter (what is shared, the
// addresses, the login, the fingerprint, the ports) are the last ones on
// the screen, never scrolled away by the code.
func printShare(w io.Writer, s *share.Share, qr qrStyle) {
	var b bytes.Buffer
	eps := s.Endpoints()
	scan := ""
	if qr == qrColour && len(eps) > 0 {
		if m, err := qrModules(eps[0].HTTP); err == nil {
			b.WriteString(renderQR(m))
			scan = "  (the QR code above, for a phone)"
		}
	}
	mode := "read-only"
	switch p := s.Perms(); {
	case p.Has(share.Perms(share.Options{Delete: true})) && p.Has(share.Perms(share.Options{Overwrite: true})):
		mode = "visitors may upload, replace and delete"
	case p.Has(share.Perms(share.Options{Delete: true})):
		mode = "visitors may upload and delete, not replace"
	case p.Has(share.Perms(share.Options{Overwrite: true})):
		mode = "visitors may upload and replace, not delete"
	case p.Has(share.Perms(share.Options{Write: true})):
		mode = "visitors may upload new files and folders"
	}
	who := "anonymous"
	if s.User() != "" {
		who = "login required"
	}
	fmt.Fprintf(&b, "Sharing %s (%s, %s): %s\n", s.Dir(), mode, who, contentsLine(s.Contents(), s.Hidden()))
	for i, e := range eps {
		fmt.Fprintf(&b, "  FTP  %s\n  Web  %s", e.FTP, e.HTTP)
		if i == 0 {
			b.WriteString(scan)
		}
		b.WriteString("\n")
	}
	if s.User() != "" {
		fmt.Fprintf(&b, "  User      %s\n  Password  %s\n", s.User(), s.Password())
	}
	if s.Perms().Has(share.Perms(share.Options{Write: true})) {
		fmt.Fprintf(&b, "  Uploads   %s\n", quotaLine(s.Quota()))
	}
	if s.TLS() {
		fp := s.Fingerprint()
		hex := tlsconf.FingerprintHex(fp)
		// 95 characters do not fit 80 columns: two lines of 16 bytes,
		// as certificate viewers wrap it too.
		fmt.Fprintf(&b, "  TLS  self-signed certificate (FTPS and HTTPS), SHA-256 fingerprint:\n")
		if len(hex) == 95 {
			fmt.Fprintf(&b, "       browser, openssl  %s\n                         %s\n", hex[:47], hex[48:])
		} else {
			fmt.Fprintf(&b, "       browser, openssl  %s\n", hex)
		}
		fmt.Fprintf(&b, "       wharf client      %s\n", fp)
	}
	fmt.Fprintf(&b, "  Open %s\n", portsLine(s))
	b.WriteString("Press Ctrl-C to stop.\n\n")
	w.Write(b.Bytes())
}

// portsLine says which TCP ports a firewall must let through.
func portsLine(s *share.Share) string {
	line := "TCP " + strconv.Itoa(s.FTPPort()) + " (FTP), " + strconv.Itoa(s.HTTPPort()) + " (web)"
	switch pp := s.PassivePorts(); {
	case pp[0] == 0:
		return line + ", FTP data: any port (see --passive-ports)"
	case pp[0] == pp[1]:
		return line + " and " + strconv.Itoa(pp[0]) + " (FTP data)"
	default:
		return line + " and " + strconv.Itoa(pp[0]) + "-" + strconv.Itoa(pp[1]) + " (FTP data)"
	}
}

// splitListen reads a --listen value: HOST, [IPv6], IPv6 or HOST:PORT.
func splitListen(s string) (host string, port int, hasPort bool, err error) {
	if s == "" {
		return "", 0, false, nil
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return "", 0, false, fmt.Errorf("--listen %q: port %q is not a number within 0-65535", s, p)
		}
		return h, n, true, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1], 0, false, nil
	}
	if strings.Count(s, ":") == 1 {
		// HOST:PORT that SplitHostPort refused: a bad port.
		return "", 0, false, fmt.Errorf("--listen %q: want HOST or HOST:PORT", s)
	}
	return s, 0, false, nil
}

// quotaLine says how much visitors may upload to a writable share.
func quotaLine(bytes, files int64) string {
	switch {
	case bytes > 0 && files > 0:
		return fmt.Sprintf("up to %s and %d files in all (--quota, --max-files)", share.HumanBytes(bytes), files)
	case bytes > 0:
		return fmt.Sprintf("up to %s in all, any number of files (--quota)", share.HumanBytes(bytes))
	case files > 0:
		return fmt.Sprintf("up to %d files in all, any size (--max-files)", files)
	}
	return "unlimited (--quota 0 --max-files 0)"
}
