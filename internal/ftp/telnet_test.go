package ftp_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// A TCP balancer (HAProxy) drops urgent data: the IP and Synch a client
// sends before ABOR arrive as plain IAC IP IAC DM bytes in the stream. The
// line must still abort the transfer, and Telnet codes before any other
// command must not change it.
func TestTelnetPrefixedCommandsWithoutUrgentData(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	bigSparse(t, filepath.Join(home, "huge"), 8<<30)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("\xff\xfd\x01\xff\xfa\x18\x01\xff\xf0TYPE I", 200) // IAC DO ECHO, IAC SB TTYPE SEND IAC SE
	dc := dataConn(t, r)
	r.must("RETR huge", 150)
	if _, err := io.ReadFull(dc, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading data: %v", err)
	}
	if msg := r.must("\xff\xf4\xff\xf2STAT", 211); !strings.Contains(msg, "Sending") {
		t.Errorf("STAT during the transfer: %q", msg)
	}
	start := time.Now()
	if _, err := r.c.Write([]byte("\xff\xf4\xff\xf2ABOR\r\n")); err != nil { // no MSG_OOB
		t.Fatal(err)
	}
	r.expect(426)
	r.expect(226)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ABOR took %v", d)
	}
	r.must("\xff\xf1NOOP", 200) // IAC NOP
}
