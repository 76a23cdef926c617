package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharfftp/wharf/internal/tlsconf"
)

// Fingerprint formats a certificate's fingerprint as OpenSSH does
// ("SHA256:" and unpadded base64): the form users compare and pin.
func Fingerprint(der []byte) string { return tlsconf.FingerprintDER(der) }

// ConfigDir is wharf's per-user configuration folder:
// $XDG_CONFIG_HOME/wharf, else ~/.config/wharf.
func ConfigDir(getenv func(string) string) string {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "wharf")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "wharf")
}

// DefaultKnownServers is the known-servers file in ConfigDir.
func DefaultKnownServers(getenv func(string) string) string {
	return filepath.Join(ConfigDir(getenv), "known_servers")
}

// LookupPin returns the fingerprint pinned for hostPort in file, "" if none.
func LookupPin(file, hostPort string) (string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read known servers: %w", err)
	}
	return lookupPin(string(data), hostPort), nil
}

// lookupPin finds hostPort's pin in the known-servers text: lines of
// "host:port fingerprint", "#" comments; the last line wins, so re-pinning
// appends.
func lookupPin(data, hostPort string) string {
	pin := ""
	for _, l := range strings.Split(data, "\n") {
		fields := strings.Fields(l)
		if len(fields) >= 2 && !strings.HasPrefix(fields[0], "#") && fields[0] == hostPort {
			pin = fields[1]
		}
	}
	return pin
}

// Pin records fp for hostPort in file, replacing an older pin.
func Pin(file, hostPort, fp string) error {
	if file == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("pin certificate: %w", err)
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pin certificate: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(repin(string(old), hostPort, fp)), 0o600); err != nil {
		return fmt.Errorf("pin certificate: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("pin certificate: %w", err)
	}
	return nil
}

// repin returns the known-servers text with hostPort's lines replaced by
// one pinning fp, every other line kept.
func repin(old, hostPort, fp string) string {
	var keep []string
	for _, l := range strings.Split(old, "\n") {
		f := strings.Fields(l)
		if l == "" || (len(f) > 0 && f[0] == hostPort) {
			continue
		}
		keep = append(keep, l)
	}
	keep = append(keep, hostPort+" "+fp)
	return strings.Join(keep, "\n") + "\n"
}

// verifyControl decides whether the control connection's certificate is
// trusted: a system root (or Options.RootCAs) vouching for the host name,
// else the pinned fingerprint, else the user (--trust or Ask) pinning it now.
func (c *Conn) verifyControl(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	fp := Fingerprint(leaf.Raw)
	c.fingerprint = fp
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: c.target.Host, Intermediates: inter, Roots: c.opts.RootCAs}); err == nil {
		return nil
	}
	hp := c.target.HostPort()
	file := c.opts.KnownServers
	pinned := ""
	if file != "" {
		var err error
		if pinned, err = LookupPin(file, hp); err != nil {
			return err
		}
	}
	if pinned == fp {
		return nil
	}
	for _, t := range c.opts.Trust {
		if strings.TrimSpace(t) == fp {
			return Pin(file, hp, fp)
		}
	}
	if pinned != "" {
		return &CertError{HostPort: hp, Fingerprint: fp, Pinned: pinned, KnownFile: file}
	}
	if c.opts.Ask != nil {
		q := fmt.Sprintf("The certificate of %s is not signed by an authority this system trusts.\n"+
			"  subject:     %s\n  issuer:      %s\n  valid until: %s\n  fingerprint: %s\n"+
			"Trust it and remember it in %s?",
			hp, leaf.Subject, leaf.Issuer, leaf.NotAfter.Format("2006-01-02"), fp, file)
		if c.opts.Ask(q) {
			return Pin(file, hp, fp)
		}
	}
	return &CertError{HostPort: hp, Fingerprint: fp, KnownFile: file}
}

// verifyData accepts only the control connection's certificate on data
// connections, resumed or not.
func (c *Conn) verifyData(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("data connection: server sent no certificate")
	}
	if fp := Fingerprint(cs.PeerCertificates[0].Raw); fp != c.fingerprint {
		return fmt.Errorf("data connection presented certificate %s, control connection %s", fp, c.fingerprint)
	}
	return nil
}

// checkNoPin refuses to go on in clear with a host whose certificate is
// pinned: why says how TLS went missing.
func (c *Conn) checkNoPin(why string) error {
	if c.opts.KnownServers == "" {
		return nil
	}
	hp := c.target.HostPort()
	pinned, err := LookupPin(c.opts.KnownServers, hp)
	if err != nil {
		return err
	}
	if pinned == "" {
		return nil
	}
	return &DowngradeError{HostPort: hp, Pinned: pinned, KnownFile: c.opts.KnownServers, Why: why}
}
