package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
	"unicode"

	"github.com/wharfftp/wharf/internal/tlsconf"
)

// TLSMode says when the control connection is upgraded with AUTH TLS.
type TLSMode int

const (
	TLSAuto    TLSMode = iota // when FEAT offers AUTH TLS
	TLSRequire                // always; fail when the server refuses
	TLSOff                    // never (--no-tls); ftps:// still uses TLS
)

// Options configure a connection. The zero value is usable: explicit TLS
// when offered, passive mode, unknown certificates refused.
type Options struct {
	TLS    TLSMode
	Active bool // PORT/EPRT instead of EPSV/PASV; only the server's host may connect back
	// PasvAddress connects passive data connections to the address a PASV
	// reply names. By default that address is ignored and the control
	// connection's peer is used, as curl's --ftp-skip-pasv-ip: otherwise a
	// hostile server could send the data anywhere.
	PasvAddress bool

	// KnownServers is the file of pinned certificates ("host:port SHA256:..."
	// lines). Empty: certificates not vouched for by a root are refused
	// unless listed in Trust.
	KnownServers string
	// Trust lists fingerprints the user vouched for on the command line;
	// a matching certificate is accepted and pinned.
	Trust []string
	// Ask is called, when set, for a certificate nobody vouches for; true
	// pins it. Nil (no terminal) refuses with a *CertError.
	Ask func(question string) bool
	// RootCAs replaces the system roots (tests); nil uses the system's.
	RootCAs *x509.CertPool

	// Timeout bounds each wait for a reply and each stalled data read or
	// write; 0 means 60s. Long transfers are fine: only silence counts.
	Timeout time.Duration
	// Trace, when set, receives the control dialogue (PASS masked).
	Trace io.Writer
}

// maxServiceWaits bounds the "120 wait" replies before the greeting.
const maxServiceWaits = 10

// maxReply bounds one reply (textproto reads lines without limit): a
// server that never ends its reply must not exhaust memory.
const maxReply = 1 << 20

// Conn is one logged-in (or logging-in) control connection.
type Conn struct {
	target *Target
	opts   Options
	raw    net.Conn // the TCP connection: deadlines are set here
	ctrl   net.Conn // raw, or TLS over it
	capped *capReader
	tp     *textproto.Conn

	tlsCfg      *tls.Config // control; nil before TLS
	dataTLS     *tls.Config // nil: data connections in clear
	fingerprint string      // of the control connection's certificate
	tlsDesc     string

	greeting string
	feat     map[string]string // upper-case keyword -> parameters
	pass     string            // kept for Reconnect
	noEPSV   bool
	user     string
	wd       string // where the CWDs went, from the login folder ("": there)
	broken   error  // set when the control connection can no longer be trusted
	hash     string
	hashSet  bool
	// noHash holds the checksum commands ("HASH", "XSHA256") and HASH
	// algorithms ("HASH SHA-1") FEAT offered but the server refused as not
	// implemented; reset with the features.
	noHash map[string]bool
}

var aLongTimeAgo = time.Unix(1, 0)

// Dial connects to t, reads the greeting and sets up TLS as opts ask
// (implicit for ftps://, explicit AUTH TLS otherwise). Call Login next.
func Dial(ctx context.Context, t *Target, opts Options) (*Conn, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	d := net.Dialer{Timeout: opts.Timeout}
	raw, err := d.DialContext(ctx, "tcp", t.HostPort())
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", t.HostPort(), err)
	}
	c := &Conn{target: t, opts: opts, raw: raw}
	c.tlsCfg = &tls.Config{
		ServerName: t.Host,
		// Verification is ours (VerifyConnection): system roots first, then
		// the pinned fingerprint, as ssh does with host keys.
		InsecureSkipVerify: true,
		VerifyConnection:   c.verifyControl,
		// Shared with the data connections: servers require the data TLS
		// session to resume the control one (so nobody else can steal it).
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{tlsconf.ALPN},
	}
	c.dataTLS = nil
	if err := c.setup(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) setControl(nc net.Conn) {
	c.ctrl = nc
	c.capped = &capReader{r: nc}
	c.tp = textproto.NewConn(struct {
		io.Reader
		io.Writer
		io.Closer
	}{bufio.NewReader(c.capped), nc, nc})
}

func (c *Conn) setup(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.raw.SetDeadline(aLongTimeAgo) })
	defer stop()
	if c.target.Implicit {
		tc := tls.Client(c.raw, c.tlsCfg)
		c.raw.SetDeadline(time.Now().Add(c.opts.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return c.tlsErr(err)
		}
		c.raw.SetDeadline(time.Time{})
		c.setControl(tc)
		c.tlsDesc = describeTLS(tc.ConnectionState(), "implicit")
	} else {
		c.setControl(c.raw)
	}
	code, msg, err := c.readReply(ctx)
	// "120 service ready in nnn minutes": wait for the real greeting, but
	// not for ever: a server repeating 120 would hold the client without
	// any read ever timing out.
	for waits := 0; err == nil && code == 120 && waits < maxServiceWaits; waits++ {
		code, msg, err = c.readReply(ctx)
	}
	if err != nil {
		return fmt.Errorf("read greeting from %s: %w", c.target.HostPort(), err)
	}
	if code != 220 {
		return &Error{Code: code, Msg: msg}
	}
	c.greeting = msg
	c.loadFeat(ctx)
	authWhy := "FEAT does not offer AUTH TLS"
	if !c.target.Implicit && c.opts.TLS != TLSOff {
		offered := strings.Contains(" "+strings.ToUpper(c.feat["AUTH"])+" ", "TLS")
		if offered || c.opts.TLS == TLSRequire {
			code, msg, err := c.cmd(ctx, "AUTH TLS")
			if err != nil {
				return err
			}
			if code != 234 {
				authWhy = fmt.Sprintf("AUTH TLS was refused (%d %s)", code, Printable(msg))
				if c.opts.TLS == TLSRequire {
					return fmt.Errorf("%w: %d %s", ErrTLSRequired, code, msg)
				}
			} else {
				tc := tls.Client(c.raw, c.tlsCfg)
				c.raw.SetDeadline(time.Now().Add(c.opts.Timeout))
				if err := tc.HandshakeContext(ctx); err != nil {
					return c.tlsErr(err)
				}
				c.raw.SetDeadline(time.Time{})
				c.setControl(tc)
				c.tlsDesc = describeTLS(tc.ConnectionState(), "explicit AUTH TLS")
			}
		}
	}
	if c.tlsDesc == "" && c.opts.TLS != TLSOff {
		// Before USER: a host that was pinned spoke TLS then, so a server
		// without it now is the downgrade a man in the middle performs by
		// striking AUTH TLS from FEAT. Only --no-tls says clear text is meant.
		if err := c.checkNoPin(authWhy); err != nil {
			return err
		}
	}
	if c.tlsDesc != "" {
		if err := c.expect(ctx, 2, "PBSZ 0"); err != nil && c.opts.TLS == TLSRequire {
			return err
		}
		if err := c.expect(ctx, 2, "PROT P"); err != nil {
			if c.opts.TLS == TLSRequire {
				return fmt.Errorf("protect data connections: %w", err)
			}
		} else {
			c.dataTLS = c.tlsCfg.Clone()
			c.dataTLS.VerifyConnection = c.verifyData
		}
		c.loadFeat(ctx) // features may differ once encrypted
	}
	return nil
}

func (c *Conn) tlsErr(err error) error {
	var ce *CertError
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("TLS handshake with %s: %w", c.target.HostPort(), err)
}

func describeTLS(cs tls.ConnectionState, how string) string {
	return fmt.Sprintf("%s, %s (%s)", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), how)
}

// Login sends USER and PASS, then switches to binary mode and refreshes the
// features (some servers list more after login).
func (c *Conn) Login(ctx context.Context, user, pass string) error {
	code, msg, err := c.cmd(ctx, "USER "+user)
	if err != nil {
		return err
	}
	if code == 331 || code == 332 {
		code, msg, err = c.cmd(ctx, "PASS "+pass)
		if err != nil {
			return err
		}
	}
	if code != 230 && code != 202 {
		if code/100 == 5 && code != 530 {
			code = 530 // any refusal at login is a login failure to the caller
		}
		return &Error{Code: code, Msg: msg}
	}
	c.user, c.pass = user, pass
	if err := c.expect(ctx, 2, "TYPE I"); err != nil {
		return fmt.Errorf("binary mode: %w", err)
	}
	c.loadFeat(ctx)
	if _, ok := c.feat["UTF8"]; ok {
		c.cmd(ctx, "OPTS UTF8 ON") // best effort: names are UTF-8 either way
	}
	return nil
}

func (c *Conn) loadFeat(ctx context.Context) {
	code, msg, err := c.cmd(ctx, "FEAT")
	feat := map[string]string{}
	if err == nil && code == 211 {
		feat = parseFeat(msg)
	}
	c.feat = feat
	c.hashSet = false
	c.noHash = nil
}

// parseFeat reads a 211 FEAT reply (as textproto joins it: the lines
// between "Features:" and "End") into upper-case keyword -> parameters.
func parseFeat(msg string) map[string]string {
	feat := map[string]string{}
	lines := strings.Split(msg, "\n")
	if len(lines) < 2 {
		return feat // "211 no features"
	}
	for _, l := range lines[1 : len(lines)-1] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		k, v := l, ""
		if i := strings.IndexFunc(l, unicode.IsSpace); i >= 0 {
			k, v = l[:i], strings.TrimSpace(l[i:])
		}
		feat[strings.ToUpper(k)] = v
	}
	return feat
}

// Feat returns the server's features from FEAT: upper-case keyword to its
// parameters ("MLST" -> "type*;size*;modify*;"). Do not modify.
func (c *Conn) Feat() map[string]string { return c.feat }

// Has reports whether FEAT listed the keyword.
func (c *Conn) Has(keyword string) bool {
	_, ok := c.feat[strings.ToUpper(keyword)]
	return ok
}

// Greeting is the server's 220 text.
func (c *Conn) Greeting() string { return c.greeting }

// User is the logged-in user, "" before Login.
func (c *Conn) User() string { return c.user }

// Target is the address this connection was dialed with.
func (c *Conn) Target() *Target { return c.target }

// TLS describes the protection of the control and data connections, or ""
// when the control connection is in clear.
func (c *Conn) TLS() string {
	if c.tlsDesc == "" {
		return ""
	}
	if c.dataTLS != nil {
		return c.tlsDesc + ", data protected (PROT P)"
	}
	return c.tlsDesc + ", data in clear"
}

// Fingerprint is the SHA-256 fingerprint of the server's certificate, "" in clear.
func (c *Conn) Fingerprint() string { return c.fingerprint }

// Err reports why the connection is no longer usable, or nil.
func (c *Conn) Err() error { return c.broken }

// Quote sends a raw command and returns its reply, whatever the code. Only
// I/O failures are errors.
func (c *Conn) Quote(ctx context.Context, line string) (int, string, error) {
	return c.cmd(ctx, line)
}

// Quit says goodbye and closes the connection.
func (c *Conn) Quit(ctx context.Context) error {
	if c.broken == nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c.cmd(ctx, "QUIT")
		cancel()
	}
	return c.Close()
}

// Close closes the connection without QUIT.
func (c *Conn) Close() error {
	if c.broken == nil {
		c.broken = errors.New("connection closed")
	}
	return c.raw.Close()
}

// cmd sends one command line and reads its reply. err is only for I/O
// failures (and then the connection is broken); refusals come back as codes.
func (c *Conn) cmd(ctx context.Context, line string) (int, string, error) {
	if c.broken != nil {
		return 0, "", c.broken
	}
	if strings.ContainsAny(line, "\r\n") {
		return 0, "", fmt.Errorf("command %q: line breaks are not allowed", line)
	}
	c.trace("> ", line)
	stop := context.AfterFunc(ctx, func() { c.raw.SetDeadline(aLongTimeAgo) })
	defer stop()
	c.raw.SetWriteDeadline(time.Now().Add(c.opts.Timeout))
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return 0, "", c.fail(ctx, fmt.Errorf("send %s: %w", verb(line), err))
	}
	return c.readReplyLocked(ctx)
}

func (c *Conn) readReply(ctx context.Context) (int, string, error) {
	stop := context.AfterFunc(ctx, func() { c.raw.SetDeadline(aLongTimeAgo) })
	defer stop()
	return c.readReplyLocked(ctx)
}

func (c *Conn) readReplyLocked(ctx context.Context) (int, string, error) {
	c.raw.SetReadDeadline(time.Now().Add(c.opts.Timeout))
	if ctx.Err() != nil {
		return 0, "", c.fail(ctx, ctx.Err())
	}
	c.capped.n = 0
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) {
			return 0, "", c.fail(ctx, fmt.Errorf("bad reply from server: %w", err))
		}
		return 0, "", c.fail(ctx, fmt.Errorf("read reply: %w", err))
	}
	c.trace("< ", fmt.Sprintf("%d %s", code, msg))
	if code == 421 {
		c.broken = &Error{Code: code, Msg: msg}
	}
	return code, msg, nil
}

func (c *Conn) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	c.broken = err
	c.raw.Close()
	return err
}

// expect runs a command and turns a reply outside the wanted class (2 for
// 2xx, 3 for 3xx) into an *Error.
func (c *Conn) expect(ctx context.Context, class int, line string) error {
	code, msg, err := c.cmd(ctx, line)
	if err != nil {
		return err
	}
	if code/100 != class {
		return &Error{Code: code, Msg: msg}
	}
	return nil
}

func (c *Conn) trace(dir, line string) {
	if c.opts.Trace == nil {
		return
	}
	if strings.HasPrefix(strings.ToUpper(line), "PASS ") {
		line = "PASS ****"
	}
	fmt.Fprintf(c.opts.Trace, "%s%s\n", dir, strings.ReplaceAll(line, "\n", "\n"+dir))
}

func verb(line string) string {
	v, _, _ := strings.Cut(line, " ")
	return strings.ToUpper(v)
}

// capReader fails a reply longer than maxReply.
type capReader struct {
	r io.Reader
	n int
}

func (r *capReader) Read(p []byte) (int, error) {
	if r.n > maxReply {
		return 0, fmt.Errorf("reply longer than %d bytes", maxReply)
	}
	n, err := r.r.Read(p)
	r.n += n
	return n, err
}
