//go:build !wharfftp

package share

import (
	"context"
	"errors"
	"net"

	"github.com/wharfftp/wharf/internal/accounts"
)

// TEMPORARY until internal/ftp builds: the FTP listener is held open but
// refuses everything, so the HTTP side can be built and tested first.
var errFTPClosed = errors.New("ftp: server closed")

type pendingFTP struct{ done chan struct{} }

func (s *Share) newFTP(accounts.Authenticator, bool) (ftpServer, error) {
	return &pendingFTP{done: make(chan struct{})}, nil
}

func (p *pendingFTP) Serve(ln net.Listener) error {
	go func() { <-p.done; ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return errFTPClosed
		}
		c.Close()
	}
}

func (p *pendingFTP) Shutdown(context.Context) error { close(p.done); return nil }
