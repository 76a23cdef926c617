package ftp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

func (ss *session) tlsRequired() bool { return ss.srv.cfg.TLSRequired && !ss.tls }

func (ss *session) cmdUSER(arg string) error {
	if ss.loggedIn() {
		// vsftpd's answer: switching users inside a session would keep the
		// first user's jail open under the second name.
		return replyErr(ftpproto.CodeNotLoggedIn, "Can't change to another user.")
	}
	if ss.tlsRequired() {
		return replyErr(ftpproto.CodeNotLoggedIn, "TLS required: use AUTH TLS first.")
	}
	if len(arg) > maxUserLen {
		return replyErr(ftpproto.CodeNotLoggedIn, "User name too long.")
	}
	ss.userName = arg
	ss.reply(ftpproto.CodeNeedPassword, "Please specify the password.")
	return nil
}

func (ss *session) cmdPASS(arg string) error {
	if ss.loggedIn() {
		ss.reply(ftpproto.CodeLoggedIn, "Already logged in.")
		return nil
	}
	if ss.userName == "" {
		return replyErr(ftpproto.CodeBadSequence, "Login with USER first.")
	}
	if ss.tlsRequired() {
		return replyErr(ftpproto.CodeNotLoggedIn, "TLS required: use AUTH TLS first.")
	}
	name := ss.userName
	ip := ss.remote.Addr().Unmap()
	// One check at a time per address, the failure delay included:
	// guesses from many sessions of one address queue behind each other.
	// The wait counts against the login timeout: a session queued behind
	// an address's guesses must not outlive it.
	wctx, cancel := context.WithDeadline(ss.ctx, ss.loginBy)
	leave, err := ss.srv.enterLogin(wctx, ip)
	cancel()
	if err != nil {
		ss.quitting = true
		if ss.ctx.Err() == nil {
			ss.log.Info("login timeout while waiting for the address's turn")
			return replyErr(ftpproto.CodeUnavailable, "Login timeout: closing control connection.")
		}
		return nil
	}
	defer leave()
	if ss.srv.addrBanned(ip) {
		// Banned while this session was open (or waiting for its turn):
		// no more guesses, and no login even with the right password.
		ss.userName = ""
		ss.quitting = true
		return replyErr(ftpproto.CodeUnavailable, "Too many failed logins from your address; try again later.")
	}
	acct, err := ss.srv.cfg.Auth.Login(ss.ctx, name, arg, accounts.LoginInfo{Remote: ip, TLS: ss.tls})
	if err != nil {
		return ss.loginRefused(name, err)
	}
	u := acct.User()
	fsys, err := ss.srv.cfg.OpenStorage(u)
	if err != nil {
		acct.Close()
		ss.userName = ""
		ss.log.Error("open home failed", "user", name, "err", err)
		return replyErr(ftpproto.CodeNotLoggedIn, "Login failed: home folder unavailable.")
	}
	ss.srv.recovery.once(ss.ctx, u, fsys, acct.Quota(), ss.log.With("user", name))
	ss.acct, ss.fs, ss.cwd = acct, fsys, "/"
	ss.failures = 0
	ss.unknownPre = 0
	ss.srv.setPreLogin(ss, false)
	ss.log = ss.log.With("user", name)
	ss.log.Info("login", "tls", ss.tls)
	ss.noteLogin(name)
	ss.event(Event{Kind: Login, User: name})
	ss.reply(ftpproto.CodeLoggedIn, "Login successful.")
	return nil
}

// loginRefused answers a failed PASS after the growing delay, and bans the
// address after too many failures.
func (ss *session) loginRefused(name string, err error) error {
	ss.userName = ""
	if errors.Is(err, accounts.ErrUnavailable) {
		// Not the client's fault: no failure is counted, and no rights
		// that may be stale are served.
		ss.log.Warn("login refused: account database unavailable", "user", name, "err", err)
		ss.quitting = true
		return replyErr(ftpproto.CodeUnavailable, "Account database unavailable; try again later.")
	}
	// Everything else, including the refusals that come only after a
	// correct password (too many sessions, TLS required, disabled,
	// expired, address not allowed), is answered exactly like a wrong
	// password: same delay, same count, same reply, session kept. A
	// distinct answer (421 at the session limit, say) would confirm a
	// guessed password without a login. The log says which it was.
	ss.failures++
	ip := ss.remote.Addr().Unmap()
	ss.log.Warn("login failed", "user", name, "err", err, "failures", ss.failures)
	ss.event(Event{Kind: LoginFailed, User: name, Err: err})
	// The delay grows with the address's failures, from every session; in
	// a cluster with those of every node.
	failures, banned := ss.srv.loginFailed(ip)
	if sb := ss.srv.cfg.SharedBans; sb != nil && ss.srv.cfg.BanAfter >= 0 {
		ctx, cancel := context.WithTimeout(ss.ctx, 5*time.Second)
		n, sharedBan, err := sb.LoginFailed(ctx, ip, ss.srv.cfg.BanAfter, ss.srv.cfg.BanFor)
		cancel()
		if err != nil {
			ss.log.Warn("shared ban list unavailable", "err", err)
		}
		failures, banned = max(failures, n), banned || sharedBan
	}
	if banned {
		// At once, before the delay: the address's other sessions must not
		// keep guessing while this one waits.
		ss.srv.closePreLogin(ip, ss)
	}
	if d := ss.srv.cfg.LoginFailDelay; d > 0 {
		d = min(d<<min(failures-1, 10), maxLoginFailDelay)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ss.ctx.Done():
			t.Stop()
		}
	}
	if banned {
		ss.log.Warn("address banned after repeated failed logins", "ban_for", ss.srv.cfg.BanFor)
		ss.event(Event{Kind: Banned, User: name, Err: err})
		ss.quitting = true
		return replyErr(ftpproto.CodeUnavailable, "Too many failed logins; closing.")
	}
	if ss.failures >= maxLoginFailures {
		ss.quitting = true
	}
	return replyErr(ftpproto.CodeNotLoggedIn, "Login incorrect.")
}

func (ss *session) cmdREIN(string) error {
	ss.logout()
	ss.closePasv()
	ss.dropSpare()
	ss.resetTransferState()
	ss.log = ss.srv.log.With("session", ss.id, "remote", ss.remote.String())
	ss.userName = ""
	ss.noteLogin("")
	ss.loginBy = time.Now().Add(ss.srv.cfg.LoginTimeout)
	ss.srv.setPreLogin(ss, true)
	ss.reply(ftpproto.CodeReady, "Service ready for new user.")
	return nil
}

// resetTransferState restores the transfer parameters a new login starts
// with.
func (ss *session) resetTransferState() {
	ss.cwd = "/"
	ss.binary = false
	ss.rest = 0
	ss.rangSet = false
	ss.rnfr, ss.rnfrAbs = "", ""
	ss.epsvAll = false
	ss.active = netip.AddrPort{}
	ss.mlstFacts = allFacts
}

func (ss *session) cmdQUIT(string) error {
	ss.quitting = true
	ss.reply(ftpproto.CodeClosing, "Goodbye.")
	return nil
}

func (ss *session) cmdAUTH(arg string) error {
	if ss.srv.cfg.TLS == nil {
		return replyErr(ftpproto.CodeNotImplemented, "AUTH not supported: TLS is not configured.")
	}
	switch strings.ToUpper(arg) {
	case "TLS", "TLS-C", "SSL", "TLS-P":
	default:
		return replyErr(ftpproto.CodeParamNotImpl, "AUTH mechanism not supported.")
	}
	if ss.tls {
		return replyErr(ftpproto.CodeBadSequence, "Already using TLS.")
	}
	if ss.loggedIn() {
		return replyErr(ftpproto.CodeBadSequence, "AUTH TLS must come before login.")
	}
	ss.reply(ftpproto.CodeAuthOK, "AUTH TLS successful.")
	if ss.r.Buffered() > 0 {
		// Plaintext sent behind AUTH TLS would otherwise be executed as if
		// it had come over TLS (the STARTTLS command injection bug).
		ss.log.Warn("plaintext data after AUTH TLS; closing")
		ss.quitting = true
		return nil
	}
	ctrl, data := tlsconf.ForControl(ss.srv.cfg.TLS)
	tc := ss.serverTLS(ctrl)
	if err := handshake(ss.ctx, tc); err != nil {
		ss.log.Info("TLS handshake failed", "err", err)
		ss.quitting = true
		return nil
	}
	ss.dataTLS = data
	ss.tls = true
	ss.noteTLS()
	ss.setConn(tc)
	return nil
}

func (ss *session) cmdPBSZ(arg string) error {
	if !ss.tls {
		return replyErr(ftpproto.CodeBadSequence, "PBSZ needs AUTH TLS first.")
	}
	ss.pbsz = true
	// RFC 4217 section 8: TLS has no buffer size; 0 is the only answer.
	ss.reply(ftpproto.CodeOK, "PBSZ=0")
	return nil
}

func (ss *session) cmdPROT(arg string) error {
	if !ss.tls {
		return replyErr(ftpproto.CodeBadSequence, "PROT needs AUTH TLS first.")
	}
	if !ss.pbsz {
		return replyErr(ftpproto.CodeBadSequence, "PROT needs PBSZ first.")
	}
	switch strings.ToUpper(arg) {
	case "P":
		ss.protP = true
		ss.reply(ftpproto.CodeOK, "PROT now Private.")
	case "C":
		if ss.srv.cfg.TLSRequired || ss.loggedIn() && ss.user().TLSRequired {
			return replyErr(ftpproto.CodePolicyDenied, "PROT C refused: data connections must be encrypted.")
		}
		ss.protP = false
		ss.reply(ftpproto.CodeOK, "PROT now Clear.")
	case "S", "E":
		return replyErr(ftpproto.CodeProtNotSupported, "PROT "+arg+" not supported.")
	default:
		return replyErr(ftpproto.CodeParamNotImpl, "PROT: unknown level.")
	}
	return nil
}

func (ss *session) cmdCCC(string) error {
	// RFC 4217 section 12.3: a server may refuse to drop to plaintext.
	return replyErr(ftpproto.CodePolicyDenied, "CCC refused: the control connection stays encrypted.")
}
