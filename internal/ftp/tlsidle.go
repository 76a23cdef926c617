package ftp

import (
	"crypto/tls"
	"net"
)

// An idle TLS session should cost what an idle plain one does: no read
// buffer and a small goroutine stack, the reader parked on the socket
// (waitReadable) rather than inside crypto/tls. Blocking in tls.Conn.Read
// holds the reader's pooled buffer and a deep call chain, so the goroutine
// stack that the handshake grew can never shrink back.
//
// Waiting on the socket is only correct when crypto/tls holds nothing it
// has already read: neither plaintext of a record (tls.Conn keeps what did
// not fit the caller's buffer) nor the start of a record it has not
// processed. crypto/tls does not say, so the control connection keeps both
// countable: recordConn hands it at most one record per Read, and
// ctrlTLS notes whether the last Read emptied its plaintext.

// recordConn is the raw connection under a TLS control connection. Its
// Read never returns bytes past the end of the TLS record it is in, so
// crypto/tls, which consumes whole records, holds no raw bytes once a
// record is processed. (It costs a second read system call per record: the
// 5-byte header, then the body; control records are commands.)
type recordConn struct {
	*net.TCPConn
	hdr  [5]byte
	nhdr int // header bytes read of the current record
	rem  int // body bytes of the current record still to read
}

func (c *recordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.TCPConn.Read(p)
	}
	if c.nhdr < len(c.hdr) {
		p = p[:min(len(p), len(c.hdr)-c.nhdr)]
		n, err := c.TCPConn.Read(p)
		copy(c.hdr[c.nhdr:], p[:n])
		c.nhdr += n
		if c.nhdr == len(c.hdr) {
			c.rem = int(c.hdr[3])<<8 | int(c.hdr[4])
			if c.rem == 0 {
				c.nhdr = 0
			}
		}
		return n, err
	}
	p = p[:min(len(p), c.rem)]
	n, err := c.TCPConn.Read(p)
	c.rem -= n
	if c.rem == 0 {
		c.nhdr = 0
	}
	return n, err
}

// betweenRecords reports whether every record read so far was read whole.
func (c *recordConn) betweenRecords() bool { return c.nhdr == 0 }

// ctrlTLS is a TLS control connection as the command reader's source.
// Reader goroutine only.
type ctrlTLS struct {
	tc  *tls.Conn
	raw *recordConn
	// drained says the last Read returned less than it was asked for, so
	// crypto/tls had no plaintext left (it returns one record's data per
	// Read, as much as fits).
	drained bool
}

func (c *ctrlTLS) Read(p []byte) (int, error) {
	n, err := c.tc.Read(p)
	c.drained = n < len(p)
	return n, err
}

// idle returns the socket to wait on for the next command when crypto/tls
// holds none of its bytes, else nil.
func (c *ctrlTLS) idle() *net.TCPConn {
	if c.drained && c.raw.betweenRecords() {
		return c.raw.TCPConn
	}
	return nil
}

// serverTLS starts the TLS server side of the control connection (AUTH TLS
// or implicit FTPS); setConn(tc) after the handshake makes it the
// session's.
func (ss *session) serverTLS(conf *tls.Config) *tls.Conn {
	tcp, ok := ss.conn.(*net.TCPConn)
	if !ok {
		// A PROXY-protocol connection, say: no socket to wait on, the
		// reader waits inside crypto/tls.
		ss.ctls = nil
		return tls.Server(ss.conn, conf)
	}
	raw := &recordConn{TCPConn: tcp}
	tc := tls.Server(raw, conf)
	// Nothing buffered after the handshake: it reads the client's last
	// handshake record and no further (recordConn).
	ss.ctls = &ctrlTLS{tc: tc, raw: raw, drained: true}
	return tc
}
