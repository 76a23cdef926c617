package client

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// hashMethod is how to ask the server for a checksum.
type hashMethod struct {
	Algo string // "SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"
	Cmd  string // "HASH" or the X-command (XSHA256, ...)
}

var hashPreference = []string{"SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"}

var xCommands = []hashMethod{
	{"SHA-256", "XSHA256"}, {"SHA-512", "XSHA512"}, {"SHA-1", "XSHA1"}, {"MD5", "XMD5"}, {"CRC32", "XCRC"},
}

func (m hashMethod) key() string { return m.Cmd + " " + m.Algo }

// bestHash picks the strongest checksum the server offers: HASH
// (draft-bryan-ftpext-hash) first, then the X-commands, nil if none.
// Methods the server refused as not implemented are skipped.
func (c *Conn) bestHash() *hashMethod {
	if v, ok := c.feat["HASH"]; ok {
		offered := map[string]bool{}
		for _, a := range strings.Split(v, ";") {
			offered[strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(a), "*"))] = true
		}
		for _, a := range hashPreference {
			if m := (hashMethod{Algo: a, Cmd: "HASH"}); offered[a] && !c.noHash["HASH"] && !c.noHash[m.key()] {
				return &m
			}
		}
	}
	for _, x := range xCommands {
		if c.Has(x.Cmd) && !c.noHash[x.Cmd] {
			return &x
		}
	}
	return nil
}

// HashAlgo names the checksum that Hash will try first, "" when the server
// offers none.
func (c *Conn) HashAlgo() string {
	if m := c.bestHash(); m != nil {
		return m.Algo
	}
	return ""
}

// Hash asks the server for the checksum of a whole remote file, with the
// strongest algorithm it offers; a method FEAT listed but the server
// refuses as not implemented (500, 502, 504) is dropped for this
// connection and the next one tried. sum is lower-case hex; algo says which
// checksum it is.
func (c *Conn) Hash(ctx context.Context, name string) (algo, sum string, err error) {
	for {
		m := c.bestHash()
		if m == nil {
			if err == nil {
				err = fmt.Errorf("checksum of %s: server offers no HASH or X-checksum command", name)
			}
			return "", "", err
		}
		sum, err = c.hashWith(ctx, *m, name)
		if err == nil {
			return m.Algo, sum, nil
		}
		if KindOf(err) != KindUnsupported || c.broken != nil {
			return "", "", err
		}
	}
}

// hashWith runs one method. A refusal as not implemented is remembered:
// of OPTS HASH, for that algorithm; of the command, for all its algorithms.
func (c *Conn) hashWith(ctx context.Context, m hashMethod, name string) (string, error) {
	refused := func(key string, err error) error {
		if KindOf(err) == KindUnsupported {
			if c.noHash == nil {
				c.noHash = map[string]bool{}
			}
			c.noHash[key] = true
		}
		return err
	}
	if m.Cmd == "HASH" {
		if !c.hashSet || c.hash != m.Algo {
			if err := c.expect(ctx, 2, "OPTS HASH "+m.Algo); err != nil {
				return "", refused(m.key(), fmt.Errorf("select %s: %w", m.Algo, err))
			}
			c.hash, c.hashSet = m.Algo, true
		}
	}
	line := m.Cmd + " " + name
	code, msg, err := c.cmd(ctx, line)
	if err != nil {
		return "", err
	}
	if code/100 != 2 || m.Cmd == "HASH" && code != 213 {
		return "", refused(m.Cmd, &Error{Code: code, Msg: msg})
	}
	sum, ok := parseHashReply(m.Algo, m.Cmd == "HASH", msg)
	if !ok {
		return "", fmt.Errorf("%s: bad reply %q", line, msg)
	}
	return sum, nil
}

// parseHashReply finds the checksum in a reply's text: the third field of
// HASH's "SHA-256 0-1234 <hex> <name>" (draft-bryan-ftpext-hash), else the
// first field of an X-command's free-form reply that is hex of exactly the
// algorithm's digest length (so a file name or a range is never taken for
// it). The sum is lower-case hex.
func parseHashReply(algo string, hashCmd bool, msg string) (string, bool) {
	h, err := NewHash(algo)
	if err != nil {
		return "", false
	}
	want := 2 * h.Size()
	f := strings.Fields(msg)
	if hashCmd {
		if len(f) < 3 || len(f[2]) != want || !isHex(f[2]) {
			return "", false
		}
		return strings.ToLower(f[2]), true
	}
	for _, s := range f {
		if len(s) == want && isHex(s) {
			return strings.ToLower(s), true
		}
	}
	return "", false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) > 0
}

// NewHash returns a hash for one of the algorithm names Hash reports.
func NewHash(algo string) (hash.Hash, error) {
	switch algo {
	case "SHA-256":
		return sha256.New(), nil
	case "SHA-512":
		return sha512.New(), nil
	case "SHA-1":
		return sha1.New(), nil
	case "MD5":
		return md5.New(), nil
	case "CRC32":
		return crc32.NewIEEE(), nil
	}
	return nil, fmt.Errorf("unknown checksum %q", algo)
}

// FileHash computes the checksum of a local file as lower-case hex.
func FileHash(algo, name string) (string, error) {
	h, err := NewHash(algo)
	if err != nil {
		return "", err
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
