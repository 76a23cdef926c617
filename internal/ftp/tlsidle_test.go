package ftp_test

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldConn queues the client's TLS records while hold is set, so a test
// can send several records in one segment, or one record in pieces.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *heldConn) start() {
	h.mu.Lock()
	h.hold = true
	h.mu.Unlock()
}

// release writes what was queued, cut at the given offsets (one write
// per piece), and stops queueing.
func (h *heldConn) release(t *testing.T, cuts ...int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buf
	h.buf, h.hold = nil, false
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if _, err := h.Conn.Write(b[prev:c]); err != nil {
			t.Fatal(err)
		}
		prev = c
	}
}

// The command reader of a TLS session waits on the socket between
// commands (no buffer, a small stack); whatever crypto/tls has already
// read must still be read first. Every way commands can be packed into
// records and segments gets every reply, on explicit and implicit FTPS.
func TestTLSControlCommandsInAnyRecordLayout(t *testing.T) {
	srv, _ := tlsServer(t, true)
	for _, implicit := range []bool{false, true} {
		name := map[bool]string{false: "explicit", true: "implicit"}[implicit]
		t.Run(name, func(t *testing.T) {
			var h *heldConn
			var r *raw
			if implicit {
				c, err := net.Dial("tcp", srv.ImplicitAddr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(20 * time.Second))
				h = &heldConn{Conn: c}
				r = newRaw(t, tls.Client(h, srv.ClientTLS()))
				r.expect(220)
			} else {
				r0 := dialRaw(t, srv.Addr)
				r0.must("AUTH TLS", 234)
				h = &heldConn{Conn: r0.c}
				tc := tls.Client(h, srv.ClientTLS())
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				r = newRaw(t, tc)
			}
			tc := r.c.(*tls.Conn)
			r.must("PBSZ 0", 200)
			r.must("PROT P", 200)
			r.login("alice", "secret")
			write := func(s string) {
				t.Helper()
				if _, err := tc.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			expect := func(codes ...int) {
				t.Helper()
				for _, c := range codes {
					r.expect(c)
				}
			}

			// Three commands in one record.
			write("NOOP\r\nPWD\r\nNOOP\r\n")
			expect(200, 257, 200)

			// Three records in one segment.
			h.start()
			write("NOOP\r\n")
			write("PWD\r\n")
			write("NOOP\r\n")
			h.release(t)
			expect(200, 257, 200)

			// One command over two records, in one segment and in two.
			h.start()
			write("NO")
			write("OP\r\n")
			h.release(t)
			expect(200)
			write("PW")
			write("D\r\n")
			expect(257)

			// A record cut inside its header, then inside its body.
			h.start()
			write("NOOP\r\n")
			h.release(t, 3)
			expect(200)
			h.start()
			write("PWD\r\nNOOP\r\n")
			h.release(t, 9)
			expect(257, 200)

			// Lines longer than the reader's buffer, more of the record
			// behind them: crypto/tls keeps what did not fit. The first
			// ends exactly where the reader's first 512 bytes do.
			write("SIZE " + strings.Repeat("b", 505) + "\r\nNOOP\r\n")
			expect(550, 200)
			long := "SIZE " + strings.Repeat("a", 3000)
			write(long + "\r\nNOOP\r\n" + long + "\r\nPWD\r\n")
			expect(550, 200, 550, 257)
			h.start()
			write(long + "\r\n")
			write("NOOP\r\n")
			h.release(t)
			expect(550, 200)

			// And an idle session still answers.
			r.must("NOOP", 200)
			r.must("QUIT", 221)
		})
	}
}
