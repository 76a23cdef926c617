package shell

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/units"
)

// MirrorFlags registers mirror's options (lftp's names) on fs and returns
// where -P lands: the shell and `wharf mirror` read the same flags.
func MirrorFlags(fs *pflag.FlagSet, o *client.MirrorOptions) *int {
	fs.BoolVarP(&o.Reverse, "reverse", "R", false, "local to remote (default: remote to local)")
	fs.BoolVar(&o.Delete, "delete", false, "delete what is no longer at the source")
	fs.BoolVar(&o.OnlyNewer, "only-newer", false, "replace only files that are newer at the source")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the plan; move, create and delete nothing")
	fs.BoolVar(&o.Checksum, "checksum", false, "compare files of the same size by the server's checksum (HASH) rather than by time")
	fs.StringArrayVar(&o.Exclude, "exclude", nil, "leave out paths matching this glob (whole relative path or base name); repeatable")
	p := new(int)
	fs.IntVarP(p, "parallel", "P", 1, "files to transfer at once, 1 to 32 (one connection each)")
	return p
}

// CheckMirror refuses bad mirror options with a message for a person.
func CheckMirror(o client.MirrorOptions, parallel int) error {
	if parallel < 1 || parallel > 32 {
		return fmt.Errorf("-P %d: choose 1 to 32 parallel transfers", parallel)
	}
	for _, g := range o.Exclude {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("--exclude %q: %w", g, err)
		}
	}
	return nil
}

// PrintMirror shows what a mirror did: with DryRun every planned line,
// otherwise the deletions and the paths left alone for a reason worth
// knowing, then one summary line.
func PrintMirror(w io.Writer, sum client.MirrorSummary, dry bool) {
	for _, it := range sum.Plan {
		name := client.Printable(it.Name)
		if it.Dir {
			name += "/"
		}
		switch {
		case dry && it.Kind == client.MirrorNew:
			size := ""
			if !it.Dir && it.Size >= 0 {
				size = "  " + units.FormatSize(it.Size)
			}
			fmt.Fprintf(w, "new      %s%s\n", name, size)
		case dry && it.Kind == client.MirrorChanged:
			fmt.Fprintf(w, "changed  %s  (%s)\n", name, it.Why)
		case it.Kind == client.MirrorDelete:
			if dry {
				fmt.Fprintf(w, "delete   %s\n", name)
			} else {
				fmt.Fprintf(w, "deleted  %s\n", name)
			}
		case dry && it.Kind == client.MirrorKeep:
			fmt.Fprintf(w, "keep     %s  (%s)\n", name, it.Why)
		case it.Kind == client.MirrorSkip && (dry || strings.Contains(it.Why, "--delete")):
			fmt.Fprintf(w, "skip     %s  (%s)\n", name, it.Why)
		}
	}
	parts := []string{
		fmt.Sprintf("%d new", sum.New), fmt.Sprintf("%d changed", sum.Changed),
		fmt.Sprintf("%d deleted", sum.Deleted), fmt.Sprintf("%d skipped", sum.Skipped),
	}
	line := strings.Join(parts, ", ")
	if dry {
		var bytes int64
		for _, it := range sum.Plan {
			if (it.Kind == client.MirrorNew || it.Kind == client.MirrorChanged) && !it.Dir {
				bytes += max(it.Size, 0)
			}
		}
		line = "dry run: would be " + line + ", up to " + units.FormatSize(bytes) + " to move; nothing was changed"
	} else {
		line = fmt.Sprintf("mirror: %s; %s moved in %s", line, units.FormatSize(sum.Bytes), sum.Elapsed.Round(sum.Elapsed/100+1))
	}
	if sum.Kept > 0 {
		line += fmt.Sprintf("; %d only at the destination, kept (--delete removes them)", sum.Kept)
	}
	fmt.Fprintln(w, line)
}

func cmdMirror(ctx context.Context, s *Shell, _ flags, args []string) error {
	var o client.MirrorOptions
	fs := pflag.NewFlagSet("mirror", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	par := MirrorFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("mirror: %v (usage: mirror %s)", err, mirrorUsage)
	}
	if err := CheckMirror(o, *par); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	rest := fs.Args()
	if len(rest) > 2 {
		return fmt.Errorf("usage: mirror %s", mirrorUsage)
	}
	// lftp's defaults: the remote folder here, into a local folder of
	// its name.
	var src, dst string
	switch {
	case len(rest) == 2:
		src, dst = rest[0], rest[1]
	case len(rest) == 1:
		src, dst = rest[0], path.Base(strings.TrimRight(rest[0], "/"))
	case o.Reverse:
		src, dst = "", "."
	default:
		src, dst = ".", ""
	}
	if o.Reverse {
		src = s.local(src)
	} else {
		dst = s.local(dst)
	}
	o.Parallel, o.Dial = *par, s.cfg.Dial
	o.Reconnect, o.OnReconnect = true, s.reconnectNotice()
	defer s.forget()
	var sum client.MirrorSummary
	err := s.withProgress(func(ob client.Observer) error {
		o.Observer = ob
		var err error
		sum, err = client.Mirror(ctx, s.c, src, dst, o)
		return err
	})
	if len(sum.Plan) > 0 || err == nil {
		PrintMirror(s.cfg.Out, sum, o.DryRun)
	}
	return err
}

const mirrorUsage = "[-R] [--delete] [--only-newer] [--dry-run] [--checksum] [-P N] [--exclude GLOB]... [SRC [DEST]]"
