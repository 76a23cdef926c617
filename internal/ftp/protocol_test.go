package ftp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func TestBeforeLoginOnlyTheSmallCommandSetRuns(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	for _, c := range []string{"PWD", "CWD /", "LIST", "RETR x", "STOR x", "MKD d", "DELE x", "SIZE x", "PASV", "SITE QUOTA", "STAT /"} {
		if code, msg := r.send(c); code != 530 {
			t.Errorf("%s before login: %d %q, want 530", c, code, msg)
		}
	}
	r.must("SYST", 215)
	r.must("NOOP", 200)
	r.must("FEAT", 211)
	r.must("HELP", 214)
	r.must("OPTS UTF8 ON", 200)
	r.must("AUTH TLS", 502) // no TLS configured
	r.must("PBSZ 0", 503)
	r.must("STAT", 530)
	r.must("PASS x", 503) // PASS before USER
	r.login("alice", "secret")
	r.must("PWD", 257)
	r.must("QUIT", 221)
}

func TestGateAnswersArgumentErrorsFromTheTable(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("CWD", 501)
	r.must("PWD extra", 501)
	r.must("RETR", 501)
	r.must("NOOP now", 501)
	r.must("FROB x", 500)
	r.must("TYPE X", 504)
	r.must("STRU R", 504)
	r.must("MODE B", 504)
	r.must("REST -1", 501)
	r.must("RNTO x", 503)
	r.must("SITE FROB", 502)
}

func TestDirectoryCommandsAndAliases(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	if msg := r.must("MKD a", 257); !strings.HasPrefix(msg, `"/a"`) {
		t.Errorf("MKD reply %q", msg)
	}
	r.must(`XMKD a/q"uote`, 257)
	r.must("CWD a", 250)
	if msg := r.must("PWD", 257); !strings.HasPrefix(msg, `"/a"`) {
		t.Errorf("PWD %q", msg)
	}
	if msg := r.must("XPWD", 257); !strings.HasPrefix(msg, `"/a"`) {
		t.Errorf("XPWD %q", msg)
	}
	r.must(`CWD q"uote`, 250)
	if msg := r.must("PWD", 257); !strings.HasPrefix(msg, `"/a/q""uote"`) {
		t.Errorf("PWD with quote %q: want doubled quotes", msg)
	}
	r.must("CDUP", 250)
	r.must("XCWD /", 250)
	r.must("CWD nowhere", 550)
	writeFile(t, filepath.Join(home, "f"), []byte("x"))
	r.must("CWD f", 550)
	r.must(`XRMD a/q"uote`, 250)
	r.must("RMD a", 250)
	r.must("RMD /", 550)
	if _, err := os.Stat(filepath.Join(home, "a")); !os.IsNotExist(err) {
		t.Fatalf("a still there: %v", err)
	}
	r.must("MKD full/x", 550) // no parent
	r.must("MKD d", 257)
	writeFile(t, filepath.Join(home, "d", "x"), []byte("x"))
	r.must("RMD d", 550) // not empty
}

func TestFileCommandsSizeMdtmMfmtRenameDelete(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "f.txt"), []byte("hello world\n"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	if msg := r.must("SIZE f.txt", 213); msg != "12" {
		t.Errorf("SIZE %q", msg)
	}
	r.must("SIZE /", 550)
	r.must("SIZE nope", 550)
	r.must("MFMT 20200102030405 f.txt", 213)
	if msg := r.must("MDTM f.txt", 213); msg != "20200102030405" {
		t.Errorf("MDTM %q", msg)
	}
	fi, _ := os.Stat(filepath.Join(home, "f.txt"))
	if !fi.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("mtime on disk %v", fi.ModTime())
	}
	r.must("MFMT 2020 f.txt", 501)
	r.must("RNFR f.txt", 350)
	r.must("RNTO g.txt", 250)
	r.must("RNFR missing", 550)
	r.must("RNFR g.txt", 350)
	r.must("NOOP", 200)
	r.must("RNTO h.txt", 503) // RNFR must be followed by RNTO
	r.must("DELE g.txt", 250)
	r.must("DELE g.txt", 550)
	r.must("MKD dir", 257)
	r.must("DELE dir", 550)
	r.must("REST 5", 350)
	r.must("ALLO 1000", 202)
	if msg := r.must("AVBL", 213); msg == "" || msg == "0" {
		t.Errorf("AVBL %q", msg)
	}
}

func TestMLSTFactsAndOPTS(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "f.bin"), make([]byte, 1234))
	os.Chtimes(filepath.Join(home, "f.bin"), time.Time{}, time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	msg := r.must("MLST f.bin", 250)
	lines := strings.Split(msg, "\n")
	if len(lines) != 3 {
		t.Fatalf("MLST reply %q", msg)
	}
	fact := lines[1]
	for _, want := range []string{" type=file;", "size=1234;", "modify=20210506070809;", "perm=rwadf;", "unique=", "; /f.bin"} {
		if !strings.Contains(fact, want) {
			t.Errorf("MLST facts %q lack %q", fact, want)
		}
	}
	if msg := r.must("OPTS MLST type;size;", 200); !strings.Contains(msg, "type;size;") {
		t.Errorf("OPTS MLST %q", msg)
	}
	fact = strings.Split(r.must("MLST f.bin", 250), "\n")[1]
	if strings.Contains(fact, "modify") || !strings.Contains(fact, "size=1234") {
		t.Errorf("after OPTS MLST: %q", fact)
	}
	if msg := r.must("MLST /", 250); !strings.Contains(msg, "type=dir;") {
		t.Errorf("MLST / %q", msg)
	}
}

func TestFEATAndHELPAreMultiLineAndComplete(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{TLS: true})
	r := dialRaw(t, srv.Addr)
	msg := r.must("FEAT", 211)
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT", "EPSV", "EPRT", "MDTM", "MFMT", "SIZE", "REST STREAM", "UTF8", "MLST type*", "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32", "TVFS"} {
		if !strings.Contains(msg, f) {
			t.Errorf("FEAT lacks %q:\n%s", f, msg)
		}
	}
	msg = r.must("HELP", 214)
	for _, c := range []string{"USER", "RETR", "MLSD", "XSHA256", "EPSV", "AVBL", "XPWD"} {
		if !strings.Contains(msg, c) {
			t.Errorf("HELP lacks %s", c)
		}
	}
	if msg := r.must("HELP retr", 214); !strings.Contains(msg, "RETR <file>") {
		t.Errorf("HELP RETR %q", msg)
	}
	r.must("HELP FROB", 501)
}

func TestChecksumsHashAndXCommands(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	data := []byte("The quick brown fox jumps over the lazy dog")
	writeFile(t, filepath.Join(home, "fox.txt"), data)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	want256 := sum(data)
	if msg := r.must("HASH fox.txt", 213); msg != fmt.Sprintf("SHA-256 0-%d %s fox.txt", len(data)-1, want256) {
		t.Errorf("HASH %q", msg)
	}
	r.must("OPTS HASH MD5", 200)
	if msg := r.must("HASH fox.txt", 213); !strings.Contains(msg, "9e107d9d372bb6826bd81d3542a419d6") {
		t.Errorf("HASH MD5 %q", msg)
	}
	r.must("OPTS HASH FOO", 501)
	r.must("OPTS HASH CRC32", 200)
	r.must("RANG 4 8", 350) // "quick"
	if msg := r.must("HASH fox.txt", 213); !strings.HasPrefix(msg, "CRC32 4-8 ") {
		t.Errorf("HASH with RANG %q", msg)
	}
	cases := map[string]string{
		"XMD5 fox.txt":        "9e107d9d372bb6826bd81d3542a419d6",
		"XSHA1 fox.txt":       "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
		"XSHA256 fox.txt":     want256,
		"XCRC fox.txt":        "414fa339",
		"XSHA256 fox.txt 4 9": sum([]byte("quick")),
		"XSHA512 fox.txt 0 0": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
	}
	for cmd, want := range cases {
		if msg := r.must(cmd, 250); msg != want {
			t.Errorf("%s = %q, want %q", cmd, msg, want)
		}
	}
	r.must("XMD5 nope", 550)
	r.must("HASH /", 553)
}

func TestSiteQuotaAndStatReportUsage(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 1000, QuotaFiles: 10}, "pw")
	c := login(t, srv.Addr, "q", "pw")
	if err := c.Stor("a", strings.NewReader(strings.Repeat("x", 250))); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	msg := r.must("SITE QUOTA", 200)
	// Sizes in human units (issue 10: the README promises them), the exact
	// count in parentheses for programs.
	for _, want := range []string{"User: q", "Home: /", "Bytes used: 250B (250 bytes)", "Bytes allowed: 1000B (1000 bytes)", "Files used: 1", "Files allowed: 10", "Percent used: 25.0%"} {
		if !strings.Contains(msg, want) {
			t.Errorf("SITE QUOTA lacks %q:\n%s", want, msg)
		}
	}
	msg = r.must("STAT", 211)
	if !strings.Contains(msg, "Bytes used: 250") || !strings.Contains(msg, "Logged in as q") {
		t.Errorf("STAT:\n%s", msg)
	}
	if msg := r.must("AVBL", 213); msg != "750" {
		t.Errorf("AVBL %q, want 750 (quota room)", msg)
	}
	r.must("ALLO 800", 552)
	r.must("SITE HELP", 214)
	msg = r.must("STAT /", 212)
	if !strings.Contains(msg, " a\n") && !strings.HasSuffix(strings.Split(msg, "\n")[1], " a") {
		t.Errorf("STAT / listing:\n%s", msg)
	}
	r.must("STAT a", 213)
}

func TestREINLogsOutAndKeepsTheConnection(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("CWD /", 250)
	r.must("REIN", 220)
	r.must("PWD", 530)
	r.login("alice", "secret")
	r.must("USER bob", 530) // can't change user without REIN
}

// Regression (SITE QUOTA said "Percent used: 0%" with the file quota full):
// percent is reported for bytes and for files, the overall figure is the
// larger, and files used, allowed and left each have their line.
func TestSiteQuotaPercentCountsAFullFileQuota(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 1 << 20, QuotaFiles: 2}, "pw")
	c := login(t, srv.Addr, "q", "pw")
	for _, name := range []string{"a", "b"} {
		if err := c.Stor(name, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	msg := r.must("SITE QUOTA", 200)
	for _, want := range []string{"Files used: 2", "Files allowed: 2", "Files left: 0",
		"Bytes used: 8B (8 bytes)", "Bytes left: 1023.9KiB (1048568 bytes)", "Percent of bytes used: 0.0%",
		"Percent of files used: 100.0%", "Percent used: 100.0% (files)"} {
		if !hasLine(msg, want) {
			t.Errorf("SITE QUOTA lacks %q:\n%s", want, msg)
		}
	}
	srv.Users.Set(accounts.User{Name: "u", Perms: accounts.PresetFull}, "pw")
	r = dialRaw(t, srv.Addr)
	r.login("u", "pw")
	msg = r.must("SITE QUOTA", 200)
	for _, want := range []string{"Bytes allowed: unlimited", "Files allowed: unlimited", "Percent used: 0% (no limits)"} {
		if !hasLine(msg, want) {
			t.Errorf("SITE QUOTA without limits lacks %q:\n%s", want, msg)
		}
	}
}

// hasLine reports whether the multi-line reply text has a line that is want
// (continuation lines are indented).
func hasLine(text, want string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}
