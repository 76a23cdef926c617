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
	type entry struct{ machine, login, password string }
	var entries []entry
	var cur *entry
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	inMacro := false
	var toks []string
	for sc.Scan() {
		line := sc.Text()
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		f := strings.Fields(line)
		for i := 0; i < len(f); i++ {
			if f[i] == "macdef" {
				inMacro = true
				break
			}
			toks = append(toks, f[i])
		}
	}
	for i := 0; i < len(toks); i++ {
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		switch toks[i] {
		case "machine":
			entries = append(entries, entry{machine: next()})
			cur = &entries[len(entries)-1]
		case "default":
			entries = append(entries, entry{machine: ""})
			cur = &entries[len(entries)-1]
		case "login":
			if v := next(); cur != nil {
				cur.login = v
			}
		case "password":
			if v := next(); cur != nil {
				cur.password = v
			}
		case "account":
			next()
		}
	}
	for _, want := range []string{host, ""} {
		for _, e := range entries {
			if e.machine == want && (user == "" || e.login == user) {
				return e.login, e.password, true, nil
			}
		}
	}
	return "", "", false, nil
}
