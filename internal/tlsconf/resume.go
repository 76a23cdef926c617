package tlsconf

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
)

// ErrNotResumed means a data connection's TLS handshake did not resume the
// control connection's session. The engine answers 522/425 and closes the data
// connection, as vsftpd does with require_ssl_reuse: without that check an
// attacker who can race the client to a passive port can receive or inject a
// file under a brand new TLS session of their own.
var ErrNotResumed = errors.New("data connection did not resume the control connection's TLS session")

// sessionTagPrefix marks the Extra entry ForControl adds to each ticket, so
// the tag cannot be confused with data another layer might store there.
const sessionTagPrefix = "wharf-ctrl:"

// ForControl derives, from the server's base configuration, the configuration
// for one control connection and its data connections. Use it once per
// control connection, right after AUTH TLS is accepted:
//
//	ctrlConf, dataConf := tlsconf.ForControl(base)
//	ctrl := tls.Server(ctrlRaw, ctrlConf)          // control channel
//	...
//	data := tls.Server(dataRaw, dataConf)          // every PROT P data connection
//	if err := data.HandshakeContext(ctx); err != nil { ... }
//	if err := tlsconf.RequireResumed(data.ConnectionState()); err != nil { refuse }
//
// Every session ticket issued under the pair carries a random identifier of
// this control connection, and a ticket is only accepted for resumption if it
// carries that identifier. So DidResume on a data connection proves the client
// holds a ticket of this very control session, not merely one of any session
// of this server (which matters when the base configuration's ticket keys are
// shared across connections or processes). The control connection itself
// never resumes a previous control session: it performs a full handshake, as
// it must to start a new binding.
//
// Both values are the same *tls.Config today; callers must still use each for
// its own role, so the binding can later be made asymmetric without changing
// them. The base configuration is not modified.
func ForControl(base *tls.Config) (ctrl, data *tls.Config) {
	var id [16]byte
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	rand.Read(id[:])
	tag := append([]byte(sessionTagPrefix), id[:]...)

	c := base.Clone()
	c.SessionTicketsDisabled = false
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		// A resumed TLS 1.2 session is re-issued with its Extra intact:
		// tag it once only.
		if !hasTag(ss, tag) {
			ss.Extra = append(ss.Extra, tag)
		}
		return c.EncryptTicket(cs, ss)
	}
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := c.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			// Not ours, or not decryptable: fall back to a full handshake,
			// which RequireResumed then refuses on a data connection.
			return nil, err
		}
		if hasTag(ss, tag) {
			return ss, nil
		}
		return nil, nil
	}
	return c, c
}

func hasTag(ss *tls.SessionState, tag []byte) bool {
	for _, e := range ss.Extra {
		if bytes.Equal(e, tag) {
			return true
		}
	}
	return false
}

// RequireResumed reports whether a completed data-connection handshake
// resumed a session; with configurations from ForControl that session is
// necessarily the control connection's.
func RequireResumed(cs tls.ConnectionState) error {
	if !cs.HandshakeComplete {
		return fmt.Errorf("check session reuse: %w (handshake not complete)", ErrNotResumed)
	}
	if !cs.DidResume {
		return ErrNotResumed
	}
	return nil
}
