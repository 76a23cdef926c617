// Package tlsconf owns wharf's TLS policy for FTPS: which versions and cipher
// suites the server speaks, the ALPN identity that defends against
// cross-protocol attacks (ALPACA), the self-signed certificate used when the
// admin supplies none, the fingerprint format users compare for
// trust-on-first-use, and the check that a data connection resumed the TLS
// session of its control connection.
//
// It must never weaken that policy for a caller (no InsecureSkipVerify, no TLS
// below 1.2, no CBC or RSA key exchange suites), never log or return private
// key material, and never speak FTP itself: the engine decides when to
// handshake and what to do when a check fails.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ALPN is the application protocol the server announces and requires from
// clients that announce any: the IANA ALPN protocol ID registered for FTP
// (references RFC 959 and RFC 4217).
const ALPN = "ftp"

// CipherSuites12 returns the TLS 1.2 suites we accept: forward-secret ECDHE
// with an AEAD only. TLS 1.3 suites are not configurable in crypto/tls and are
// all AEAD already. Both ECDSA and RSA variants are listed because an admin's
// own certificate may carry either key type. A fresh slice each call, so no
// caller can change another's policy.
func CipherSuites12() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ServerConfig loads a PEM certificate chain and key and returns the hardened
// server configuration around them.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return hardened(cert), nil
}

// hardened is the one place the server policy is written down.
//
// ALPACA: with NextProtos set, crypto/tls aborts the handshake with a
// no_application_protocol alert when the client offers ALPN protocols and none
// of them is "ftp", so a browser tricked into talking HTTPS to our port cannot
// complete a handshake. Clients that offer no ALPN at all (most FTP clients
// today) are accepted. The package tests pin both behaviours.
//
// Session tickets stay enabled: FTPS clients resume the control session on
// each data connection, and ForControl relies on tickets to check it.
func hardened(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS12,
		CipherSuites:           CipherSuites12(),
		NextProtos:             []string{ALPN},
		SessionTicketsDisabled: false,
	}
}

// Fingerprint returns the form users compare for trust-on-first-use, the
// same as OpenSSH prints: "SHA256:" followed by the unpadded standard base64
// of the SHA-256 of the certificate's DER encoding. The server logs it and
// the client shows it, so both must call this function.
func Fingerprint(cert *x509.Certificate) string {
	return FingerprintDER(cert.Raw)
}

// FingerprintDER is Fingerprint for a DER-encoded certificate, as found in
// tls.Certificate.Certificate[0].
func FingerprintDER(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// FingerprintHex is the same SHA-256 in the form browsers and
// `openssl x509 -fingerprint -sha256` show it: upper-case hex bytes joined
// by colons ("95:48:8A:..."), so a person can compare it with a browser's
// certificate viewer.
func FingerprintHex(fingerprint string) string {
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(fingerprint, "SHA256:"))
	if err != nil || len(sum) != sha256.Size || !strings.HasPrefix(fingerprint, "SHA256:") {
		return ""
	}
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(sum)-1)
	for i, c := range sum {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

// ConfigFingerprint returns the fingerprint of the leaf certificate a server
// configuration presents, for the startup log and the admin tool.
func ConfigFingerprint(c *tls.Config) (string, error) {
	if c == nil || len(c.Certificates) == 0 || len(c.Certificates[0].Certificate) == 0 {
		return "", errors.New("tls config has no certificate")
	}
	return FingerprintDER(c.Certificates[0].Certificate[0]), nil
}
