package ftpproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Regression: a bare LF ended the line, so "SIZE name\nDELE victim" ran the
// DELE. Only CR LF ends a line; a bare LF or CR stays in it (Parse refuses
// it there), even when the CR and the LF arrive in separate reads.
func TestReaderEndsLinesOnlyAtCRLF(t *testing.T) {
	in := "USER a\r\nSIZE name\nDELE victim\r\nA\rB\r\nC\n\r\n\r\r\n" + strings.Repeat("x", 600) + "\r"
	r := NewReader(io.MultiReader(strings.NewReader(in), strings.NewReader("\nNOOP\r\n")), 0)
	for _, want := range []string{"USER a", "SIZE name\nDELE victim", "A\rB", "C\n", "\r", strings.Repeat("x", 600), "NOOP"} {
		line, err := r.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	if _, err := r.ReadLine(); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
	if _, err := Parse([]byte("SIZE name\nDELE victim")); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("Parse of a line with a bare LF: %v, want ErrBadArgument", err)
	}
}

// An over-long line ends at its CR LF only: a bare LF inside the skipped
// part must not start a command.
func TestReaderSkipsALongLineToItsCRLF(t *testing.T) {
	in := "NOOP " + strings.Repeat("x", 5000) + "\nDELE victim" + strings.Repeat("y", 600) + "\r"
	r := NewReader(io.MultiReader(strings.NewReader(in), strings.NewReader("\nQUIT\r\n")), 4096)
	if _, err := r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	if line, err := r.ReadLine(); err != nil || string(line) != "QUIT" {
		t.Fatalf("after the long line: %q %v, want QUIT", line, err)
	}
}

func TestReaderRefusesLongLinesAndRecovers(t *testing.T) {
	in := "NOOP " + strings.Repeat("x", 100<<10) + "\r\nQUIT\r\n"
	r := NewReader(strings.NewReader(in), 4096)
	if _, err := r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	if cap(r.buf) > 8192 {
		t.Fatalf("reader buffered %d bytes for a refused line", cap(r.buf))
	}
	line, err := r.ReadLine()
	if err != nil || string(line) != "QUIT" {
		t.Fatalf("after long line: %q %v", line, err)
	}
}

// A line that goes on for megabytes is refused again every skipLines caps,
// so a server counting refusals closes a connection that keeps sending one.
func TestReaderRefusesAnEndlessLineRepeatedly(t *testing.T) {
	in := "NOOP " + strings.Repeat("x", 1<<20) + "\r\nQUIT\r\n"
	r := NewReader(strings.NewReader(in), 4096)
	refused := 0
	for {
		line, err := r.ReadLine()
		if errors.Is(err, ErrLineTooLong) {
			refused++
			continue
		}
		if err != nil || string(line) != "QUIT" {
			t.Fatalf("after the long line: %q %v", line, err)
		}
		break
	}
	if most := 1 + len(in)/(skipLines*4098); refused < 3 || refused > most {
		t.Fatalf("a 1 MiB line was refused %d times, want 3 to %d", refused, most)
	}
}

// Regression (a 1 MiB line with no CRLF got no answer until the idle
// timeout): the line is refused as soon as it passes the cap, without
// waiting for its end.
func TestReaderRefusesAnUnterminatedLongLineAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write([]byte(strings.Repeat("x", 10_000))) // and never an end
	defer pw.Close()
	r := NewReader(pr, 4096)
	done := make(chan error, 1)
	go func() { _, err := r.ReadLine(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("unterminated long line: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLine waited for the end of a line already over the cap")
	}
}

func TestReaderAcceptsExactlyTheCap(t *testing.T) {
	line := strings.Repeat("a", 100)
	r := NewReader(strings.NewReader(line+"\r\n"+line+"a\r\n"), 100)
	if got, err := r.ReadLine(); err != nil || string(got) != line {
		t.Fatalf("line at the cap: %v", err)
	}
	if _, err := r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("line over the cap: %v", err)
	}
}

func TestReaderStripsTelnetSequences(t *testing.T) {
	// ftplib and others send IAC IP IAC DM before ABOR.
	// A TCP balancer drops the urgent mark, so they arrive as plain bytes;
	// a client may also negotiate (IAC DO ECHO, IAC SB ... IAC SE).
	r := NewReader(strings.NewReader("\xff\xf4\xff\xf2ABOR\r\n\xff\xfb\x01NOOP\r\nA\xff\xffB\r\n"+
		"\xff\xfd\x01\xff\xfa\x18\x01\xff\xf0STAT\r\n\xff\xf1\xff\xf6PWD\r\n"), 0)
	for _, want := range []string{"ABOR", "NOOP", "A\xffB", "STAT", "PWD"} {
		line, err := r.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
}

func TestReaderUnterminatedLineAtEOF(t *testing.T) {
	r := NewReader(strings.NewReader("NOOP"), 0)
	if _, err := r.ReadLine(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		in        string
		verb, arg string
		err       error
	}{
		{"user alice", "USER", "alice", nil},
		{"NOOP", "NOOP", "", nil},
		{"STOR  two spaces", "STOR", " two spaces", nil},
		{"xsha256 f", "XSHA256", "f", nil},
		{"RETR näme.txt", "RETR", "näme.txt", nil},
		{"", "", "", ErrEmptyCommand},
		{" NOOP", "", "", ErrBadVerb},
		{"GET / HTTP/1.1", "GET", "/ HTTP/1.1", nil},
		{"Host: x", "", "", ErrBadVerb},
		{"1USER a", "", "", ErrBadVerb},
		{"TOOLONGVERB", "", "", ErrBadVerb},
		{"STOR a\rb", "STOR", "", ErrBadArgument},
		{"STOR a\x00b", "STOR", "", ErrBadArgument},
		{"STOR \xff\xfe", "STOR", "", ErrBadArgument},
		{"STOR a\x7f", "STOR", "", ErrBadArgument},
	}
	for _, c := range cases {
		cmd, err := Parse([]byte(c.in))
		if !errors.Is(err, c.err) || err == nil && (cmd.Verb != c.verb || cmd.Arg != c.arg) {
			t.Errorf("Parse(%q) = %+v, %v; want %s %q %v", c.in, cmd, err, c.verb, c.arg, c.err)
		}
	}
}

func TestWriteReplyIsReadByTextproto(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	WriteReply(w, 211, "Features:\nEPSV\n213 looks like an end\nEnd")
	WriteReply(w, 200, "OK")
	w.Flush()
	want := "211-Features:\r\n EPSV\r\n 213 looks like an end\r\n211 End\r\n200 OK\r\n"
	if b.String() != want {
		t.Fatalf("got %q", b.String())
	}
	tp := textproto.NewReader(bufio.NewReader(&b))
	code, msg, err := tp.ReadResponse(211)
	if err != nil || code != 211 || !strings.Contains(msg, "looks like an end") {
		t.Fatalf("textproto: %d %q %v", code, msg, err)
	}
	if code, _, err := tp.ReadResponse(200); err != nil || code != 200 {
		t.Fatalf("second reply: %d %v", code, err)
	}
}

func TestQuoteDoublesQuotes(t *testing.T) {
	if got := Quote(`/a"b`); got != `"/a""b"` {
		t.Fatalf("got %s", got)
	}
}

// FuzzParse checks that whatever a client sends, a parsed command never
// carries control bytes or invalid UTF-8 into the engine, and the verb is
// always upper-case letters and digits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"USER alice", "PASS x", "RETR a b.txt", "STOR a\rb", "\x00", "GET / HTTP/1.1", "xsha256 f 0 10", "EPRT |2|::1|5000|", "PORT 127,0,0,1,4,1", "MLSD", "\xff\xf4ABOR"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := Parse(line)
		if err != nil {
			return
		}
		if cmd.Verb == "" || len(cmd.Verb) > MaxVerbLen {
			t.Fatalf("verb %q", cmd.Verb)
		}
		for _, c := range []byte(cmd.Verb) {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				t.Fatalf("verb %q has %q", cmd.Verb, c)
			}
		}
		if !utf8.ValidString(cmd.Arg) {
			t.Fatalf("invalid UTF-8 argument %q", cmd.Arg)
		}
		for _, c := range []byte(cmd.Arg) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte in argument %q", cmd.Arg)
			}
		}
	})
}

// FuzzReader checks the bounded reader never returns a line over its cap,
// always makes progress, and (when no Telnet sequence or over-long line is
// involved) splits exactly at CR LF and nowhere else.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"USER a\r\nPASS b\r\n", "\xff\xf4\xff\xf2ABOR\r\n", strings.Repeat("x", 300) + "\n", "a\rb\n", "\n\n\n", "SIZE a\nDELE b\r\n", "a\r\r\n\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		r := NewReader(bytes.NewReader(in), max)
		var got []string
		tooLong := false
		for i := 0; i <= len(in); i++ {
			line, err := r.ReadLine()
			if err != nil {
				if errors.Is(err, ErrLineTooLong) {
					tooLong = true
					continue
				}
				break
			}
			if len(line) > max {
				t.Fatalf("line of %d bytes over the cap", len(line))
			}
			got = append(got, string(line))
		}
		if tooLong || bytes.IndexByte(in, iac) >= 0 {
			return
		}
		want := strings.Split(string(in), "\r\n")
		want = want[:len(want)-1] // what follows the last CR LF is no line
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	line := []byte("RETR some/folder/file name.bin")
	b.ReportAllocs()
	for b.Loop() {
		Parse(line)
	}
}

func BenchmarkReadLine(b *testing.B) {
	in := bytes.Repeat([]byte("RETR some/folder/file name.bin\r\n"), 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(in), 0)
		for {
			if _, err := r.ReadLine(); err != nil {
				break
			}
		}
	}
}

// Release gives the buffer back only when it holds nothing: pipelined
// commands survive it, and reading goes on after it.
func TestReleaseKeepsPipelinedLinesAndReadingGoesOn(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr, 0)
	go pw.Write([]byte("NOOP\r\nPWD\r\n"))
	for _, want := range []string{"NOOP", "PWD"} {
		line, err := r.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", line, err, want)
		}
		r.Release() // after NOOP "PWD" is buffered and must stay
	}
	if r.Buffered() != 0 || r.br != nil {
		t.Fatal("an empty reader kept its buffer after Release")
	}
	go func() { pw.Write([]byte("STOR " + strings.Repeat("x", 2000) + "\r\nQUIT\r\n")); pw.Close() }()
	line, err := r.ReadLine()
	if err != nil || len(line) != 2005 {
		t.Fatalf("long line after Release: %d bytes, %v", len(line), err)
	}
	r.Release()
	if r.buf != nil {
		t.Fatalf("Release kept a %d-byte line buffer", cap(r.buf))
	}
	if line, err := r.ReadLine(); err != nil || string(line) != "QUIT" {
		t.Fatalf("after a long line: %q, %v", line, err)
	}
	if _, err := r.ReadLine(); err != io.EOF {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}
