// Package cli is wharf's command line: one file per subcommand, each with a
// constructor that builds the cobra command and a run function that does the
// work. Exit codes are decided here, in one place (exit.go).
//
// It must never hold protocol or storage logic of its own: it parses flags,
// wires packages together and reports errors.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// Env is what a command reads and writes besides its flags: kept apart from
// the process globals so tests can run commands in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// newRoot builds the command tree.
func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "wharf",
		Short:         "An FTP/FTPS server, its admin tool and an FTP client in one binary",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(
		newServeCmd(env),
		newUserCmd(env),
		newAdminCmd(env),
		newShareCmd(env),
	)
	root.AddCommand(newClientCmds(env)...)
	// cobra adds help and completion when it executes; adding them now lets
	// refuseUnknown reach them too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	refuseUnknown(root)
	return root
}

// refuseUnknown makes every command of the tree answer an unknown
// subcommand as a usage error (exit 2). cobra does so only at the root: a
// command that merely groups others (`wharf user`) prints its help for
// `wharf user frobnicate` and succeeds, and `wharf help frobnicate` says
// "Unknown help topic" and succeeds.
func refuseUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknown(sub)
	}
	switch {
	case c.Name() == "help" && c.HasParent():
		show := c.Run
		c.Run = nil
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if target, rest, err := cmd.Root().Find(args); err != nil || target == nil || len(rest) > 0 {
				return usageError(fmt.Errorf("unknown help topic %q", strings.Join(args, " ")))
			}
			show(cmd, args)
			return nil
		}
	case c.HasSubCommands() && !c.Runnable():
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return cmd.Help()
		}
	}
}

// Main runs the command line with args and returns the process exit code.
func Main(args []string, env *Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	var ue *UsageError
	if errors.As(err, &ue) || code == ExitUsage {
		fmt.Fprintf(env.Stderr, "wharf: %v (see 'wharf --help')\n", err)
	} else {
		fmt.Fprintf(env.Stderr, "wharf: %v\n", err)
	}
	return code
}

// keepRunningOnBrokenPipe stops a closed stdout or stderr from killing a
// long-running server: `wharf serve | tee log`, then Ctrl-C, ends tee
// first, and Go's default for a write to a broken fd 1 or 2 is death by
// SIGPIPE, cutting the graceful shutdown short. Ignored, the write fails
// with EPIPE, which logging drops. Only serve and share call it: a client
// command piped into head should still end as pipes usually end them.
func keepRunningOnBrokenPipe() { signal.Ignore(syscall.SIGPIPE) }
