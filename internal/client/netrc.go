package client

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// NetrcLookup finds the login and password for host in the netrc file at
// path (the ~/.netrc format: machine/login/password tokens, a "default"
// entry, macdef blocks skipped). user narrows the search when the address
// named one. A missing file is not an error: ok is false.
func NetrcLookup(path, host, user string) (login, password string, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read netrc: %w", err)
	}
	e, ok := findNetrc(parseNetrc(string(data)), host, user)
	return e.login, e.password, ok, nil
}

// netrcEntry is one machine (or, with machine "", the default) entry.
type netrcEntry struct{ machine, login, password string }

// parseNetrc reads the entries of a netrc file in order.
func parseNetrc(data string) []netrcEntry {
	var entries []netrcEntry
	// toks are the tokens outside macros; macroTok stands where a macdef
	// was: it ends the entry before it, so nothing after a macro's body
	// (a "login" on the next line) can change that entry.
	const macroTok = "\x00macdef"
	var toks []string
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, len(data)+1) // one line may be the whole file
	// A macdef's name is the token after it, on a later line if need be
	// (as BSD ftp reads it); the rest of the name's line is skipped and the
	// body runs to the first empty line. Reading a nameless "macdef" as a
	// macro with an empty name left its body's first line ("login x") to
	// be read as tokens of the entry before it.
	inMacro, needName := false, false
	for sc.Scan() {
		line := sc.Text()
		if needName {
			if strings.TrimSpace(line) != "" {
				needName, inMacro = false, true // the name's line
			}
			continue
		}
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "macdef" {
				toks = append(toks, macroTok)
				if i+1 < len(fields) {
					inMacro = true
				} else {
					needName = true
				}
				break
			}
			toks = append(toks, f)
		}
	}
	var cur *netrcEntry
	for i := 0; i < len(toks); i++ {
		// next is the value after a keyword; a keyword at the end, or
		// before a macro, has none and changes nothing.
		next := func() (string, bool) {
			if i+1 < len(toks) && toks[i+1] != macroTok {
				i++
				return toks[i], true
			}
			return "", false
		}
		switch toks[i] {
		case macroTok:
			cur = nil
		case "machine":
			m, _ := next()
			entries = append(entries, netrcEntry{machine: m})
			cur = &entries[len(entries)-1]
		case "default":
			entries = append(entries, netrcEntry{machine: ""})
			cur = &entries[len(entries)-1]
		case "login":
			if v, ok := next(); ok && cur != nil {
				cur.login = v
			}
		case "password":
			if v, ok := next(); ok && cur != nil {
				cur.password = v
			}
		case "account":
			next()
		}
	}
	return entries
}

// findNetrc returns the first entry for host (and user, when given), else
// the first default entry.
func findNetrc(entries []netrcEntry, host, user string) (netrcEntry, bool) {
	for _, want := range []string{host, ""} {
		for _, e := range entries {
			if e.machine == want && (user == "" || e.login == user) {
				return e, true
			}
		}
	}
	return netrcEntry{}, false
}
