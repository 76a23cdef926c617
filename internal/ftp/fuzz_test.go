package ftp_test

import (
	"bufio"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// Every fuzz target here talks to a real server over a real socket and
// fails when the server recovers a panic (Server.Panics moves): a panic is
// a crash, and a client only sees it as a dropped connection, which the
// first version of FuzzSessionCommands took for "fine".

// fuzzServer runs a server tuned for fuzzing: no login delay or ban (a
// fuzzer sends many wrong passwords from one address), and short data and
// idle timeouts so an input that opens a data channel nobody uses costs a
// second, not a minute.
func fuzzServer(f *testing.F) (*ftptest.Server, string) {
	srv := ftptest.Start(f, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginFailDelay = -1
		c.BanAfter = -1
		c.DataTimeout = time.Second
		c.IdleTimeout = 10 * time.Second
	}})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	writeFile(f, filepath.Join(home, "a.txt"), []byte("0123456789"))
	writeFile(f, filepath.Join(home, "d", "b.txt"), []byte("b"))
	writeFile(f, filepath.Join(home, "f\u00a010"), []byte("nbsp"))
	return srv, home
}

// checkPanics fails the input when the server recovered a panic while it
// ran.
func checkPanics(t *testing.T, srv *ftptest.Server, before int64) {
	t.Helper()
	if n := srv.Engine.Panics(); n != before {
		t.Fatalf("the server recovered %d panic(s) on this input:\n%s", n-before, lastPanic(srv.Logs()))
	}
}

func lastPanic(logs string) string {
	i := strings.LastIndex(logs, "panic in ")
	if i < 0 {
		return "(no panic in the log)"
	}
	return logs[i:min(len(logs), i+4000)]
}

// maxFuzzLines bounds the command lines of one FuzzSessionCommands input:
// each may wait a data timeout, and the input must end within readWait.
const maxFuzzLines = 16

// FuzzSessionCommands feeds arbitrary command lines to a logged-in session
// of a real server: whatever arrives, the server must not panic, must end
// the session with a reply (221 for the final QUIT, or 421) rather than drop
// it or hang, keep serving new clients, never write outside the user's home
// and never answer with anything but well-formed reply lines.
func FuzzSessionCommands(f *testing.F) {
	for _, s := range []string{
		"MKD a\r\nCWD a\r\nPWD\r\n",
		"RNFR x\r\nRNTO ../../y\r\n",
		"STOR ../../escape\r\n",
		"REST 5\r\nAPPE f\r\n",
		"EPRT |2|::1|1|\r\nPORT 1,2,3,4,5,6\r\n",
		"MFMT 99999999999999 f\r\nMLST /\r\n",
		"RANG 9 1\r\nHASH f\r\nXMD5 f 5 2\r\n",
		"OPTS MLST ;;;\r\nOPTS HASH \r\nSITE QUOTA\r\nSTAT ..\r\n",
		"USER x\r\nPASS y\r\nREIN\r\n\xff\xff\r\n",
		"DELE /\r\nRMD /\r\nRMD ..\r\nCWD \x00\r\n",
		"ALLO   \r\n",                // issue 9: panicked
		"XMD5 f\u00a010\r\n",         // issue 9: panicked in the gate
		"XCRC a.txt -5 -1\r\n",       // issue 9: 451
		"SIZE a.txt\nDELE a.txt\r\n", // issue 9: the DELE ran
	} {
		f.Add(s)
	}
	srv, home := fuzzServer(f)
	outside := filepath.Dir(home)
	before, _ := os.ReadDir(outside)
	f.Fuzz(func(t *testing.T, input string) {
		if strings.Count(input, "\n") > maxFuzzLines {
			t.Skip("too many lines to end within the read deadline")
		}
		panics := srv.Engine.Panics()
		c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const readWait = 60 * time.Second
		c.SetDeadline(time.Now().Add(readWait))
		c.Write([]byte("USER alice\r\nPASS secret\r\n" + input + "\r\nQUIT\r\n"))
		br := bufio.NewReader(c)
		last := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("no end of the session within %v (last reply line %q)", readWait, last)
				}
				if line != "" {
					t.Fatalf("reply cut off: %q", line)
				}
				break
			}
			if len(line) < 4 || !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("malformed reply line %q", line)
			}
			if line[0] != ' ' && (line[0] < '1' || line[0] > '5' || line[3] != ' ' && line[3] != '-') {
				t.Fatalf("malformed reply line %q", line)
			}
			last = line
		}
		checkPanics(t, srv, panics)
		if !strings.HasPrefix(last, "221 ") && !strings.HasPrefix(last, "421 ") {
			t.Fatalf("connection closed after %q, without 221 or 421", last)
		}
		after, _ := os.ReadDir(outside)
		if len(after) != len(before) {
			t.Fatalf("something was written next to the home: %v", after)
		}
		r := dialRaw(t, srv.Addr)
		r.login("alice", "secret")
		r.must("QUIT", 221)
	})
}

// argCase is one argument parser under fuzz: the lines sent first (their
// replies are not checked), the verbs whose argument is fuzzed and the
// replies each may give. 451 (an error nobody mapped) is never one of them.
type argCase struct {
	setup []string
	verbs []string
	codes []int
}

// fuzzArg fuzzes the argument of the case's verbs on a fresh logged-in
// session per input: the reply must be one of the case's codes, the
// session must go on (NOOP, QUIT) and the server must not panic.
func fuzzArg(f *testing.F, c argCase, seeds ...string) {
	for _, s := range seeds {
		f.Add(uint8(0), s)
	}
	srv, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, which uint8, arg string) {
		if strings.Contains(arg, "\r\n") || len(arg) > 1000 {
			t.Skip("not one command line")
		}
		verb := c.verbs[int(which)%len(c.verbs)]
		panics := srv.Engine.Panics()
		r := dialFuzz(t, srv.Addr)
		defer r.c.Close()
		for _, line := range c.setup {
			r.send(line)
		}
		code, msg := r.send(verb + " " + arg)
		if !slices.Contains(c.codes, code) && !(code == 501 && strings.ContainsAny(arg, "\r\n\x00")) {
			t.Fatalf("%s %q: %d %q, want one of %v", verb, arg, code, msg, c.codes)
		}
		if code, msg := r.send("NOOP"); code != 200 {
			t.Fatalf("after %s %q: NOOP got %d %q", verb, arg, code, msg)
		}
		r.must("QUIT", 221)
		checkPanics(t, srv, panics)
	})
}

// dialFuzz logs alice in on a raw connection that reports errors instead
// of hanging the fuzzer.
func dialFuzz(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: t, c: c, tp: textproto.NewConn(c)}
	r.expect(220)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	return r
}

func FuzzALLO(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"ALLO"}, codes: []int{202, 501, 552}},
		"100", "   ", "\u00a0", "100 R 10", "1 r 1", "-1", "+1", "99999999999999999999", "9223372036854775807", "1 R", "1 R 1 R 1")
}

func FuzzREST(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"REST"}, codes: []int{350, 501}},
		"0", "5", "-1", "+1", " 1", "1 ", "99999999999999999999", "9223372036854775807", "0x10", "\u0661")
}

func FuzzRANG(f *testing.F) {
	// RETR after RANG exercises the range against a real file.
	fuzzArg(f, argCase{verbs: []string{"RANG"}, codes: []int{350, 501}},
		"0 9", "1 0", "5 2", "-1 5", "0 9223372036854775807", "0 9223372036854775806", "0", "0  9", "0 \u00a09", "9223372036854775807 9223372036854775807")
}

func FuzzMFMT(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"MFMT"}, codes: []int{213, 501, 550, 553}},
		"20200101000000 a.txt", "20200101000000.123 a.txt", "20201301000000 a.txt", "2020010100000 a.txt",
		"20200101000000.1234567891 a.txt", "20200101000000.-1 a.txt", "99999999999999 a.txt", "20200101000000", "20200101000000 ", "00000000000000 d")
}

func FuzzMDTM(f *testing.F) {
	// Some clients send MDTM with a time to set it (the MFMT form); it is
	// read as a path.
	fuzzArg(f, argCase{verbs: []string{"MDTM"}, codes: []int{213, 501, 550, 553}},
		"a.txt", "d", "20200101000000 a.txt", "\u00a0", "../../..", "/", "f\u00a010")
}

func FuzzPORT(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"PORT", "EPRT"}, codes: []int{200, 500, 501, 522}},
		"127,0,0,1,4,1", "127,0,0,1,0,21", "1,2,3,4,5,6", "127,0,0,1,\u00a04,1", "256,0,0,1,4,1", "127,0,0,1,4,-1", ",,,,,",
		"|1|127.0.0.1|1025|", "|2|::1|1025|", "|1|127.0.0.1|70000|", "|3|x|1|", "\u00a0", "||||", "|1|127.0.0.1|-1|", "x1x127.0.0.1x2000x", "\xc3\xa9|1|127.0.0.1|1025|")
}

func FuzzOPTS(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"OPTS"}, codes: []int{200, 501, 504}},
		"UTF8 ON", "UTF8 OFF", "utf-8", "MLST type;size;", "MLST ;;;", "MLST", "HASH", "HASH SHA-1", "HASH md5 ", "HASH x", "\u00a0", " ")
}

func FuzzSITE(f *testing.F) {
	fuzzArg(f, argCase{verbs: []string{"SITE"}, codes: []int{200, 214, 501, 502}},
		"HELP", "QUOTA", "quota x", "CHMOD 777 a.txt", "\u00a0", " ", "HELP HELP")
}

// FuzzChecksumRange covers "file [start [end]]" of the X* commands and
// HASH after RANG.
func FuzzChecksumRange(f *testing.F) {
	fuzzArg(f, argCase{
		setup: []string{"RANG 2 5"},
		verbs: []string{"XMD5", "XSHA1", "XSHA256", "XSHA512", "XCRC", "HASH"},
		codes: []int{213, 250, 501, 504, 550, 553},
	},
		"a.txt", "a.txt 1", "a.txt 1 5", "a.txt, 1, 5", `"a.txt" 0 10`, "a.txt -5 -1", "a.txt -1", "a.txt 5 1",
		"a.txt 99999999999999999999", "f\u00a010", "f\u00a010 1", "  ", "d", "d 1 2", "1 2 3", "a.txt 0 9223372036854775807")
}

// FuzzMLSTFacts selects facts with OPTS MLST, then lists with MLST and
// checks the reply's fact line.
func FuzzMLSTFacts(f *testing.F) {
	for _, s := range [][2]string{
		{"type;size;modify;perm;unique;", "a.txt"},
		{";;;", "/"},
		{"TYPE;Size;", "d"},
		{"", "."},
		{"type;type;x;", "f\u00a010"},
		{"unix.mode;", "../.."},
	} {
		f.Add(s[0], s[1])
	}
	srv, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, facts, name string) {
		if strings.ContainsAny(facts+name, "\r\n") || len(facts)+len(name) > 1000 {
			t.Skip("not one command line")
		}
		panics := srv.Engine.Panics()
		r := dialFuzz(t, srv.Addr)
		defer r.c.Close()
		if code, msg := r.send("OPTS MLST " + facts); code != 200 && code != 501 {
			t.Fatalf("OPTS MLST %q: %d %q", facts, code, msg)
		}
		code, msg := r.send("MLST " + name)
		switch code {
		case 250:
			lines := strings.Split(msg, "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], " ") {
				t.Fatalf("MLST %q: reply %q is not one fact line", name, msg)
			}
		case 501, 550, 553:
		default:
			t.Fatalf("MLST %q: %d %q", name, code, msg)
		}
		r.must("NOOP", 200)
		r.must("QUIT", 221)
		checkPanics(t, srv, panics)
	})
}
