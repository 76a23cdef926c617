package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Self-signed certificate lifetime. Users pin the fingerprint on first use,
// so every renewal makes clients warn: the certificate lives long. 825 days is
// the longest lifetime Apple clients accept for a TLS server certificate.
const selfSignedLifetime = 825 * 24 * time.Hour

// renewBefore regenerates a certificate this close to its expiry, so a server
// started just before the deadline does not serve an expired one for its
// whole run.
const renewBefore = 24 * time.Hour

// File names SelfSigned reads and writes in its directory.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
)

// SelfSigned returns the hardened configuration around a self-signed
// certificate kept in dir as cert.pem and key.pem.
//
// The certificate is valid for hosts (names or IP addresses) plus localhost,
// 127.0.0.1 and ::1. An existing pair in dir is reused as long as it is not
// about to expire and already covers every requested host, so the
// fingerprint users pinned stays the same across restarts; otherwise a new
// ECDSA P-256 pair is generated (P-256 rather than Ed25519 because lftp's
// GnuTLS, curl's OpenSSL builds and older clients all accept it).
//
// Unreadable or corrupt files are an error rather than silently replaced: the
// admin may have put them there, and replacing them changes the fingerprint.
func SelfSigned(dir string, hosts []string) (*tls.Config, error) {
	names, ips := splitHosts(hosts)
	certPath := filepath.Join(dir, CertFileName)
	keyPath := filepath.Join(dir, KeyFileName)

	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		if covers(cert.Leaf, names, ips, time.Now()) {
			return hardened(cert), nil
		}
	case errors.Is(err, fs.ErrNotExist):
		// First start: generate below.
	default:
		return nil, fmt.Errorf("load self-signed certificate from %s: %w", dir, err)
	}

	certPEM, keyPEM, err := generate(names, ips, time.Now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create certificate directory: %w", err)
	}
	// The key goes first: a crash between the two renames leaves a new key
	// with the old certificate, which LoadX509KeyPair refuses loudly on the
	// next start, instead of an old key silently matched with nothing.
	if err := writeAtomic(keyPath, keyPEM); err != nil {
		return nil, err
	}
	if err := writeAtomic(certPath, certPEM); err != nil {
		return nil, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse generated certificate: %w", err)
	}
	return hardened(cert), nil
}

// splitHosts separates IP literals from names and adds the loopback names
// every local client uses.
func splitHosts(hosts []string) (names []string, ips []net.IP) {
	names = []string{"localhost"}
	ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names, ips
}

// covers reports whether leaf is still valid for a while and lists every
// requested name and address.
func covers(leaf *x509.Certificate, names []string, ips []net.IP, now time.Time) bool {
	if leaf == nil || now.Before(leaf.NotBefore) || now.Add(renewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func generate(names []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[len(names)-1], Organization: []string{"wharf self-signed"}},
		// Backdated an hour so a client with a slightly slow clock accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeAtomic writes data to name with mode 0600 through a temporary file in
// the same directory, so a concurrent reader never sees half a PEM file and
// the key is never readable by others, not even briefly.
func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, name)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, werr)
	}
	return nil
}
