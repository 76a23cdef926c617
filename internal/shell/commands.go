package shell

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wharfftp/wharf/internal/client"
)

// commands is the shell's command table: one row per command, from which
// dispatch, argument checks, completion and help are all derived.
func commands() []*command {
	R, L := true, false
	return []*command{
		{name: "ls", usage: "[-l] [PATH]", help: "list a remote folder", max: 1, flags: "la", remote: []bool{R}, run: cmdLs},
		{name: "cd", usage: "PATH", help: "change the remote folder", min: 1, max: 1, remote: []bool{R}, run: cmdCd},
		{name: "pwd", help: "show the remote folder", run: cmdPwd},
		{name: "lcd", usage: "[PATH]", help: "change the local folder", max: 1, remote: []bool{L}, run: cmdLcd},
		{name: "lls", usage: "[PATH]", help: "list a local folder", max: 1, remote: []bool{L}, run: cmdLls},
		{name: "lpwd", help: "show the local folder", run: cmdLpwd},
		{name: "get", usage: "[-c] [-f] [-r] REMOTE [LOCAL]", help: "download (-c resume, -f replace, -r folders), verified by checksum", min: 1, max: 2, flags: "cfr", remote: []bool{R, L}, run: cmdGet},
		{name: "pget", usage: pgetUsage, help: "download one file over N connections at once (lftp's pget; -n N ranges, default 5; -c resumes only the missing ones)", raw: true, remote: []bool{R, L}, run: cmdPget},
		{name: "put", usage: "[-c] [-f] [-r] LOCAL [REMOTE]", help: "upload (-c resume, -f replace, -r folders), verified by checksum", min: 1, max: 2, flags: "cfr", remote: []bool{L, R}, run: cmdPut},
		{name: "mget", usage: "[-c] [-f] [-r] PATTERN...", help: "download everything matching remote globs", min: 1, max: -1, flags: "cfr", remote: []bool{R}, run: cmdMget},
		{name: "mput", usage: "[-c] [-f] [-r] PATTERN...", help: "upload everything matching local globs", min: 1, max: -1, flags: "cfr", remote: []bool{L}, run: cmdMput},
		{name: "mirror", usage: mirrorUsage, help: "make a local folder a copy of a remote one (-R: the other way); only what differs moves", raw: true, remote: []bool{R, L}, run: cmdMirror},
		{name: "rm", usage: "[-r] [-f] PATH...", help: "delete remote files (-r: folders too, after a confirmation unless -f)", min: 1, max: -1, flags: "rf", remote: []bool{R}, run: cmdRm},
		{name: "quote", usage: "RAW", help: "send a raw command to the server and print its reply", line: true, run: cmdQuote},
		{name: "cat", usage: "FILE...", help: "print remote files", min: 1, max: -1, remote: []bool{R}, run: cmdCat},
		{name: "more", usage: "FILE...", help: "show remote files page by page ($PAGER, else more)", min: 1, max: -1, remote: []bool{R}, terminal: true, run: cmdMore},
		{name: "less", usage: "FILE...", help: "show remote files page by page ($PAGER, else less)", min: 1, max: -1, remote: []bool{R}, terminal: true, run: cmdLess},
		{name: "!", usage: "[COMMAND]", help: "run a local command with sh in the local folder (alone: a shell)", line: true, terminal: true, run: cmdBang},
		{name: "chmod", usage: "MODE PATH...", help: "change permissions on the server (SITE CHMOD, where the server has it)", min: 2, max: -1, remote: []bool{L, R}, run: cmdChmod},
		{name: "du", usage: "[-s] [-h] [PATH]", help: "bytes under each remote folder (-s: the total only, -h: in KiB, MiB ...)", max: 1, flags: "sh", remote: []bool{R}, run: cmdDu},
		{name: "find", usage: "[PATH] [GLOB]", help: "list every path under a remote folder (GLOB: only names matching it)", max: 2, remote: []bool{R}, run: cmdFind},
		{name: "bookmark", usage: "list | add [-p] NAME [URL] | del NAME", help: "saved addresses (add: this folder, or URL; -p keeps the password)", max: 3, flags: "p", run: cmdBookmark},
		{name: "mkdir", usage: "[-p] PATH", help: "create a remote folder (-p: with parents)", min: 1, max: 1, flags: "p", remote: []bool{R}, run: cmdMkdir},
		{name: "rmdir", usage: "PATH", help: "remove an empty remote folder", min: 1, max: 1, remote: []bool{R}, run: cmdRmdir},
		{name: "mv", usage: "FROM TO", help: "rename or move on the server", min: 2, max: 2, remote: []bool{R, R}, run: cmdMv},
		{name: "hash", usage: "PATH", help: "the server's checksum of a file", min: 1, max: 1, remote: []bool{R}, run: cmdHash},
		{name: "status", help: "user, server, TLS, checksum and quota", run: cmdStatus},
		{name: "help", usage: "[COMMAND]", help: "this list, and what the server supports", max: 1, run: cmdHelp},
		{name: "quit", help: "end the session", run: cmdQuit},
	}
}

func (s *Shell) remote(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func cmdLs(ctx context.Context, s *Shell, f flags, args []string) error {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	}
	return List(ctx, s.c, s.cfg.Out, dir, f['l'])
}

func cmdCd(ctx context.Context, s *Shell, _ flags, args []string) error {
	defer s.forget() // relative names mean another folder now
	if err := s.c.Cwd(ctx, args[0]); err != nil {
		return fmt.Errorf("cd %s: %w", args[0], err)
	}
	wd, err := s.c.Pwd(ctx)
	if err != nil {
		return err
	}
	s.cwd = wd
	return nil
}

func cmdPwd(ctx context.Context, s *Shell, _ flags, _ []string) error {
	wd, err := s.c.Pwd(ctx)
	if err != nil {
		return err
	}
	s.cwd = wd
	fmt.Fprintln(s.cfg.Out, client.Printable(wd))
	return nil
}

func cmdLcd(_ context.Context, s *Shell, _ flags, args []string) error {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	} else {
		dir, _ = os.UserHomeDir()
	}
	p := s.local(dir)
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("lcd: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("lcd %s: not a folder", dir)
	}
	s.lcwd = filepath.Clean(p)
	return nil
}

func cmdLls(_ context.Context, s *Shell, _ flags, args []string) error {
	p := s.local("")
	if len(args) == 1 {
		p = s.local(args[0])
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return fmt.Errorf("lls: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		fmt.Fprintln(s.cfg.Out, name)
	}
	return nil
}

func cmdLpwd(_ context.Context, s *Shell, _ flags, _ []string) error {
	fmt.Fprintln(s.cfg.Out, s.lcwd)
	return nil
}

func cmdGet(ctx context.Context, s *Shell, f flags, args []string) error {
	local := s.lcwd
	if len(args) == 2 {
		local = s.local(args[1])
	}
	return s.withProgress(func(o client.Observer) error {
		opts := s.transferOptions(f)
		opts.Observer = o
		_, err := client.Get(ctx, s.c, args[0], local, opts)
		return err
	})
}

func cmdPut(ctx context.Context, s *Shell, f flags, args []string) error {
	remote := ""
	if len(args) == 2 {
		remote = args[1]
	}
	defer s.forget()
	return s.withProgress(func(o client.Observer) error {
		opts := s.transferOptions(f)
		opts.Observer = o
		_, err := client.Put(ctx, s.c, s.local(args[0]), remote, opts)
		return err
	})
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

func cmdMget(ctx context.Context, s *Shell, f flags, args []string) error {
	var names []string
	for _, pat := range args {
		if !hasGlob(pat) {
			names = append(names, pat)
			continue
		}
		dir, base := path.Split(pat)
		entries, err := s.c.List(ctx, listDir(dir))
		if err != nil {
			return fmt.Errorf("mget %s: %w", pat, err)
		}
		n := 0
		for _, e := range entries {
			if ok, _ := path.Match(base, e.Name); ok && (e.Type != client.TypeDir || f['r']) {
				names = append(names, dir+e.Name)
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("mget %s: nothing matches", pat)
		}
	}
	// One job list for every match: -P runs across them, one total shows.
	return s.withProgress(func(o client.Observer) error {
		opts := s.transferOptions(f)
		opts.Observer = o
		opts.Reconnect = true
		_, err := client.GetAll(ctx, s.c, names, s.lcwd+string(filepath.Separator), opts)
		return err
	})
}

func cmdMput(ctx context.Context, s *Shell, f flags, args []string) error {
	var names []string
	for _, pat := range args {
		m, err := filepath.Glob(s.local(pat))
		if err != nil {
			return fmt.Errorf("mput %s: %w", pat, err)
		}
		if len(m) == 0 {
			return fmt.Errorf("mput %s: nothing matches", pat)
		}
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil && (!fi.IsDir() || f['r']) {
				names = append(names, p)
			}
		}
	}
	defer s.forget()
	return s.withProgress(func(o client.Observer) error {
		opts := s.transferOptions(f)
		opts.Observer = o
		opts.Reconnect = true
		_, err := client.PutAll(ctx, s.c, names, "", opts)
		return err
	})
}

func cmdRm(ctx context.Context, s *Shell, f flags, args []string) error {
	defer s.forget()
	for _, p := range args {
		var err error
		if f['r'] && !f['f'] {
			if st, serr := s.c.Stat(ctx, p); serr == nil && st.Type == client.TypeDir {
				if !s.cfg.Interactive {
					return fmt.Errorf("rm -r %s: a folder is removed from a script only with -f (nobody is there to confirm)", p)
				}
				if !s.ask(fmt.Sprintf("remove the folder %s and everything in it? [y/N] ", client.Printable(p))) {
					fmt.Fprintf(s.cfg.Out, "%s kept\n", client.Printable(p))
					continue
				}
			}
		}
		if f['r'] {
			err = s.c.RemoveAll(ctx, p)
		} else {
			err = s.c.Delete(ctx, p)
		}
		if err != nil {
			return fmt.Errorf("rm %s: %w", p, err)
		}
	}
	return nil
}

func cmdMkdir(ctx context.Context, s *Shell, f flags, args []string) error {
	defer s.forget()
	var err error
	if f['p'] {
		err = s.c.MkdirAll(ctx, args[0])
	} else {
		err = s.c.Mkdir(ctx, args[0])
	}
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", args[0], err)
	}
	return nil
}

func cmdRmdir(ctx context.Context, s *Shell, _ flags, args []string) error {
	defer s.forget()
	if err := s.c.Rmdir(ctx, args[0]); err != nil {
		return fmt.Errorf("rmdir %s: %w", args[0], err)
	}
	return nil
}

func cmdMv(ctx context.Context, s *Shell, _ flags, args []string) error {
	defer s.forget()
	if err := s.c.Rename(ctx, args[0], args[1]); err != nil {
		return fmt.Errorf("mv %s %s: %w", args[0], args[1], err)
	}
	return nil
}

func cmdHash(ctx context.Context, s *Shell, _ flags, args []string) error {
	algo, sum, err := s.c.Hash(ctx, args[0])
	if err != nil {
		return fmt.Errorf("hash %s: %w", args[0], err)
	}
	fmt.Fprintf(s.cfg.Out, "%s  %s  %s\n", algo, sum, args[0])
	return nil
}

func cmdStatus(ctx context.Context, s *Shell, _ flags, _ []string) error {
	c := s.c
	w := s.cfg.Out
	fmt.Fprintf(w, "server:    %s\n", c.Target().HostPort())
	if g := strings.SplitN(c.Greeting(), "\n", 2)[0]; g != "" {
		fmt.Fprintf(w, "greeting:  %s\n", client.Printable(g))
	}
	fmt.Fprintf(w, "user:      %s\n", c.User())
	fmt.Fprintf(w, "remote:    %s\n", client.Printable(s.cwd))
	fmt.Fprintf(w, "local:     %s\n", s.lcwd)
	if t := c.TLS(); t != "" {
		fmt.Fprintf(w, "TLS:       %s\n", t)
		fmt.Fprintf(w, "cert:      %s\n", c.Fingerprint())
	} else {
		fmt.Fprintf(w, "TLS:       none: commands, password and data cross the network in clear\n")
	}
	if a := c.HashAlgo(); a != "" {
		fmt.Fprintf(w, "checksum:  %s\n", a)
	} else if c.Has("SIZE") {
		fmt.Fprintf(w, "checksum:  none offered: transfers are checked by size only\n")
	} else {
		fmt.Fprintf(w, "checksum:  none offered, nor SIZE: transfers are not verified\n")
	}
	q, err := c.SiteQuota(ctx)
	switch {
	case err == nil:
		fmt.Fprintf(w, "quota:     %s\n", formatQuota(q))
	case c.Err() != nil:
		return err
	default:
		fmt.Fprintf(w, "quota:     not reported by the server (%v)\n", err)
	}
	return nil
}

func cmdHelp(ctx context.Context, s *Shell, _ flags, args []string) error {
	w := s.cfg.Out
	if len(args) == 1 {
		c, ok := s.table[args[0]]
		if !ok {
			return fmt.Errorf("help: unknown command %q", args[0])
		}
		fmt.Fprintf(w, "%s %s\n  %s\n", c.name, c.usage, c.help)
		if c.long != "" {
			fmt.Fprintln(w, c.long)
		}
		return nil
	}
	fmt.Fprintln(w, "Commands:")
	for _, n := range s.names {
		c := s.table[n]
		fmt.Fprintf(w, "  %-34s %s\n", strings.TrimSpace(c.name+" "+c.usage), c.help)
	}
	var feats []string
	for k, v := range s.c.Feat() {
		feats = append(feats, client.Printable(strings.TrimSpace(k+" "+v)))
	}
	sort.Strings(feats)
	fmt.Fprintf(w, "Server features (FEAT): %s\n", strings.Join(feats, ", "))
	if h, err := s.c.Help(ctx); err == nil {
		fmt.Fprintln(w, "Server help (HELP):")
		for _, l := range strings.Split(h, "\n") {
			fmt.Fprintln(w, "  "+client.Printable(strings.TrimSpace(l)))
		}
	} else if s.c.Err() != nil {
		return err
	}
	return nil
}

func cmdQuit(ctx context.Context, s *Shell, _ flags, _ []string) error {
	s.quit = true
	return nil
}
