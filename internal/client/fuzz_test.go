package client

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Everything here parses what a server (or a file a server's operator may
// have influenced) sends: replies, listings, FEAT. Each target states the
// property callers rely on, not only that nothing panics.

// seed adds string inputs to a one-string fuzz target's corpus.
func seed(f *testing.F, inputs ...string) {
	for _, in := range inputs {
		f.Add(in)
	}
}

func FuzzListing(f *testing.F) {
	for _, s := range []string{
		"-rw-r--r--   1 ftp      ftp        1234 Mar  4  2021 report.pdf\r\n",
		"drwxr-xr-x   2 owner group      4096 Jan 10 09:30 My Folder\r\ntotal 12\r\n",
		"lrwxrwxrwx   1 root     root          7 Feb  1  2020 latest -> v1.2.3\n",
		"-rw-r--r-- 1 user 512 Jun 15 2018 ../../etc/passwd\n",
		"-rw-r--r-- 1 user 512 Jun 15 2018 a\rb\n",
		"01-16-24  02:30PM       <DIR>          Windows Folder\r\n",
		"12-05-1998  12:05AM              1048576 setup.exe\r\n",
		"12-05-1998  12:05AM              99999999999999999999 huge\r\n",
		"type=file;size=42;modify=20240102030405.123;perm=adfrw; name with spaces.txt\r\n",
		"type=cdir;modify=20240101000000; /home\r\ntype=pdir; ..\r\ntype=dir; sub\r\n",
		"type=OS.unix=symlink;size=3; link\r\ntype=file;size=-7; neg\r\ntype=file; a/b\r\n",
		"type=file;modify=2024.1.2; x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := readLines(bytes.NewReader(data))
		if err != nil && len(data) < maxListLine {
			t.Fatalf("readLines: %v", err)
		}
		for _, l := range lines {
			if l == "" || strings.ContainsRune(l, '\n') || strings.HasSuffix(l, "\r") {
				t.Fatalf("line %q: empty or with its line end", l)
			}
		}
		for _, form := range []struct {
			name  string
			parse func(string) (Entry, bool)
		}{{"LIST", ParseListLine}, {"MLSD", ParseMLSx}} {
			for _, e := range listing(lines, form.parse) {
				if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00\r\n") {
					t.Fatalf("%s entry name %q is not one element of the folder (line %q)", form.name, e.Name, e.Raw)
				}
				if e.Size < 0 || e.Type < TypeFile || e.Type > TypeOther {
					t.Fatalf("%s entry %+v: negative size or unknown type", form.name, e)
				}
				if !strings.Contains(e.Raw, e.Name) {
					t.Fatalf("%s entry name %q does not come from its line %q", form.name, e.Name, e.Raw)
				}
			}
		}
	})
}

func FuzzParseListLine(f *testing.F) {
	seed(f,
		"-rw-r--r--   1 ftp      ftp        1234 Mar  4  2021 report.pdf",
		"drwxr-xr-x   2 owner group      4096 Jan 99 29:99 x",
		"lrwxrwxrwx   1 root     root          7 Feb  1  2020 latest -> v1.2.3",
		"crw-rw-rw-   1 root root 1, 3 Jan  1 00:00 null",
		"99-99-99  99:99PM       <DIR>          x",
	)
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseListLine(line)
		if !ok {
			if e != (Entry{}) {
				t.Fatalf("not an entry, yet %+v", e)
			}
			return
		}
		end := e.Name
		if e.Target != "" {
			end += " -> " + e.Target
		}
		if e.Raw != line || !strings.HasSuffix(line, end) {
			t.Fatalf("entry %+v: name is not the end of %q", e, line)
		}
		if e.Size < 0 || e.Type < TypeFile || e.Type > TypeOther {
			t.Fatalf("entry %+v from %q", e, line)
		}
	})
}

func FuzzParseMLSx(f *testing.F) {
	seed(f,
		"type=file;size=42;modify=20240102030405.123;perm=adfrw; name with spaces.txt",
		"Type=cdir;Modify=20240101000000; /home",
		"type=OS.unix=slink:/x;size=3; link",
		"size=99999999999999999999;type=dir;unix.mode=0755; big",
		"modify=20241301256161.;type=file; bad time",
	)
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseMLSx(line)
		if !ok {
			return
		}
		if e.Name == "" || e.Size < 0 || e.Type < TypeFile || e.Type > TypeOther {
			t.Fatalf("entry %+v from %q", e, line)
		}
		if e.Name != "." && e.Name != ".." && !strings.HasSuffix(line, " "+e.Name) {
			t.Fatalf("name %q is not what follows the facts in %q", e.Name, line)
		}
		facts, _, _ := strings.Cut(line, " ")
		if strings.Contains(strings.ToLower(facts), ";size=") || strings.HasPrefix(strings.ToLower(facts), "size=") {
			return
		}
		if e.Size != 0 {
			t.Fatalf("size %d without a size fact in %q", e.Size, line)
		}
	})
}

func FuzzParsePASV(f *testing.F) {
	seed(f,
		"Entering Passive Mode (192,168,1,20,195,80).",
		"=10,0,0,1,4,1",
		"Entering Passive Mode (1,2,3,4,5)",
		"Entering Passive Mode (1,2,3,4,0,0)",
		"(256,1,1,1,1,1) then (1,1,1,1,1,1)",
		"(01,002,3,4,255,255)",
	)
	f.Fuzz(func(t *testing.T, msg string) {
		ip, port, err := parsePASV(msg)
		if err != nil {
			return
		}
		if len(ip) != net.IPv4len {
			t.Fatalf("%q: address %v is %d bytes, want 4", msg, ip, len(ip))
		}
		if port < 1 || port > 65535 {
			t.Fatalf("%q: port %d", msg, port)
		}
		six := []string{}
		for _, b := range ip {
			six = append(six, strconv.Itoa(int(b)))
		}
		six = append(six, strconv.Itoa(port>>8), strconv.Itoa(port&0xff))
		if !containsNumbers(msg, six) {
			t.Fatalf("%q: %v port %d is not what the reply said", msg, ip, port)
		}
	})
}

// containsNumbers reports whether msg holds the comma-separated numbers
// (leading zeros allowed).
func containsNumbers(msg string, nums []string) bool {
	for _, run := range strings.FieldsFunc(msg, func(r rune) bool { return r != ',' && (r < '0' || r > '9') }) {
		parts := strings.Split(run, ",")
		if len(parts) != len(nums) {
			continue
		}
		match := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || strconv.Itoa(n) != nums[i] {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

func FuzzParseEPSV(f *testing.F) {
	seed(f,
		"Entering Extended Passive Mode (|||6446|)",
		"Entering Extended Passive Mode (|||99999|)",
		"(!!!0!)",
		"(|||+80|)",
		"()",
		"(\xff\xff\xff1\xff)",
	)
	f.Fuzz(func(t *testing.T, msg string) {
		port, err := parseEPSV(msg)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("%q: port %d", msg, port)
		}
		if !strings.Contains(msg, strconv.Itoa(port)) {
			t.Fatalf("%q: port %d is not in the reply", msg, port)
		}
	})
}

func FuzzFeat(f *testing.F) {
	seed(f,
		"Features:\n MDTM\n MLST type*;size*;modify*;\n HASH SHA-256*;SHA-1;MD5\n XCRC\nEnd",
		"no features",
		"Features:\n\tHASH\tCRC32;\n XSHA1\nEnd",
		"Features:\n HASH sha-512 \n AUTH TLS\nEnd",
		"x\n\n\n",
	)
	f.Fuzz(func(t *testing.T, msg string) {
		feat := parseFeat(msg)
		for k, v := range feat {
			if k == "" || k != strings.ToUpper(k) || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
				t.Fatalf("keyword %q from %q", k, msg)
			}
			if v != strings.TrimSpace(v) {
				t.Fatalf("parameters %q of %s not trimmed", v, k)
			}
		}
		c := &Conn{feat: feat}
		m := c.bestHash()
		if m == nil {
			if c.HashAlgo() != "" {
				t.Fatal("no method yet an algorithm")
			}
			return
		}
		if _, err := NewHash(m.Algo); err != nil {
			t.Fatalf("chose %+v: %v", m, err)
		}
		if m.Cmd == "HASH" {
			if !strings.Contains(strings.ToUpper(feat["HASH"]), m.Algo) {
				t.Fatalf("HASH %s chosen from %q", m.Algo, feat["HASH"])
			}
		} else if !c.Has(m.Cmd) {
			t.Fatalf("%s chosen but not offered: %v", m.Cmd, feat)
		}
	})
}

func FuzzHashReply(f *testing.F) {
	f.Add(uint8(0), true, "SHA-256 0-1234 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 f.txt")
	f.Add(uint8(4), false, "0-100 cafebabe f")
	f.Add(uint8(3), false, "deadbeef d41d8cd98f00b204e9800998ecf8427e")
	f.Add(uint8(2), true, "SHA-1 0-0 zz name")
	f.Fuzz(func(t *testing.T, which uint8, hashCmd bool, msg string) {
		algo := hashPreference[int(which)%len(hashPreference)]
		sum, ok := parseHashReply(algo, hashCmd, msg)
		if !ok {
			return
		}
		h, _ := NewHash(algo)
		if len(sum) != 2*h.Size() || !isHex(sum) || sum != strings.ToLower(sum) {
			t.Fatalf("%s sum %q from %q", algo, sum, msg)
		}
		found := false
		for _, fld := range strings.Fields(msg) {
			found = found || strings.ToLower(fld) == sum
		}
		if !found {
			t.Fatalf("%q is not a field of %q", sum, msg)
		}
	})
}

func FuzzParseQuota(f *testing.F) {
	seed(f,
		"Quota for bob:\nUser: bob\nBytes used: 300\nBytes allowed: 10MiB\nFiles used: 2\nFiles allowed: unlimited\nEnd.",
		"Used: 5\nAvailable: 95",
		"Used: 8EiB\nFree: 8EiB",
		"Bytes used: unlimited\nBytes left: 5",
		"Files used: 2\nFiles allowed: 2\nPercent used: 40.0% of bytes, 100.0% of files",
		"Files used: 9223372036854775807\nFiles left: 9",
	)
	f.Fuzz(func(t *testing.T, msg string) {
		q := parseQuota(msg)
		if q.Text != msg || q.Used < -1 || q.Limit < -1 || q.Files < -1 || q.FileLimit < -1 {
			t.Fatalf("%+v from %q", q, msg)
		}
		if left := q.Left(); left < -1 || q.Limit >= 0 && left > q.Limit {
			t.Fatalf("left %d of %+v", left, q)
		}
		if left := q.FilesLeft(); left < -1 || q.FileLimit >= 0 && left > q.FileLimit {
			t.Fatalf("files left %d of %+v", left, q)
		}
	})
}

func FuzzParseURL(f *testing.F) {
	seed(f,
		"ftps://bob:p%40ss@[::1]/dir/file name.txt",
		"example.org:2121",
		"ftp://alice:secret@h/x",
		"ftp://h:0/",
		"ftp://h:99999/",
		"ftp://[fe80::1%25eth0]:21/a%2Fb",
		"FTP://u%20v@h/%00",
	)
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := ParseURL(raw)
		if err != nil {
			return
		}
		if tg.Host == "" {
			t.Fatalf("%q: no host", raw)
		}
		if n, err := strconv.Atoi(tg.Port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q: port %q", raw, tg.Port)
		}
		host, port, err := net.SplitHostPort(tg.HostPort())
		if err != nil || host != tg.Host || port != tg.Port {
			t.Fatalf("%q: HostPort %q does not split back (%q %q %v)", raw, tg.HostPort(), host, port, err)
		}
		s := tg.String()
		if tg.HasPassword && tg.Password != "" && strings.Contains(s, ":"+tg.Password+"@") {
			t.Fatalf("%q: String %q shows the password", raw, s)
		}
		back, err := ParseURL(s)
		if err != nil {
			t.Fatalf("%q: String %q does not parse: %v", raw, s, err)
		}
		if back.Implicit != tg.Implicit || back.Host != tg.Host || back.Port != tg.Port || back.User != tg.User || back.Path != tg.Path || back.HasPassword {
			t.Fatalf("%q -> %+v -> %q -> %+v", raw, tg, s, back)
		}
	})
}

func FuzzNetrc(f *testing.F) {
	f.Add("machine h login bob password frombob\nmacdef init\ncd /\n\ndefault login anon password x\n", "ours", "me", "pw")
	f.Add("default login a\nmachine", "h", "l", "p")
	f.Add("macdef", "h", "l", "p")
	f.Add("login evil password evil", "h", "l", "p")
	f.Fuzz(func(t *testing.T, data, host, login, pass string) {
		for _, e := range parseNetrc(data) {
			for _, v := range []string{e.machine, e.login, e.password} {
				if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
					t.Fatalf("token %q with a space from %q", v, data)
				}
			}
		}
		// An entry put first is found for its host whatever follows it,
		// unless what follows continues that entry.
		for _, tok := range []string{host, login, pass} {
			if !isNetrcToken(tok) {
				return
			}
		}
		for _, tok := range strings.Fields(data) {
			if tok == "machine" || tok == "default" || tok == "macdef" {
				break
			}
			if tok == "login" || tok == "password" || tok == "account" {
				return
			}
		}
		entries := parseNetrc("machine " + host + " login " + login + " password " + pass + "\n" + data)
		for _, user := range []string{"", login} {
			if e, ok := findNetrc(entries, host, user); !ok || e != (netrcEntry{host, login, pass}) {
				t.Fatalf("first entry for %q (user %q) came back as %+v %v", host, user, e, ok)
			}
		}
	})
}

func isNetrcToken(s string) bool {
	switch s {
	case "", "machine", "default", "login", "password", "account", "macdef":
		return false
	}
	return strings.IndexFunc(s, unicode.IsSpace) < 0
}

func FuzzKnownServers(f *testing.F) {
	f.Add("127.0.0.1:21 SHA256:abc\n# comment\n[::1]:990 SHA256:def\n", "127.0.0.1:21", "SHA256:new")
	f.Add("h:21 one\nh:21 two\r\n", "h:21", "SHA256:x")
	f.Add("", "h:990", "SHA256:y")
	f.Add("  \n#h:21 old\nh:21", "h:21", "z")
	f.Fuzz(func(t *testing.T, old, hostPort, fp string) {
		lookupPin(old, hostPort) // must not panic on anything
		if f := strings.Fields(hostPort); len(f) != 1 || f[0] != hostPort || strings.HasPrefix(hostPort, "#") {
			return
		}
		if f := strings.Fields(fp); len(f) != 1 || f[0] != fp {
			return
		}
		next := repin(old, hostPort, fp)
		if got := lookupPin(next, hostPort); got != fp {
			t.Fatalf("pinned %q for %q, read back %q from %q", fp, hostPort, got, next)
		}
		for _, l := range strings.Split(old, "\n") {
			other := strings.Fields(l)
			if len(other) == 0 || other[0] == hostPort {
				continue
			}
			if a, b := lookupPin(old, other[0]), lookupPin(next, other[0]); a != b {
				t.Fatalf("re-pinning %q changed %q's pin from %q to %q", hostPort, other[0], a, b)
			}
		}
	})
}

// A 257 reply quotes the folder with inner quotes doubled (RFC 959
// appendix II); parseQuoted must give back exactly the folder.
func FuzzParseQuoted(f *testing.F) {
	f.Add("/home/alice", " is the current directory.")
	f.Add(`/a"b`, "")
	f.Add(`""`, ` created ""x""`)
	f.Fuzz(func(t *testing.T, dir, tail string) {
		msg := `"` + strings.ReplaceAll(dir, `"`, `""`) + `"` + tail
		if got := parseQuoted(msg); got != dir {
			if strings.HasPrefix(tail, `"`) {
				return // the quoted folder runs on into the text: ambiguous
			}
			t.Fatalf("parseQuoted(%q) = %q, want %q", msg, got, dir)
		}
	})
}

// Whatever a server sends, Printable leaves nothing a terminal would act
// on, and leaves text without such characters as it is.
func FuzzPrintable(f *testing.F) {
	seed(f, "plain name.txt", "\x1b]0;owned\x07", "a\rb", "\xc2\x9b31m", "\xff\xfe", "tab\there", "ü\u200b", "\ufffd")
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if !utf8.ValidString(p) {
			t.Fatalf("Printable(%q) = %q is not UTF-8", s, p)
		}
		for _, r := range p {
			if r != '\t' && unicode.IsControl(r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, p, r)
			}
		}
		if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) < 0 && p != s {
			t.Fatalf("Printable changed clean text %q to %q", s, p)
		}
		if pt := PrintableText(s); strings.Count(pt, "\n") != strings.Count(s, "\n") {
			t.Fatalf("PrintableText(%q) = %q changed the lines", s, pt)
		}
	})
}

// FuzzControlConnection plays a server that answers whatever the client
// says with the fuzzer's bytes, then hangs up: the greeting, FEAT, AUTH TLS,
// USER/PASS, TYPE and OPTS replies all come from the input. Dial and Login
// end promptly, with a connection or an error, never a panic or a hang.
func FuzzControlConnection(f *testing.F) {
	seed(f,
		"220 hi\r\n211-Features:\r\n MLST type*;\r\n HASH SHA-256\r\n211 End\r\n331 pw\r\n230 ok\r\n200 binary\r\n211 no features\r\n",
		"120 wait\r\n120 wait\r\n220 now\r\n500 no FEAT\r\n230 in\r\n200 I\r\n",
		"220-multi\r\n220-line\r\n220 end\r\n211-x\r\n\tHASH\tSHA-1\r\n211 x\r\n234 go TLS\r\n",
		"220 x\r\n211-Features\r\n AUTH TLS\r\n UTF8\r\n211 End\r\n504 no TLS\r\n331 p\r\n421 bye\r\n",
		"999 what\r\n",
		"220\r\n",
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	scripts := make(chan []byte)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			script := <-scripts
			c.Write(script)
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	f.Fuzz(func(t *testing.T, script string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := Dial(ctx, &Target{Host: host, Port: port}, Options{Timeout: 2 * time.Second, TLS: TLSAuto})
			if err != nil {
				return
			}
			defer c.Close()
			for k := range c.Feat() {
				if k == "" || k != strings.ToUpper(k) || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
					t.Errorf("feature %q", k)
				}
			}
			c.Login(ctx, "u", "p")
		}()
		scripts <- []byte(script)
		select {
		case <-done:
		case <-time.After(4 * time.Second):
			t.Fatalf("Dial and Login still running after 4s on %q", script)
		}
	})
}
