package xfer

import (
	"bytes"
	"io"
)

// crlfBufSize is the input buffer of a line-ending converter: allocated once
// per transfer, so Read itself never allocates.
const crlfBufSize = 32 << 10

// ToCRLF returns a reader of r with every LF not already preceded by CR
// turned into CRLF: the network form of TYPE A (RFC 959 section 3.1.1.1) for
// RETR. A lone CR passes unchanged. A CRLF split between two reads of r is
// still recognised.
func ToCRLF(r io.Reader) io.Reader {
	return &toCRLF{r: r, buf: make([]byte, crlfBufSize)}
}

type toCRLF struct {
	r          io.Reader
	buf        []byte
	start, end int   // unread input is buf[start:end]
	err        error // from r, returned once the input is drained
	prevCR     bool  // the last input byte passed on was CR
	pendingLF  bool  // the CR of an inserted CRLF went out, its LF did not
}

func (t *toCRLF) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if t.pendingLF {
		p[0] = '\n'
		n = 1
		t.pendingLF = false
	}
	for n < len(p) {
		if t.start == t.end {
			// Hand out what we have rather than block for more.
			if t.err != nil || n > 0 {
				break
			}
			m, err := t.r.Read(t.buf)
			t.start, t.end, t.err = 0, m, err
			if m == 0 && err == nil {
				return 0, nil
			}
			continue
		}
		in := t.buf[t.start:t.end]
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			i = len(in)
		}
		c := copy(p[n:], in[:i])
		if c > 0 {
			n += c
			t.start += c
			t.prevCR = in[c-1] == '\r'
		}
		if c < i || i == len(in) || n == len(p) {
			continue
		}
		// in[i] is an LF and p has room for at least one byte.
		t.start++
		if t.prevCR {
			p[n] = '\n'
			n++
		} else {
			p[n] = '\r'
			n++
			if n < len(p) {
				p[n] = '\n'
				n++
			} else {
				t.pendingLF = true
			}
		}
		t.prevCR = false
	}
	if n == 0 && t.start == t.end && t.err != nil {
		return 0, t.err
	}
	return n, nil
}

// FromCRLF returns a reader of r with every CRLF turned into LF: the local
// form of a TYPE A upload (STOR). A CR not followed by LF passes unchanged,
// including one at the very end. A CRLF split between two reads of r is still
// recognised.
func FromCRLF(r io.Reader) io.Reader {
	return &fromCRLF{r: r, buf: make([]byte, crlfBufSize)}
}

type fromCRLF struct {
	r          io.Reader
	buf        []byte
	start, end int   // unread input is buf[start:end]
	err        error // from r, returned once the input is drained
	pendingCR  bool  // a CR was consumed; the next byte decides its fate
}

func (f *fromCRLF) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for n < len(p) {
		if f.start == f.end {
			if f.err != nil {
				if f.pendingCR {
					p[n] = '\r'
					n++
					f.pendingCR = false
					continue
				}
				break
			}
			if n > 0 {
				break
			}
			m, err := f.r.Read(f.buf)
			f.start, f.end, f.err = 0, m, err
			if m == 0 && err == nil {
				return 0, nil
			}
			continue
		}
		if f.pendingCR {
			f.pendingCR = false
			if f.buf[f.start] == '\n' {
				f.start++
				p[n] = '\n'
			} else {
				p[n] = '\r'
			}
			n++
			continue
		}
		in := f.buf[f.start:f.end]
		i := bytes.IndexByte(in, '\r')
		if i < 0 {
			i = len(in)
		}
		c := copy(p[n:], in[:i])
		n += c
		f.start += c
		if c == i && i < len(in) {
			f.start++
			f.pendingCR = true
		}
	}
	if n == 0 && f.start == f.end && f.err != nil {
		return 0, f.err
	}
	return n, nil
}
