package share

import (
	"context"
	"errors"
	"io"

	"github.com/wharfftp/wharf/internal/vfs"
)

// seekReader serves a download to http.ServeContent, which seeks (to learn
// the size, to serve a range): a local file is itself a ReadSeeker (and
// keeps sendfile), any other storage is read again from the new offset on
// the first Read after a Seek (a ranged GET on an object store).
type seekReader struct {
	ctx  context.Context
	st   vfs.Storage
	name string
	r    vfs.Reader // open at rpos; nil after a failed reopen
	rpos int64
	pos  int64
	size int64
	os   io.ReadSeeker // the local file, when there is one
}

func newSeekReader(ctx context.Context, st vfs.Storage, name string, r vfs.Reader) *seekReader {
	s := &seekReader{ctx: ctx, st: st, name: name, r: r, size: r.Info().Size()}
	if of, ok := r.(vfs.OSFiler); ok {
		s.os = of.OSFile()
	}
	return s
}

func (s *seekReader) Read(p []byte) (int, error) {
	if s.os != nil {
		return s.os.Read(p)
	}
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if s.r == nil || s.rpos != s.pos {
		if s.r != nil {
			s.r.Close()
			s.r = nil
		}
		r, err := s.st.OpenRead(s.ctx, s.name, s.pos)
		if err != nil {
			return 0, err
		}
		s.r, s.rpos = r, s.pos
	}
	n, err := s.r.Read(p)
	s.rpos += int64(n)
	s.pos += int64(n)
	return n, err
}

func (s *seekReader) Seek(off int64, whence int) (int64, error) {
	if s.os != nil {
		return s.os.Seek(off, whence)
	}
	switch whence {
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += s.size
	}
	if off < 0 {
		return 0, errors.New("share: seek before the start")
	}
	s.pos = off
	return off, nil
}

func (s *seekReader) Close() error {
	if s.r == nil {
		return nil
	}
	return s.r.Close()
}
