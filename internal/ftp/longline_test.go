package ftp_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (a 1 MiB line with no CRLF was answered "421 Timeout" after
// the idle timeout): it is refused with 500 as soon as it passes the cap,
// and the session is closed after repeated abuse.
func TestUnterminatedHugeLineGets500ThenClose(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	go r.c.Write(bytes.Repeat([]byte("x"), 1<<20)) // never a line end
	start := time.Now()
	code, msg := r.read()
	if code != 500 || !strings.Contains(strings.ToLower(msg), "too long") {
		t.Fatalf("first reply %d %q, want 500 line too long", code, msg)
	}
	var last int
	for {
		c, _ := r.read()
		if c != 500 {
			last = c
			break
		}
	}
	if last != 421 || !r.closed() {
		t.Fatalf("after repeated long lines: reply %d, want 421 and a closed connection", last)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v: waited for a timeout instead of refusing", el)
	}
}
