package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/shell"
)

func newMirrorCmd(env *Env) *cobra.Command {
	f := &clientFlags{}
	var o client.MirrorOptions
	var parallel *int
	cmd := &cobra.Command{
		Use:   "mirror [-R] [--delete] [--only-newer] [--dry-run] [-P N] [--exclude GLOB]... SRC DEST",
		Short: "Make a local folder a copy of a remote one (-R: the other way)",
		Long: `Copies the folder SRC to the folder DEST, moving only what differs: a file
is the same when size and time match (with --checksum, size and the
server's checksum, where it offers HASH). Without -R, SRC is an address and
DEST a local folder (created when missing); with -R, SRC is local and DEST
an address. Times at the destination are set from the source (MFMT on the
server), so a second run moves nothing. What is only at the destination is
kept unless --delete. A mirror that was stopped (Ctrl-C, a kill, a lost
connection) finishes when run again: downloads resume their NAME.part,
uploads the file the server kept. --dry-run prints the plan and changes
nothing. Every transfer is verified end to end, as get and put do.` + clientHelp,
		Example: `  wharf mirror ftp://alice@example.org/site ./site
  wharf mirror -R --delete ./site ftps://alice@example.org/www
  wharf mirror --dry-run --exclude '*.tmp' ftp://example.org/pub/docs docs`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.parallel = *parallel
			if err := shell.CheckMirror(o, *parallel); err != nil {
				return usageError(err)
			}
			url, local := args[0], args[1]
			if o.Reverse {
				url, local = args[1], args[0]
			}
			if _, err := client.ParseURL(shell.ResolveBookmark(env.Getenv, url)); err != nil {
				if o.Reverse {
					return usageError(errors.New("mirror -R: DEST must be an address (ftp://host/folder); SRC is the local folder"))
				}
				return usageError(errors.New("mirror: SRC must be an address (ftp://host/folder), DEST a local folder; -R mirrors the other way"))
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			s, err := f.connect(ctx, env, url)
			if err != nil {
				return interrupted(ctx, err)
			}
			defer s.conn.Quit(context.WithoutCancel(ctx))
			o.Parallel, o.Dial = f.parallel, s.dial
			pr := f.progress(env)
			defer pr.done()
			o.Observer = pr.Progress
			o.Reconnect, o.OnReconnect = true, reconnectNotice(env, pr)
			src, dst := s.target.Path, local
			if o.Reverse {
				src, dst = local, s.target.Path
			}
			sum, err := client.Mirror(ctx, s.conn, src, dst, o)
			pr.Wait()
			pr.done()
			if len(sum.Plan) > 0 || err == nil {
				shell.PrintMirror(env.Stdout, sum, o.DryRun)
			}
			return clientError(interruptedResume(ctx, err, "the same mirror command"))
		},
	}
	f.hasParallel = true
	parallel = shell.MirrorFlags(cmd.Flags(), &o)
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	f.register(cmd, false)
	return cmd
}
