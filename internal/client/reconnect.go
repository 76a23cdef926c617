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

// reconnectBackoff is the wait before each attempt to reopen a dropped
// control connection: a server restart takes seconds, a NAT that forgot
// the flow is back at once. About half a minute in all, then the batch
// fails with what it could not finish.
var reconnectBackoff = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
	4 * time.Second, 8 * time.Second, 15 * time.Second,
}

// Reconnect replaces a broken control connection with a new one to the
// same server, logged in as the same user, in the same folder. The *Conn
// stays the caller's: whoever holds it goes on with the new session.
func (c *Conn) Reconnect(ctx context.Context) error {
	if c.user == "" {
		return errors.New("reconnect: the connection never logged in")
	}
	n, err := Connect(ctx, c.target, c.opts, c.user, c.pass)
	if err != nil {
		return err
	}
	wd := c.wd
	c.raw.Close()
	*c = *n
	// The TLS configurations check certificates through method values
	// bound to n; bind them to c, which is the connection from now on.
	c.tlsCfg.VerifyConnection = c.verifyControl
	if c.dataTLS != nil {
		c.dataTLS.VerifyConnection = c.verifyData
	}
	if wd != "" {
		if err := c.Cwd(ctx, wd); err != nil {
			return fmt.Errorf("reconnect: back to %s: %w", wd, err)
		}
	}
	return nil
}

// redialInPlace reopens c with backoff; notify, when set, hears each attempt's
// failure. It gives up when ctx ends or the attempts run out.
func redialInPlace(ctx context.Context, c *Conn, notify func(attempt int, err error)) error {
	cause := c.Err()
	for i, wait := range reconnectBackoff {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		err := c.Reconnect(ctx)
		if err == nil {
			return nil
		}
		if notify != nil {
			notify(i+1, err)
		}
		if KindOf(err) == KindLogin || errors.As(err, new(*CertError)) {
			return err // the server is back and refuses: waiting will not help
		}
		cause = err
	}
	return fmt.Errorf("reconnect: gave up after %d attempts: %w", len(reconnectBackoff), cause)
}
