package shell

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/wharfftp/wharf/internal/client"
)

const pgetUsage = "[-n N] [-c] [-f] REMOTE [LOCAL]"

// cmdPget is lftp's pget: one file as N byte ranges over N connections at
// once (what `wharf get -n` does on the command line), resumable per range
// with -c and verified whole by the server's checksum. lftp's default is
// five segments; so is this one.
func cmdPget(ctx context.Context, s *Shell, _ flags, args []string) error {
	fs := pflag.NewFlagSet("pget", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.IntP("segments", "n", 5, "ranges, 1 to 32")
	cont := fs.BoolP("continue", "c", false, "resume: fetch only the bytes each range still misses")
	force := fs.BoolP("force", "f", false, "replace an existing local file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("pget: %v (usage: pget %s)", err, pgetUsage)
	}
	rest := fs.Args()
	if len(rest) < 1 || len(rest) > 2 {
		return fmt.Errorf("usage: pget %s", pgetUsage)
	}
	if *n < 1 || *n > 32 {
		return fmt.Errorf("pget: -n %d: choose 1 to 32 segments", *n)
	}
	if s.cfg.Dial == nil && *n > 1 {
		return fmt.Errorf("pget: this session cannot open more connections; use get")
	}
	local := s.lcwd
	if len(rest) == 2 {
		local = s.local(rest[1])
	}
	return s.withProgress(func(o client.Observer) error {
		opts := s.transferOptions(flags{'c': *cont, 'f': *force})
		opts.Observer = o
		_, err := client.GetSegmented(ctx, s.c, rest[0], local, *n, opts)
		return err
	})
}
