package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// retrData opens an EPSV data connection, sends cmd and returns what came
// over it and the final reply code.
func retrData(t *testing.T, r *raw, host, cmd string) ([]byte, int) {
	t.Helper()
	msg := r.must("EPSV", 229)
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	port, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		t.Fatalf("EPSV reply %q", msg)
	}
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	code, text := r.send(cmd)
	if code != 150 && code != 125 {
		return nil, code
	}
	dc.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(dc)
	if err != nil {
		t.Fatalf("%s: read data: %v (%s)", cmd, err, text)
	}
	code, _ = r.read()
	return b, code
}

// Regression (HASH/RANG deviated from draft-bryan-ftpext-hash and
// draft-bryan-ftp-range): the HASH reply's range end was exclusive, RANG 1 0
// was refused with 501 instead of resetting, RETR ignored RANG although FEAT
// advertised RANG STREAM, OPTS HASH FOO was 504 and HASH of a folder 550.
func TestHashAndRangFollowTheDrafts(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	data := randomBytes(t, 5000)
	writeFile(t, filepath.Join(home, "f5k"), data)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	host, _ := hostPort(t, srv.Addr)

	if msg := r.must("FEAT", 211); !strings.Contains(msg, "RANG STREAM") {
		t.Fatalf("FEAT lacks RANG STREAM:\n%s", msg)
	}
	if msg, want := r.must("HASH f5k", 213), fmt.Sprintf("SHA-256 0-4999 %s f5k", sum(data)); msg != want {
		t.Errorf("HASH of a 5000-byte file = %q, want %q", msg, want)
	}
	r.must("RANG 0 99", 350)
	if msg, want := r.must("HASH f5k", 213), fmt.Sprintf("SHA-256 0-99 %s f5k", sum(data[:100])); msg != want {
		t.Errorf("HASH after RANG 0 99 = %q, want %q", msg, want)
	}
	// The range lasted one HASH.
	if msg := r.must("HASH f5k", 213); !strings.HasPrefix(msg, "SHA-256 0-4999 ") {
		t.Errorf("second HASH = %q, want the whole file", msg)
	}
	// RANG 1 0 resets.
	r.must("RANG 10 20", 350)
	r.must("RANG 1 0", 350)
	if msg := r.must("HASH f5k", 213); !strings.HasPrefix(msg, "SHA-256 0-4999 ") {
		t.Errorf("HASH after RANG 1 0 = %q, want the whole file", msg)
	}
	r.must("RANG 20 10", 501)
	r.must("RANG -1 10", 501)

	// RETR after RANG sends end-start+1 bytes, then the range is gone.
	r.must("TYPE I", 200)
	r.must("RANG 100 199", 350)
	got, code := retrData(t, r, host, "RETR f5k")
	if code != 226 || !bytes.Equal(got, data[100:200]) {
		t.Errorf("RETR after RANG 100 199: %d bytes, reply %d; want bytes 100..199 (100) and 226", len(got), code)
	}
	got, code = retrData(t, r, host, "RETR f5k")
	if code != 226 || !bytes.Equal(got, data) {
		t.Errorf("RETR after a ranged RETR: %d bytes, reply %d; want the whole file", len(got), code)
	}
	// An end past the file stops at its end; a start past it is refused.
	r.must("RANG 4990 9999", 350)
	if got, code = retrData(t, r, host, "RETR f5k"); code != 226 || !bytes.Equal(got, data[4990:]) {
		t.Errorf("RETR after RANG 4990 9999: %d bytes, reply %d; want the last 10", len(got), code)
	}
	r.must("RANG 5000 5001", 350)
	if _, code = retrData(t, r, host, "RETR f5k"); code != 554 {
		t.Errorf("RETR with a range past the end: reply %d, want 554", code)
	}
	// An upload is not ranged: refused rather than written whole.
	r.must("RANG 0 9", 350)
	if _, code = retrData(t, r, host, "STOR up"); code != 503 {
		t.Errorf("STOR after RANG: reply %d, want 503", code)
	}
	r.must("RANG 1 0", 350)

	r.must("OPTS HASH FOO", 501)
	r.must("MKD dir", 257)
	r.must("HASH dir", 553)
	r.must("HASH /", 553)
	r.must("HASH nope", 550)
}
