package share

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/vfs"
)

var errFTPClosed = ftp.ErrServerClosed

// newFTP builds the FTP side: the real engine, on the same Authenticator
// and folder as the HTTP side.
func (s *Share) newFTP(auth accounts.Authenticator, requireTLS bool, failDelay time.Duration) (ftpServer, error) {
	return ftp.NewServer(ftp.Config{
		Auth:           auth,
		LoginFailDelay: failDelay,
		// Every session gets its own root on the one folder: the engine
		// closes it at logout.
		OpenStorage: func(accounts.User) (vfs.Storage, error) { return vfs.OpenLocal(s.dir) },
		Logger:      s.log.With("proto", "ftp"),
		TLS:         s.tlsConf,
		TLSRequired: requireTLS,
		Banner:      "wharf share ready.",
		Events:      s.ftpEvent,
		// Hidden names are refused by the engine itself, on every
		// command's path, not only left out of listings.
		HideDotNames: !s.hidden,
		// The account's usage is what visitors added (Options.QuotaBytes),
		// not what the folder holds.
		UsageIsNotTheHome: true,
		PassivePorts:      s.passive,
		PublicHost:        s.public,
		// Within the descriptor limit (limits.go); one address may not
		// take more than a parallel client needs.
		MaxSessions:      s.maxFTP,
		MaxSessionsPerIP: perAddrCap(s.maxFTP),
		MaxPreLoginPerIP: perAddrCap(s.maxFTP),
	})
}

// ftpEvent translates the engine's events into the share's.
func (s *Share) ftpEvent(fe ftp.Event) {
	e := Event{Time: fe.Time, Proto: "ftp", Remote: fe.Remote, User: fe.User, Path: fe.Path,
		Bytes: fe.Bytes, Duration: fe.Duration, Err: fe.Err}
	switch fe.Kind {
	case ftp.Login:
		e.Kind = EventLogin
	case ftp.LoginFailed:
		if fe.Via != "" {
			return // the web page's own failure, through the engine's turn: it reports and counts it itself
		}
		e.Kind = EventLoginFailed
		// Counted in the share's ban list too, so FTP failures ban the
		// address from the web page as well (the engine's own list is
		// private to it). A refusal of an already banned address adds
		// nothing.
		if !errors.Is(fe.Err, errBanned) {
			s.guard.failed(fe.Remote.Addr().Unmap(), fe.Time)
		}
	case ftp.Banned:
		// The engine banned the address on its own count: so does the
		// web page. Its LoginFailed event was already shown.
		s.guard.ban(fe.Remote.Addr().Unmap(), fe.Time)
		return
	case ftp.SessionEnd:
		if fe.User == "" {
			return // never logged in: nothing to say
		}
		e.Kind = EventLogout
	case ftp.TransferDone:
		e.Kind = EventDownload
		if fe.Upload {
			e.Kind = EventUpload
		} else if fe.Listing || s.isDir(fe.Path) {
			// The engine reports listings (LIST, NLST, MLSD) as transfers
			// too, with the folder as path; they are not files served.
			return
		}
	default:
		return
	}
	e.Remote = netip.AddrPortFrom(e.Remote.Addr().Unmap(), e.Remote.Port())
	s.record(e)
}

// isDir reports whether the client-visible path names a folder of the share.
func (s *Share) isDir(abs string) bool {
	_, name, err := vfs.Resolve("/", abs)
	if err != nil {
		return false
	}
	fi, err := s.httpFS.Stat(context.Background(), name)
	return err == nil && fi.IsDir()
}
