package ftp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/units"
	"github.com/wharfftp/wharf/internal/xfer"
)

func (ss *session) cmdTYPE(arg string) error {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "I", "L 8":
		ss.binary = true
		ss.reply(ftpproto.CodeOK, "Switching to Binary mode.")
	case "A", "A N":
		ss.binary = false
		ss.reply(ftpproto.CodeOK, "Switching to ASCII mode.")
	default:
		return replyErr(ftpproto.CodeParamNotImpl, "TYPE not supported: use A or I.")
	}
	return nil
}

func (ss *session) cmdSTRU(arg string) error {
	if strings.EqualFold(arg, "F") {
		ss.reply(ftpproto.CodeOK, "Structure set to F.")
		return nil
	}
	return replyErr(ftpproto.CodeParamNotImpl, "Only STRU F is supported.")
}

func (ss *session) cmdMODE(arg string) error {
	if strings.EqualFold(arg, "S") {
		ss.reply(ftpproto.CodeOK, "Mode set to S.")
		return nil
	}
	return replyErr(ftpproto.CodeParamNotImpl, "Only MODE S is supported.")
}

func (ss *session) cmdSYST(string) error {
	// Clients pick their listing parser from this; every one of them
	// knows "UNIX Type: L8".
	ss.reply(ftpproto.CodeSystemType, "UNIX Type: L8")
	return nil
}

func (ss *session) cmdNOOP(string) error {
	ss.reply(ftpproto.CodeOK, "NOOP ok.")
	return nil
}

func (ss *session) cmdHELP(arg string) error {
	if arg == "" {
		ss.reply(ftpproto.CodeHelp, ss.srv.helpText())
		return nil
	}
	row, ok := ss.srv.commands[strings.ToUpper(arg)]
	if !ok {
		return replyErr(ftpproto.CodeArgSyntaxError, "Unknown command "+strings.ToUpper(arg)+".")
	}
	ss.reply(ftpproto.CodeHelp, "Syntax: "+row.help)
	return nil
}

func (ss *session) cmdFEAT(string) error {
	var b strings.Builder
	b.WriteString("Features:")
	if ss.srv.cfg.TLS != nil {
		b.WriteString("\nAUTH TLS\nPBSZ\nPROT")
	}
	b.WriteString("\nEPRT\nEPSV\nMDTM\nMFMT\nSIZE\nREST STREAM\nTVFS\nUTF8\nAVBL")
	b.WriteString("\nMLST ")
	f := ss.facts()
	for _, fn := range factNames {
		b.WriteString(fn.name)
		if f&fn.f != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	b.WriteString("\nHASH ")
	for i, a := range xfer.Algorithms() {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(a)
		if a == ss.hashAlgo {
			b.WriteByte('*')
		}
	}
	b.WriteString("\nRANG STREAM\nXMD5\nXSHA1\nXSHA256\nXSHA512\nXCRC\nEnd")
	ss.reply(ftpproto.CodeSystemStatus, b.String())
	return nil
}

func (ss *session) cmdOPTS(arg string) error {
	opt, val, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		// RFC 2640: paths are always UTF-8 here; OFF is refused.
		if v := strings.ToUpper(strings.TrimSpace(val)); v == "ON" || v == "" {
			ss.reply(ftpproto.CodeOK, "UTF8 set to on.")
			return nil
		}
		return replyErr(ftpproto.CodeParamNotImpl, "UTF8 cannot be turned off.")
	case "MLST":
		var f factSet
		for _, name := range strings.Split(val, ";") {
			for _, fn := range factNames {
				if strings.EqualFold(name, fn.name) {
					f |= fn.f
				}
			}
		}
		// An empty or unknown list selects no facts (RFC 3659 section
		// 7.9), not all of them.
		ss.mlstFacts = f
		var sel []string
		for _, fn := range factNames {
			if f&fn.f != 0 {
				sel = append(sel, fn.name+";")
			}
		}
		ss.reply(ftpproto.CodeOK, "MLST OPTS "+strings.Join(sel, ""))
		return nil
	case "HASH":
		if val == "" {
			ss.reply(ftpproto.CodeOK, ss.hashAlgo)
			return nil
		}
		for _, a := range xfer.Algorithms() {
			if strings.EqualFold(a, val) {
				ss.hashAlgo = a
				ss.reply(ftpproto.CodeOK, a)
				return nil
			}
		}
		// draft-bryan-ftpext-hash: an algorithm the server does not
		// offer is a 501.
		return replyErr(ftpproto.CodeArgSyntaxError, "Unknown hash algorithm.")
	}
	return replyErr(ftpproto.CodeArgSyntaxError, "Option not understood.")
}

func (ss *session) cmdSITE(arg string) error {
	sub, _, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		ss.reply(ftpproto.CodeHelp, "SITE commands:\nHELP\nQUOTA (your usage and limits)\nEnd.")
		return nil
	case "QUOTA":
		text, err := ss.quotaText()
		if err != nil {
			return err
		}
		ss.reply(ftpproto.CodeOK, "Quota for "+ss.userName+":\n"+text+"\nEnd.")
		return nil
	}
	return replyErr(ftpproto.CodeNotImplemented, "SITE command not recognized: try SITE HELP.")
}

// quotaText describes the user's usage, for SITE QUOTA and STAT: one
// "Key: value" line per figure, so clients can parse it (the wharf client
// reads the used/allowed/left lines and skips the percent ones). Percent is
// given for each limited figure, and "Percent used" is the larger, since
// either limit full refuses the next upload.
func (ss *session) quotaText() (string, error) {
	u := ss.user()
	use, err := ss.acct.Quota().Usage(ss.ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "User: %s\nHome: /", u.Name)
	type figure struct {
		name        string
		used, quota int64
	}
	figs := []figure{{"Bytes", use.UsedBytes, use.QuotaBytes}, {"Files", use.UsedFiles, use.QuotaFiles}}
	for _, f := range figs {
		// Byte counts in human units first (what the README promises a
		// person), the exact count after for programs.
		num := func(n int64) string { return strconv.FormatInt(n, 10) }
		if f.name == "Bytes" {
			num = func(n int64) string { return fmt.Sprintf("%s (%d bytes)", units.FormatSize(n), n) }
		}
		fmt.Fprintf(&b, "\n%s used: %s", f.name, num(f.used))
		if f.quota <= 0 {
			fmt.Fprintf(&b, "\n%s allowed: unlimited", f.name)
			continue
		}
		fmt.Fprintf(&b, "\n%s allowed: %s\n%s left: %s", f.name, num(f.quota), f.name, num(max(f.quota-f.used, 0)))
	}
	most, which := -1.0, ""
	for _, f := range figs {
		if f.quota <= 0 {
			continue
		}
		p := 100 * float64(f.used) / float64(f.quota)
		fmt.Fprintf(&b, "\nPercent of %s used: %.1f%%", strings.ToLower(f.name), p)
		if p > most {
			most, which = p, strings.ToLower(f.name)
		}
	}
	if most < 0 {
		b.WriteString("\nPercent used: 0% (no limits)")
	} else {
		fmt.Fprintf(&b, "\nPercent used: %.1f%% (%s)", most, which)
	}
	return b.String(), nil
}

func (ss *session) cmdSTAT(arg string) error {
	if arg != "" {
		ss.mu.Lock()
		busy := ss.xfer != nil
		ss.mu.Unlock()
		if busy {
			return replyErr(ftpproto.CodeBadSequence, "STAT with a path is not allowed during a transfer.")
		}
		if !ss.loggedIn() {
			return replyErr(ftpproto.CodeNotLoggedIn, "Please log in with USER and PASS first.")
		}
		return ss.statPath(arg)
	}
	var b strings.Builder
	b.WriteString("FTP server status:")
	if n := ss.srv.cfg.Node; n != "" {
		fmt.Fprintf(&b, "\nNode: %s", n)
	}
	fmt.Fprintf(&b, "\nConnected to %s", ss.remote.Addr().Unmap())
	if ss.loggedIn() {
		fmt.Fprintf(&b, "\nLogged in as %s", ss.userName)
	} else {
		b.WriteString("\nNot logged in")
	}
	mode := "ASCII"
	if ss.binary {
		mode = "BINARY"
	}
	fmt.Fprintf(&b, "\nTYPE: %s, STRU: F, MODE: S", mode)
	if ss.tls {
		prot := "C"
		if ss.protP {
			prot = "P"
		}
		fmt.Fprintf(&b, "\nControl connection is TLS; data protection %s", prot)
	}
	ss.mu.Lock()
	x := ss.xfer
	ss.mu.Unlock()
	if x != nil {
		dir := "Sending"
		if x.upload {
			dir = "Receiving"
		}
		fmt.Fprintf(&b, "\n%s %s (%d bytes so far)", dir, x.path, x.progress())
	}
	if ss.loggedIn() && x == nil {
		if q, err := ss.quotaText(); err == nil {
			b.WriteString("\n" + q)
		}
	}
	b.WriteString("\nEnd of status.")
	ss.reply(ftpproto.CodeSystemStatus, b.String())
	return nil
}
