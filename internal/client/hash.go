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

// bestHash picks the strongest checksum the server offers: HASH
// (draft-bryan-ftpext-hash) first, then the X-commands, nil if none.
func (c *Conn) bestHash() *hashMethod {
	if v, ok := c.feat["HASH"]; ok {
		offered := map[string]bool{}
		for _, a := range strings.Split(v, ";") {
			offered[strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(a), "*"))] = true
		}
		for _, a := range hashPreference {
			if offered[a] {
				return &hashMethod{Algo: a, Cmd: "HASH"}
			}
		}
	}
	for _, x := range xCommands {
		if c.Has(x.Cmd) {
			return &x
		}
	}
	return nil
}

// HashAlgo names the checksum that Hash will use, "" when the server offers none.
func (c *Conn) HashAlgo() string {
	if m := c.bestHash(); m != nil {
		return m.Algo
	}
	return ""
}

// Hash asks the server for the checksum of a whole remote file, with the
// strongest algorithm it offers. sum is lower-case hex.
func (c *Conn) Hash(ctx context.Context, name string) (algo, sum string, err error) {
	m := c.bestHash()
	if m == nil {
		return "", "", fmt.Errorf("checksum of %s: server offers no HASH or X-checksum command", name)
	}
	if m.Cmd == "HASH" {
		if !c.hashSet || c.hash != m.Algo {
			if err := c.expect(ctx, 2, "OPTS HASH "+m.Algo); err != nil {
				return "", "", fmt.Errorf("select %s: %w", m.Algo, err)
			}
			c.hash, c.hashSet = m.Algo, true
		}
		code, msg, err := c.cmd(ctx, "HASH "+name)
		if err != nil {
			return "", "", err
		}
		if code != 213 {
			return "", "", &Error{Code: code, Msg: msg}
		}
		sum, ok := parseHashReply(m.Algo, true, msg)
		if !ok {
			return "", "", fmt.Errorf("HASH %s: bad reply %q", name, msg)
		}
		return m.Algo, sum, nil
	}
	code, msg, err := c.cmd(ctx, m.Cmd+" "+name)
	if err != nil {
		return "", "", err
	}
	if code/100 != 2 {
		return "", "", &Error{Code: code, Msg: msg}
	}
	sum, ok := parseHashReply(m.Algo, false, msg)
	if !ok {
		return "", "", fmt.Errorf("%s %s: bad reply %q", m.Cmd, name, msg)
	}
	return m.Algo, sum, nil
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
