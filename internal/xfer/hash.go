package xfer

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"strings"
)

// ErrUnknownAlgorithm means Hash was asked for an algorithm not in
// Algorithms().
var ErrUnknownAlgorithm = errors.New("unknown hash algorithm")

// ErrBadRange means a Hash range that starts before 0 or ends before it
// starts.
var ErrBadRange = errors.New("invalid byte range")

// Algorithms returns the checksum algorithms Hash knows, strongest first: the
// order the engine advertises in FEAT ("HASH SHA-256*;SHA-512;...") and the
// names of draft-bryan-ftpext-hash.
func Algorithms() []string {
	return []string{"SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"}
}

func newHash(algo string) (hash.Hash, string, error) {
	switch strings.ToUpper(algo) {
	case "SHA-256":
		return sha256.New(), "SHA-256", nil
	case "SHA-512":
		return sha512.New(), "SHA-512", nil
	case "SHA-1":
		return sha1.New(), "SHA-1", nil
	case "MD5":
		return md5.New(), "MD5", nil
	case "CRC32":
		// IEEE, as XCRC clients and zip expect; Sum gives the 4 bytes big
		// endian, so hex of it is the usual 8 digits.
		return crc32.NewIEEE(), "CRC32", nil
	}
	return nil, "", fmt.Errorf("%w %q", ErrUnknownAlgorithm, algo)
}

// Hash returns the lowercase hex digest of f's bytes in [start, end) with the
// named algorithm (case-insensitive; see Algorithms). end < 0 means to the
// end of the file: its size is taken from f's Stat method when it has one,
// otherwise f is read until io.EOF. A range reaching past the end of the file
// is hashed up to the end. ctx is checked before each buffer, so a long hash
// stops promptly on ABOR or QUIT.
func Hash(ctx context.Context, algo string, f io.ReaderAt, start, end int64) (string, error) {
	h, name, err := newHash(algo)
	if err != nil {
		return "", err
	}
	if start < 0 || (end >= 0 && end < start) {
		return "", fmt.Errorf("%s of [%d, %d): %w", name, start, end, ErrBadRange)
	}
	if end < 0 {
		if s, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
			fi, err := s.Stat()
			if err != nil {
				return "", fmt.Errorf("%s: stat: %w", name, err)
			}
			end = fi.Size()
			if end < start {
				return "", fmt.Errorf("%s of [%d, EOF=%d): %w", name, start, end, ErrBadRange)
			}
		}
	}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for off := start; end < 0 || off < end; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		p := buf
		if end >= 0 && int64(len(p)) > end-off {
			p = p[:end-off]
		}
		n, err := f.ReadAt(p, off)
		h.Write(p[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: read at %d: %w", name, off, err)
		}
		if n == 0 {
			return "", fmt.Errorf("%s: read at %d: %w", name, off, io.ErrNoProgress)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashReader returns the lowercase hex digest of the next n bytes of r (n
// < 0: up to io.EOF) with the named algorithm, for a storage that reads
// from an offset rather than at one. Fewer than n bytes before io.EOF
// hash what there was. ctx is checked before each buffer.
func HashReader(ctx context.Context, algo string, r io.Reader, n int64) (string, error) {
	h, name, err := newHash(algo)
	if err != nil {
		return "", err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for n != 0 {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		p := buf
		if n > 0 && int64(len(p)) > n {
			p = p[:n]
		}
		m, err := r.Read(p)
		h.Write(p[:m])
		if n > 0 {
			n -= int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: read: %w", name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
