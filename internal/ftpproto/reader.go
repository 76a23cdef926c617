package ftpproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// DefaultMaxLine is the command line cap vsftpd uses (VSFTP_MAX_COMMAND_LINE):
// long enough for any real path, short enough that a client cannot make the
// server hold megabytes per connection.
const DefaultMaxLine = 4096

// ErrLineTooLong is returned for a line longer than the reader's cap, as
// soon as the cap is passed: a client that never sends the line's end must
// not be able to make the server wait for it. The rest of the line, up to
// its end, is skipped and the line after it is read normally; ReadLine
// returns ErrLineTooLong again for every skipLines caps' worth of the same
// line, so a server counting refused lines closes a connection that keeps
// sending one.
var ErrLineTooLong = errors.New("ftpproto: command line too long")

// Reader reads CRLF-terminated command lines, never buffering more than its
// cap for one line. Only CR LF ends a line (RFC 959 section 4.1.3, as
// ProFTPD and vsftpd read): a bare LF or CR stays in the line, where Parse
// refuses it. Ending a line at a bare LF would let "SIZE a\nDELE b", a
// name with a line feed, run a second command. Telnet IAC sequences (RFC
// 959 requires a server to cope with the IP and Synch a client sends
// before ABOR) are removed.
type Reader struct {
	src io.Reader
	br  *bufio.Reader // nil after Release until the next ReadLine
	max int
	buf []byte // reused across lines; grows to at most max
	// skip is set while the rest of a refused line is being skipped; skipped
	// counts its bytes since the last ErrLineTooLong.
	skip    bool
	skipped int
	// cr says the last byte read while skipping was a CR, so an LF at the
	// start of the next fragment ends the skipped line.
	cr bool
}

// skipLines is how many caps' worth of one over-long line count as one more
// refused line: a single long line (a client's bug) costs one refusal,
// megabytes without a line end (abuse) cost several.
const skipLines = 64

// smallBuf keeps idle sessions cheap: a command line is usually a few dozen
// bytes, and longer ones are assembled in buf.
const smallBuf = 512

// keepLine is the line buffer Release keeps; a longer one (after a long
// path) goes back to the garbage collector.
const keepLine = 128

// NewReader returns a Reader on r capping lines at max bytes (DefaultMaxLine
// if max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &Reader{src: r, max: max}
}

// Buffered reports how many bytes were read from the connection but not yet
// returned. A server must see zero before upgrading to TLS, or a plaintext
// command smuggled behind AUTH TLS would run as if it had been encrypted.
func (r *Reader) Buffered() int {
	if r.br == nil {
		return 0
	}
	return r.br.Buffered()
}

// Release returns the read buffer to a pool shared by all Readers when it
// holds nothing, so a connection waiting for its next command holds no
// buffer (a server with 10,000 idle sessions would otherwise hold 10,000).
// The next ReadLine takes a buffer again. The last line returned is no
// longer valid.
func (r *Reader) Release() {
	if r.br != nil && r.br.Buffered() == 0 {
		r.br.Reset(nil)
		readers.Put(r.br)
		r.br = nil
	}
	if cap(r.buf) > keepLine {
		r.buf = nil
	}
}

// readers pools read buffers; its only state is spare memory, so it is the
// package's one variable besides its sentinel errors.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, smallBuf) }}

// ReadLine returns the next line without its terminator. The returned slice
// is valid until the next call.
func (r *Reader) ReadLine() ([]byte, error) {
	if r.br == nil {
		r.br = readers.Get().(*bufio.Reader)
		r.br.Reset(r.src)
	}
	r.buf = r.buf[:0]
	limit := r.max + 2 // +2: the CRLF itself is free
	for {
		frag, err := r.br.ReadSlice('\n')
		if r.skip {
			r.skipped += len(frag)
			crlf := err == nil && (len(frag) >= 2 && frag[len(frag)-2] == '\r' || len(frag) == 1 && r.cr)
			r.cr = len(frag) > 0 && frag[len(frag)-1] == '\r'
			switch {
			case crlf:
				r.skip, r.skipped, r.cr = false, 0, false
				continue // the refused line is over: read the next one
			case err == nil:
				continue // a bare LF: still the refused line
			case errors.Is(err, bufio.ErrBufferFull):
				if r.skipped > skipLines*limit {
					r.skipped = 0
					return nil, ErrLineTooLong
				}
				continue
			default:
				r.skip, r.skipped, r.cr = false, 0, false
				return nil, err
			}
		}
		if len(r.buf)+len(frag) > limit {
			crlf := err == nil && r.endsCRLF(frag)
			r.buf = r.buf[:0]
			if crlf {
				return nil, ErrLineTooLong // its end came with it
			}
			if err == nil || errors.Is(err, bufio.ErrBufferFull) {
				r.skip = true
				r.cr = frag[len(frag)-1] == '\r'
				return nil, ErrLineTooLong
			}
			return nil, err
		}
		r.buf = append(r.buf, frag...)
		switch {
		case err == nil && !r.endsCRLF(nil):
			continue // a bare LF is part of the line
		case err == nil:
			line := r.finish()
			if len(line) > r.max {
				return nil, ErrLineTooLong
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(r.buf) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// endsCRLF reports whether r.buf followed by frag ends in CR LF.
func (r *Reader) endsCRLF(frag []byte) bool {
	n := len(frag)
	switch {
	case n >= 2:
		return frag[n-2] == '\r' && frag[n-1] == '\n'
	case n == 1:
		return frag[0] == '\n' && len(r.buf) > 0 && r.buf[len(r.buf)-1] == '\r'
	}
	return bytes.HasSuffix(r.buf, []byte("\r\n"))
}

// finish strips the CR LF terminator and Telnet sequences in place.
func (r *Reader) finish() []byte {
	b := r.buf[:len(r.buf)-2]
	if bytes.IndexByte(b, iac) < 0 {
		return b
	}
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != iac {
			out = append(out, c)
			continue
		}
		if i+1 >= len(b) {
			break
		}
		i++
		switch b[i] {
		case iac: // escaped 0xFF
			out = append(out, iac)
		case will, wont, do, dont: // option negotiation: skip the option byte
			i++
		case sb: // subnegotiation: skip through IAC SE
			for i++; i < len(b) && !(b[i] == se && b[i-1] == iac); i++ {
			}
		}
	}
	return out
}

// Telnet bytes (RFC 854).
const (
	iac  = 0xFF
	sb   = 0xFA
	se   = 0xF0
	will = 0xFB
	wont = 0xFC
	do   = 0xFD
	dont = 0xFE
)
