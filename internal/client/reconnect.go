package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// reconnectFor bounds how long a transfer waits for a server that closed
// its connection with 421 to take connections again: a restart (the usual
// reason) takes seconds; a server that stays away fails the file as before.
const reconnectFor = 30 * time.Second

// redial replaces c, which the server closed with 421, by a new connection
// from o.Dial in c's working folder. While the server does not answer (it
// is restarting) it retries with a capped back-off for reconnectFor; a
// refused login or certificate is final.
func redial(ctx context.Context, c *Conn, o TransferOptions) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, reconnectFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		nc, err := o.Dial(ctx)
		if err == nil {
			if c.wd != "" {
				if err := nc.Cwd(ctx, c.wd); err != nil {
					nc.Close()
					return nil, fmt.Errorf("cd %s: %w", Printable(c.wd), err)
				}
			}
			return nc, nil
		}
		var ne *net.OpError
		if k := KindOf(err); !errors.As(err, &ne) && k != KindConnection && k != KindTransient {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// closedAfterTransfer reports a verify that failed only because the server
// closed the connection (421) after the transfer's 226: a server shutting
// down between a file and its checksum. The bytes are all there; only the
// check is missing.
func closedAfterTransfer(ctx context.Context, c *Conn, o TransferOptions, err error) bool {
	return err != nil && o.Dial != nil && ctx.Err() == nil && c.Err() != nil && KindOf(c.Err()) == KindConnection
}

// verifyReconnecting is verify that survives the server closing the
// connection after the 226: it reconnects and verifies there. The new
// connection is returned (nil when none was needed) for the caller to go
// on with or close.
func verifyReconnecting(ctx context.Context, c *Conn, o TransferOptions, local, remote string) (algo, unchecked string, nc *Conn, err error) {
	algo, unchecked, err = verify(ctx, c, local, remote)
	if !closedAfterTransfer(ctx, c, o, err) {
		return algo, unchecked, nil, err
	}
	nc, derr := redial(ctx, c, o)
	if derr != nil {
		return "", "", nil, fmt.Errorf("%w; reconnecting to verify: %v", err, derr)
	}
	algo, unchecked, err = verify(ctx, nc, local, remote)
	return algo, unchecked, nc, err
}
