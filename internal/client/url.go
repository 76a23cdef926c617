package client

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Target is a parsed ftp:// or ftps:// address.
type Target struct {
	Implicit    bool   // ftps://: TLS from the first byte
	Host        string // without brackets
	Port        string
	User        string // "" means not given (anonymous unless netrc says otherwise)
	Password    string
	HasPassword bool
	Path        string // as given after the host, without the leading '/'; "" for the login folder
}

// HostPort is host:port as dialed and as pinned in the known-servers file.
func (t *Target) HostPort() string { return net.JoinHostPort(t.Host, t.Port) }

// String renders the target without its password.
func (t *Target) String() string {
	scheme := "ftp"
	if t.Implicit {
		scheme = "ftps"
	}
	u := url.URL{Scheme: scheme, Host: t.HostPort(), Path: "/" + t.Path}
	if t.User != "" {
		u.User = url.User(t.User)
	}
	return u.String()
}

// ParseURL parses ftp://[user[:password]@]host[:port]/path and ftps://...
// (implicit TLS, port 990 unless given). A bare "host[:port][/path]" is taken
// as ftp://.
//
// FTP URLs have no query or fragment (RFC 1738 section 3.2), so '?' and '#'
// are taken as they are, part of the path or the password: a file named
// "track#1?.mp3" is reached as typed, and %23 and %3F mean the same. Other
// escapes are read as usual (%25 for '%', %40 for '@' in a password).
func ParseURL(raw string) (*Target, error) {
	if !strings.Contains(raw, "://") {
		raw = "ftp://" + raw
	}
	// Escaped first, so that url.Parse does not cut them off as a query or
	// a fragment.
	u, err := url.Parse(strings.NewReplacer("?", "%3F", "#", "%23").Replace(raw))
	if err != nil {
		return nil, fmt.Errorf("parse address %q: %w", raw, err)
	}
	t := &Target{}
	switch strings.ToLower(u.Scheme) {
	case "ftp":
		t.Port = "21"
	case "ftps":
		t.Implicit, t.Port = true, "990"
	default:
		return nil, fmt.Errorf("address %q: scheme must be ftp:// or ftps://", raw)
	}
	t.Host = u.Hostname()
	if t.Host == "" {
		return nil, fmt.Errorf("address %q: no host", raw)
	}
	if !validHost(t.Host) {
		return nil, fmt.Errorf("address %q: bad host %q", raw, t.Host)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("address %q: port must be 1 to 65535", raw)
		}
		t.Port = p
	}
	if u.User != nil {
		t.User = u.User.Username()
		t.Password, t.HasPassword = u.User.Password()
	}
	t.Path = strings.TrimPrefix(u.Path, "/")
	return t, nil
}

// validHost accepts an IP address (IPv6 with its zone) or a name, without
// characters that would change the meaning of an address ("]", "/", "@",
// spaces): url.Parse lets "ftp://]" through, and a host must print back
// as the same address.
func validHost(h string) bool {
	if strings.ContainsFunc(h, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("[]/@?#\\", r)
	}) {
		return false
	}
	if strings.ContainsAny(h, ":%") {
		a, err := netip.ParseAddr(h)
		return err == nil && validZone(a.Zone())
	}
	return true
}

// validZone accepts an IPv6 zone that is an interface name or index
// (letters, digits, '.', '-', '_'): netip takes any bytes, invalid UTF-8
// included, which then cannot be printed back as an address.
func validZone(z string) bool {
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ResolveLogin decides who logs in and with what password, first found:
// the address's user and password, WHARF_PASSWORD, the netrc file (NETRC, or
// ~/.netrc), then ask (a prompt without echo; nil when there is no
// terminal). No user anywhere means anonymous, password "anonymous@".
func ResolveLogin(t *Target, getenv func(string) string, ask func(prompt string) (string, error)) (user, pass string, err error) {
	user = t.User
	if user != "" && t.HasPassword {
		return user, t.Password, nil
	}
	netrc := getenv("NETRC")
	if netrc == "" {
		if home := getenv("HOME"); home != "" {
			netrc = filepath.Join(home, ".netrc")
		}
	}
	var nLogin, nPass string
	var nOK bool
	if netrc != "" {
		if nLogin, nPass, nOK, err = NetrcLookup(netrc, t.Host, user); err != nil {
			return "", "", err
		}
	}
	if user == "" {
		if !nOK || nLogin == "" {
			return "anonymous", "anonymous@", nil
		}
		user = nLogin
	}
	if p := getenv("WHARF_PASSWORD"); p != "" {
		return user, p, nil
	}
	if nOK && nLogin == user {
		return user, nPass, nil
	}
	if ask != nil {
		p, err := ask(fmt.Sprintf("Password for %s@%s: ", user, t.Host))
		return user, p, err
	}
	return "", "", fmt.Errorf("no password for %s@%s: put it in WHARF_PASSWORD or ~/.netrc, or run at a terminal", user, t.Host)
}

// Connect dials t and logs in as user.
func Connect(ctx context.Context, t *Target, opts Options, user, pass string) (*Conn, error) {
	c, err := Dial(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, user, pass); err != nil {
		c.Close()
		return nil, fmt.Errorf("login as %s: %w", user, err)
	}
	return c, nil
}
