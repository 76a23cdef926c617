package client

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseListLineUnixAndDOS(t *testing.T) {
	year := time.Now().UTC().Year()
	for _, tc := range []struct {
		line string
		want Entry
		ok   bool
	}{
		{"-rw-r--r--   1 ftp      ftp        1234 Mar  4  2021 report.pdf", Entry{Name: "report.pdf", Type: TypeFile, Size: 1234, ModTime: time.Date(2021, 3, 4, 0, 0, 0, 0, time.UTC)}, true},
		{"drwxr-xr-x   2 owner group      4096 Jan 10 09:30 My Folder", Entry{Name: "My Folder", Type: TypeDir, Size: 4096, ModTime: time.Date(year, 1, 10, 9, 30, 0, 0, time.UTC)}, true},
		{"lrwxrwxrwx   1 root     root          7 Feb  1  2020 latest -> v1.2.3", Entry{Name: "latest", Target: "v1.2.3", Type: TypeLink, Size: 7, ModTime: time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"-rw-r--r--    1 1000     1000       99 Dec 31  1999 no-group-name", Entry{Name: "no-group-name", Type: TypeFile, Size: 99, ModTime: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)}, true},
		{"-rw-r--r-- 1 user 512 Jun 15 2018 eight-fields.txt", Entry{Name: "eight-fields.txt", Type: TypeFile, Size: 512, ModTime: time.Date(2018, 6, 15, 0, 0, 0, 0, time.UTC)}, true},
		{"01-16-24  02:30PM       <DIR>          Windows Folder", Entry{Name: "Windows Folder", Type: TypeDir, ModTime: time.Date(2024, 1, 16, 14, 30, 0, 0, time.UTC)}, true},
		{"12-05-1998  12:05AM              1048576 setup.exe", Entry{Name: "setup.exe", Type: TypeFile, Size: 1048576, ModTime: time.Date(1998, 12, 5, 0, 5, 0, 0, time.UTC)}, true},
		{"total 12", Entry{}, false},
		{"", Entry{}, false},
	} {
		got, ok := ParseListLine(tc.line)
		got.Raw, got.Perm = "", ""
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseListLine(%q) = %+v, %v\nwant %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseMLSx(t *testing.T) {
	e, ok := ParseMLSx("type=file;size=42;modify=20240102030405.123;perm=adfrw; name with spaces.txt")
	if !ok || e.Name != "name with spaces.txt" || e.Size != 42 || e.Type != TypeFile || !e.ModTime.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC)) {
		t.Fatalf("%+v %v", e, ok)
	}
	if e, ok := ParseMLSx("Type=cdir;Modify=20240101000000; /home"); !ok || e.Name != "." {
		t.Fatalf("cdir: %+v", e)
	}
	if e, _ := ParseMLSx("type=OS.unix=symlink;size=3; link"); e.Type != TypeLink {
		t.Fatalf("symlink: %+v", e)
	}
}

func TestParsePassiveReplies(t *testing.T) {
	if p, err := parseEPSV("Entering Extended Passive Mode (|||6446|)"); err != nil || p != 6446 {
		t.Fatal(p, err)
	}
	if _, err := parseEPSV("Entering Extended Passive Mode (|||99999|)"); err == nil {
		t.Fatal("port 99999 accepted")
	}
	ip, port, err := parsePASV("Entering Passive Mode (192,168,1,20,195,80).")
	if err != nil || ip.String() != "192.168.1.20" || port != 195*256+80 {
		t.Fatal(ip, port, err)
	}
	if ip, port, err := parsePASV("=10,0,0,1,4,1"); err != nil || ip.String() != "10.0.0.1" || port != 1025 {
		t.Fatal("PASV without parentheses:", ip, port, err)
	}
	if _, _, err := parsePASV("Entering Passive Mode (1,2,3,4,5)"); err == nil {
		t.Fatal("five numbers accepted")
	}
}

func TestParseQuota(t *testing.T) {
	q := parseQuota("Quota for bob:\nUser: bob\nBytes used: 300\nBytes allowed: 10MiB\nFiles used: 2\nFiles allowed: unlimited\nEnd.")
	if q.Used != 300 || q.Limit != 10<<20 || q.Left() != 10<<20-300 {
		t.Fatalf("%+v", q)
	}
	q = parseQuota("Used: 5\nAvailable: 95")
	if q.Limit != 100 {
		t.Fatalf("used+available: %+v", q)
	}
	if q := parseQuota("Bytes used: 1.2MiB (1258291 bytes)\nBytes allowed: 10MiB (10485760 bytes)\nBytes left: 8.7MiB (9227469 bytes)"); q.Used != 1258291 || q.Limit != 10485760 {
		t.Errorf("human sizes with exact counts: %+v", q)
	}
	if q := parseQuota("Bytes used: 7\nBytes allowed: unlimited"); q.Limit != -1 || q.Left() != -1 {
		t.Fatalf("unlimited: %+v", q)
	}
}

func TestParseURL(t *testing.T) {
	tg, err := ParseURL("ftps://bob:p%40ss@[::1]/dir/file name.txt")
	if err != nil || !tg.Implicit || tg.Host != "::1" || tg.Port != "990" || tg.User != "bob" || tg.Password != "p@ss" || tg.Path != "dir/file name.txt" || tg.HostPort() != "[::1]:990" {
		t.Fatalf("%+v %v", tg, err)
	}
	if tg, _ := ParseURL("example.org:2121"); tg.Port != "2121" || tg.Implicit || tg.User != "" {
		t.Fatalf("bare host: %+v", tg)
	}
	if _, err := ParseURL("http://example.org/"); err == nil {
		t.Fatal("http:// accepted")
	}
	if tg, _ := ParseURL("ftp://alice:secret@h/x"); tg.String() != "ftp://alice@h:21/x" {
		t.Fatalf("String shows %q (never the password)", tg.String())
	}
}

func TestResolveLoginOrder(t *testing.T) {
	dir := t.TempDir()
	netrc := filepath.Join(dir, "netrc")
	os.WriteFile(netrc, []byte("machine h login bob password frombob\nmacdef init\ncd /\n\ndefault login anon password x\n"), 0o600)
	env := map[string]string{"NETRC": netrc}
	get := func(k string) string { return env[k] }
	check := func(raw, wantUser, wantPass string) {
		t.Helper()
		tg, _ := ParseURL(raw)
		u, p, err := ResolveLogin(tg, get, nil)
		if err != nil || u != wantUser || p != wantPass {
			t.Errorf("%s: %q %q %v, want %q %q", raw, u, p, err, wantUser, wantPass)
		}
	}
	check("ftp://alice:url@h/", "alice", "url")
	check("ftp://h/", "bob", "frombob") // netrc names the user
	check("ftp://bob@h/", "bob", "frombob")
	check("ftp://other/", "anon", "x") // netrc default entry
	env["WHARF_PASSWORD"] = "fromenv"
	check("ftp://bob@h/", "bob", "fromenv") // environment before netrc
	env["NETRC"] = filepath.Join(dir, "absent")
	check("ftp://h/", "anonymous", "anonymous@")
	tg, _ := ParseURL("ftp://carol@h/")
	delete(env, "WHARF_PASSWORD")
	if _, p, err := ResolveLogin(tg, get, func(string) (string, error) { return "typed", nil }); err != nil || p != "typed" {
		t.Errorf("prompt: %q %v", p, err)
	}
}

func TestPyftpdlibAnonymous(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pub.txt"), []byte("public"), 0o644)
	tg := pyftpd(t, dir, "--anonymous")
	anon := &Target{Host: tg.Host, Port: tg.Port}
	u, p, _ := ResolveLogin(anon, func(string) string { return "" }, nil)
	c, err := Connect(t.Context(), anon, Options{}, u, p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(t.Context())
	if e, err := c.List(t.Context(), ""); err != nil || len(e) != 1 || e[0].Name != "pub.txt" {
		t.Fatalf("%+v %v", e, err)
	}
}

// Regression (FuzzParseQuota "Allowed:0"): with the usage unknown (-1), Left
// said 1 byte remained of a zero quota.
func TestQuotaLeftIsUnknownWithoutUsage(t *testing.T) {
	if q := parseQuota("Allowed:0"); q.Left() != -1 {
		t.Fatalf("%+v: left %d, want -1 (unknown)", q, q.Left())
	}
	if q := parseQuota("Used: 8EiB\nFree: 8EiB"); q.Limit != -1 {
		t.Fatalf("used+free past int64 became limit %d", q.Limit)
	}
}

// Regression (FuzzParseURL "]", "::", "::%25]:"): url.Parse let hosts
// through that do not print back as an address; ports outside 1..65535
// were accepted too.
func TestParseURLRefusesBadHostsAndPorts(t *testing.T) {
	for _, raw := range []string{"]", "::", "::%25]:", "ftp://h:0/", "ftp://h:65536/", "ftp://a b/"} {
		if tg, err := ParseURL(raw); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", raw, tg)
		}
	}
	if tg, err := ParseURL("ftp://[fe80::1%25eth0]:2121/x"); err != nil || tg.Host != "fe80::1%eth0" {
		t.Fatalf("IPv6 with zone: %+v %v", tg, err)
	}
}

// Regression: a 227 reply announcing port 0 was accepted.
func TestPASVPortZeroRefused(t *testing.T) {
	if ip, port, err := parsePASV("Entering Passive Mode (1,2,3,4,0,0)"); err == nil {
		t.Fatalf("port 0 accepted: %v %d", ip, port)
	}
	if ip, _, err := parsePASV("(1,2,3,4,0,1)"); err != nil || len(ip) != 4 {
		t.Fatalf("PASV address %v (%d bytes) %v, want 4 bytes", ip, len(ip), err)
	}
}

// A hostile server's listing cannot name things outside the folder.
func TestListingDropsNamesThatLeaveTheFolder(t *testing.T) {
	lines, _ := readLines(strings.NewReader("" +
		"-rw-r--r-- 1 u g 1 Jan 1 2020 ../../etc/passwd\r\n" +
		"-rw-r--r-- 1 u g 1 Jan 1 2020 a\rb\r\n" +
		"-rw-r--r-- 1 u g 1 Jan 1 2020 ok.txt\r\n" +
		"drwxr-xr-x 1 u g 1 Jan 1 2020 ..\r\n"))
	if got := listing(lines, ParseListLine); len(got) != 1 || got[0].Name != "ok.txt" {
		t.Fatalf("LIST kept %+v", got)
	}
	lines, _ = readLines(strings.NewReader("type=file; /etc/passwd\r\ntype=file; sub/x\r\ntype=pdir; ..\r\ntype=file;size=2; fine\r\n"))
	if got := listing(lines, ParseMLSx); len(got) != 1 || got[0].Name != "fine" {
		t.Fatalf("MLSD kept %+v", got)
	}
}

// An X-command's reply is free-form: the checksum is the field of the
// algorithm's digest length, not the first hex-looking one (a file named
// "deadbeef", a range).
func TestHashReplyTakesTheDigestLengthField(t *testing.T) {
	md5 := "d41d8cd98f00b204e9800998ecf8427e"
	if sum, ok := parseHashReply("MD5", false, "deadbeef "+strings.ToUpper(md5)); !ok || sum != md5 {
		t.Fatalf("XMD5: %q %v", sum, ok)
	}
	if sum, ok := parseHashReply("CRC32", false, "0-10 cafebabe f"); !ok || sum != "cafebabe" {
		t.Fatalf("XCRC: %q %v", sum, ok)
	}
	if _, ok := parseHashReply("SHA-256", true, "SHA-256 0-3 abcd f"); ok {
		t.Fatal("a short HASH sum accepted")
	}
}

func TestFeatKeywordEndsAtAnySpace(t *testing.T) {
	f := parseFeat("Features:\n\tHASH\tSHA-1;MD5\n MDTM\nEnd")
	if f["HASH"] != "SHA-1;MD5" || !func() bool { _, ok := f["MDTM"]; return ok }() {
		t.Fatalf("%q", f)
	}
}

// Regression: a server repeating "120 service ready in nnn minutes" held
// Dial for ever; every reply arrived in time, so no read timed out.
func TestEndlessServiceWaitIsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, err := c.Write([]byte("120 ready in 1 minute\r\n")); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	start := time.Now()
	_, err = Dial(t.Context(), &Target{Host: host, Port: port}, Options{Timeout: 5 * time.Second})
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != 120 || time.Since(start) > 2*time.Second {
		t.Fatalf("Dial: %v after %v, want a 120 refusal at once", err, time.Since(start))
	}
}

// Regression (QA round 2, #5): the file quota was thrown away, so status
// showed "no limit" to a user allowed two files. Percent lines in any
// wording are skipped, not misread as counts.
func TestParseQuotaReadsTheFileCount(t *testing.T) {
	for _, msg := range []string{
		"Quota for bob:\nUser: bob\nHome: /\nBytes used: 4\nBytes allowed: unlimited\nFiles used: 2\nFiles allowed: 2\nPercent used: 0%\nEnd.",
		"Bytes used: 4\nFiles used: 2 files\nFiles allowed: 2\nPercent used: 0.0% of bytes, 100.0% of files",
		"Bytes used: 4\nFiles used: 2\nFiles left: 0\nPercent of files used: 100",
	} {
		q := parseQuota(msg)
		if q.Used != 4 || q.Limit != -1 || q.Files != 2 || q.FileLimit != 2 || q.FilesLeft() != 0 {
			t.Errorf("%q: %+v", msg, q)
		}
	}
	if q := parseQuota("Files used: 3\nFiles allowed: unlimited"); q.Files != 3 || q.FileLimit != -1 || q.FilesLeft() != -1 {
		t.Errorf("unlimited files: %+v", q)
	}
}
