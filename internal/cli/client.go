package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/progress"
	"github.com/wharfftp/wharf/internal/shell"
)

const clientHelp = `

Addresses: ftp://[user[:password]@]host[:port]/path, or ftps:// for implicit
TLS (port 990), or NAME[/path] for a bookmark saved in the shell (bookmark
add NAME). FTP addresses have no query or fragment, so '?' and '#' are
part of the path or password as typed; percent-escapes are decoded (%25 is
'%', %40 an '@' in a user name or password). Explicit TLS is used whenever
the server offers it (--tls requires it, --no-tls refuses it). A
certificate no authority vouches for is shown with its SHA256 fingerprint
and, once accepted, pinned in known_servers; a changed one is refused, and
so is a pinned server that no longer offers TLS (before the password is
sent; --no-tls is the explicit way to log in in clear).

Password, first found: the address, WHARF_PASSWORD, ~/.netrc (or $NETRC),
a prompt at a terminal. WHARF_PASSWORD is taken as the password of whichever
user logs in (the address's, else netrc's), so set it for one server and
user at a time. No user in the address or netrc means anonymous, and then
WHARF_PASSWORD is not used.

Exit codes: 0 ok, 2 usage, 3 connection or TLS, 4 login, 5 not found,
6 permission, 7 quota, 8 checksum mismatch, 130 interrupted (Ctrl-C),
1 anything else.`

// clientFlags are shared by ftp, get, put and ls.
type clientFlags struct {
	cont, recursive, quiet bool
	force                  bool
	tls, noTLS, active     bool
	pasvAddress            bool
	parallel               int
	trust                  []string
	knownServers           string
	debug                  bool
	long                   bool
	hasParallel            bool // the command takes -P
	segments               int  // get -n
}

func (f *clientFlags) register(cmd *cobra.Command, transfers bool) {
	fl := cmd.Flags()
	if transfers {
		fl.BoolVarP(&f.cont, "continue", "c", false, "resume partial transfers")
		fl.BoolVarP(&f.recursive, "recursive", "r", false, "copy folders")
		fl.BoolVarP(&f.force, "force", "f", false, "replace files that exist at the destination")
		fl.IntVarP(&f.parallel, "parallel", "P", 1, "files to transfer at once, 1 to 32 (one connection each)")
		f.hasParallel = true
		fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	}
	fl.BoolVar(&f.tls, "tls", false, "require TLS (fail if the server does not offer AUTH TLS)")
	fl.BoolVar(&f.noTLS, "no-tls", false, "never upgrade to TLS (passwords cross the network in clear)")
	fl.StringArrayVar(&f.trust, "trust", nil, "trust and pin a server certificate with this fingerprint (SHA256:...)")
	fl.StringVar(&f.knownServers, "known-servers", "", "pinned certificates file (default $XDG_CONFIG_HOME/wharf/known_servers)")
	fl.BoolVar(&f.active, "active", false, "active mode (the server connects back: PORT/EPRT)")
	fl.BoolVar(&f.pasvAddress, "pasv-address", false, "connect to the address in PASV replies (default: ignore it and use the server's host, so a server cannot send the data elsewhere)")
	fl.BoolVar(&f.debug, "debug", false, "print the control connection dialogue (passwords masked) to stderr")
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// session is a connected client command: the connection and what is needed
// to dial more like it.
type session struct {
	conn   *client.Conn
	target *client.Target
	dial   func(ctx context.Context) (*client.Conn, error)
	pass   string // for bookmark add -p
}

func (f *clientFlags) connect(ctx context.Context, env *Env, rawURL string) (*session, error) {
	if f.tls && f.noTLS {
		return nil, usageError(errors.New("--tls and --no-tls contradict each other"))
	}
	if !f.hasParallel {
		f.parallel = 1
	}
	if f.parallel < 1 || f.parallel > 32 {
		return nil, usageError(fmt.Errorf("-P %d: choose 1 to 32 parallel transfers", f.parallel))
	}
	for _, fp := range f.trust {
		if !strings.HasPrefix(fp, "SHA256:") {
			return nil, usageError(fmt.Errorf("--trust %s: a fingerprint looks like SHA256:<base64>", fp))
		}
	}
	t, err := client.ParseURL(shell.ResolveBookmark(env.Getenv, rawURL))
	if err != nil {
		return nil, usageError(err)
	}
	opts := client.Options{Active: f.active, PasvAddress: f.pasvAddress, Trust: f.trust, KnownServers: f.knownServers}
	if opts.KnownServers == "" {
		opts.KnownServers = client.DefaultKnownServers(env.Getenv)
	}
	switch {
	case f.tls:
		opts.TLS = client.TLSRequire
	case f.noTLS:
		opts.TLS = client.TLSOff
	}
	if f.debug {
		opts.Trace = env.Stderr
	}
	interactive := isTerminal(env.Stdin) && isTerminal(env.Stderr)
	var askPass func(string) (string, error)
	if interactive {
		fd := int(env.Stdin.(*os.File).Fd())
		opts.Ask = func(q string) bool {
			fmt.Fprintf(env.Stderr, "%s [yes/no] ", q)
			ans, _ := readPrompt(ctx, fd, func() (string, error) { return readLine(env.Stdin), nil })
			ans = strings.ToLower(strings.TrimSpace(ans))
			return ans == "yes" || ans == "y"
		}
		askPass = func(prompt string) (string, error) {
			fmt.Fprint(env.Stderr, prompt)
			pass, err := readPrompt(ctx, fd, func() (string, error) {
				b, err := term.ReadPassword(fd)
				return string(b), err
			})
			fmt.Fprintln(env.Stderr)
			return pass, err
		}
	}
	user, pass, err := client.ResolveLogin(t, env.Getenv, askPass)
	if err != nil {
		return nil, withCode(ExitLogin, err)
	}
	dial := func(ctx context.Context) (*client.Conn, error) {
		o := opts
		o.Ask = nil // the certificate is pinned or trusted by the time workers dial
		o.Trace = nil
		return client.Connect(ctx, t, o, user, pass)
	}
	c, err := client.Connect(ctx, t, opts, user, pass)
	if err != nil {
		return nil, clientError(err)
	}
	return &session{conn: c, target: t, dial: dial, pass: pass}, nil
}

// readPrompt runs read, a blocking read of an answer at the terminal fd,
// until it returns or ctx ends (Ctrl-C: the signal is caught, so the read
// would otherwise wait on). The terminal's state is put back either way:
// a password prompt turns echo off.
func readPrompt(ctx context.Context, fd int, read func() (string, error)) (string, error) {
	state, _ := term.GetState(fd)
	type answer struct {
		s   string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		s, err := read()
		got <- answer{s, err}
	}()
	select {
	case a := <-got:
		return a.s, a.err
	case <-ctx.Done():
		if state != nil {
			term.Restore(fd, state)
		}
		return "", context.Cause(ctx)
	}
}

// readLine reads one line without buffering past it: the rest of stdin
// belongs to whoever reads next (the shell).
func readLine(r io.Reader) string {
	var b strings.Builder
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b.WriteByte(one[0])
		}
		if err != nil {
			break
		}
	}
	return b.String()
}

// clientError gives a client failure its exit code.
func clientError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	var ue *UsageError
	if errors.As(err, &ee) || errors.As(err, &ue) {
		return err
	}
	return withCode(clientExitCode(err), printableError{err})
}

// printableError shows a client failure with the server's text (replies,
// file names) escaped where it holds terminal control characters.
type printableError struct{ err error }

func (e printableError) Error() string { return client.PrintableText(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

func newClientCmds(env *Env) []*cobra.Command {
	return []*cobra.Command{newFTPCmd(env), newGetCmd(env), newPutCmd(env), newLsCmd(env), newMirrorCmd(env)}
}

func newFTPCmd(env *Env) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "ftp URL",
		Short: "Interactive FTP/FTPS client (ftp://user@host/path, ftps:// for implicit TLS)",
		Long: `Opens an interactive session: ls, cd, get, put, mget, mput, mirror, rm,
mkdir, mv, cat, more, less, quote, chmod, du, find, bookmark, !COMMAND,
hash, status, help (help COMMAND for one). Reads commands one per line when
stdin is not a terminal (and then exits with the code of the first failing
command). While idle it sends NOOP every minute so the server keeps the
session; a connection lost during a batch (get -r, mget, mirror) is reopened
and the batch goes on.` + clientHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Ctrl-C while connecting (at a prompt), or while a script runs,
			// ends the command with 130; at an interactive prompt the shell
			// decides what it means.
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			s, err := f.connect(ctx, env, args[0])
			if err != nil {
				return interrupted(ctx, err)
			}
			defer s.conn.Quit(context.WithoutCancel(ctx))
			if s.target.Path != "" {
				if err := s.conn.Cwd(ctx, s.target.Path); err != nil {
					return clientError(fmt.Errorf("cd %s: %w", s.target.Path, err))
				}
			}
			interactive := isTerminal(env.Stdin) && isTerminal(env.Stdout)
			var interrupts chan os.Signal
			if interactive {
				// At the prompt Ctrl-C interrupts the running command, not
				// the session; SIGTERM and SIGHUP still end it.
				interrupts = make(chan os.Signal, 1)
				signal.Notify(interrupts, os.Interrupt)
				defer signal.Stop(interrupts)
				term := make(chan os.Signal, 1)
				signal.Notify(term, syscall.SIGTERM, syscall.SIGHUP)
				defer signal.Stop(term)
				stop() // the shell's Interrupts hear Ctrl-C now
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
				defer cancel()
				go func() {
					select {
					case <-term:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			sh := shell.New(shell.Config{
				Interrupts: interrupts,
				Conn:       s.conn, Dial: s.dial,
				In: env.Stdin, Out: env.Stdout, Err: env.Stderr,
				Interactive: interactive,
				HistoryFile: path.Join(client.ConfigDir(env.Getenv), "history"),
				Progress:    progress.Detect(env.Stdout, f.quiet),
				Parallel:    f.parallel,
				Getenv:      env.Getenv,
				Password:    s.pass,
			})
			return clientError(interrupted(ctx, sh.Run(ctx)))
		},
	}
	f.register(cmd, true)
	return cmd
}

func (f *clientFlags) transferOptions(env *Env, s *session, pr *shownProgress, batch bool) client.TransferOptions {
	return client.TransferOptions{
		Continue: f.cont, Recursive: f.recursive, Force: f.force, Parallel: f.parallel,
		Observer: pr.Progress, Dial: s.dial,
		Reconnect: batch || f.recursive, OnReconnect: reconnectNotice(env, pr),
	}
}

// reconnectNotice tells the user, on stderr, that a batch lost its
// connection and is reopening it; above live bars it would tear them, so
// then it says nothing until the summary.
func reconnectNotice(env *Env, pr *shownProgress) func(string) {
	if pr.mode == progress.Bars {
		return nil
	}
	return func(msg string) { fmt.Fprintf(env.Stderr, "wharf: %s\n", msg) }
}

// shownProgress is a one-shot command's progress and, while bars are drawn
// on a terminal, its input kept from echoing into them (see
// progress.QuietInput); done puts the terminal back, once.
type shownProgress struct {
	*progress.Progress
	mode    progress.Mode
	restore func()
}

func (f *clientFlags) progress(env *Env) *shownProgress {
	mode := progress.Detect(env.Stdout, f.quiet)
	sp := &shownProgress{Progress: progress.New(env.Stdout, mode), mode: mode, restore: func() {}}
	if mode == progress.Bars {
		sp.restore = progress.QuietInput(env.Stdin)
	}
	return sp
}

func (sp *shownProgress) done() {
	sp.restore()
	sp.restore = func() {}
}

func newGetCmd(env *Env) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "get URL [LOCAL]",
		Short: "Download a file (or a folder with -r), verified end to end",
		Long: `Downloads to NAME.part, checks it against the server's strongest checksum
(HASH SHA-256, else XSHA256/XSHA1/XMD5/XCRC, else the size; "not verified"
when the server offers neither) and renames it when it matches. -c resumes a
partial NAME.part; -r skips files already identical. A file that exists
here and differs is not replaced without -f (or -c, which resumes into it);
in a batch that rule is per file and the summary names the files left alone.
-n N fetches one file as N ranges at once, each on its own connection
(lftp's pget -n), into NAME.part with its progress in NAME.part.state:
get -c -n N after an interruption fetches only the missing ranges.

A file goes to LOCAL, or into LOCAL when it is a folder (default: here).
A folder (-r) follows rsync's rule, whatever exists locally, so running the
same command again (with -c after an interruption) finishes the same copy:
  wharf get -r URL/photos DEST    copies the folder as DEST/photos
  wharf get -r URL/photos/ DEST   copies what is inside photos into DEST
  wharf get -r URL/photos         copies it as ./photos
DEST is created when missing; an address without a path copies the login
folder's contents into DEST.` + clientHelp,
		Example: `  wharf get ftp://alice@example.org/reports/2024.pdf
  wharf get -r -P 4 ftps://alice@example.org/photos ~/Pictures
  wharf get -n 4 ftp://example.org/pub/big.iso  # 4 ranges on 4 connections at once
  wharf get -c ftp://example.org/pub/big.iso   # finish an interrupted download`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.segments < 1 || f.segments > 32 {
				return usageError(fmt.Errorf("-n %d: choose 1 to 32 segments", f.segments))
			}
			if f.segments > 1 && f.recursive {
				return usageError(errors.New("-n splits one file; it does not combine with -r (-P runs several files at once)"))
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			s, err := f.connect(ctx, env, args[0])
			if err != nil {
				return interrupted(ctx, err)
			}
			defer s.conn.Quit(context.WithoutCancel(ctx))
			if s.target.Path == "" && !f.recursive {
				return usageError(errors.New("get: the address names no file (add /path, or -r for the whole folder)"))
			}
			local := ""
			if len(args) == 2 {
				local = args[1]
			}
			pr := f.progress(env)
			defer pr.done()
			if f.segments > 1 {
				_, err = client.GetSegmented(ctx, s.conn, s.target.Path, local, f.segments, f.transferOptions(env, s, pr, false))
			} else {
				_, err = client.Get(ctx, s.conn, cmpOr(s.target.Path, "."), local, f.transferOptions(env, s, pr, false))
			}
			pr.Wait()
			pr.done()
			return clientError(interrupted(ctx, err))
		},
	}
	f.register(cmd, true)
	cmd.Flags().IntVarP(&f.segments, "segments", "n", 1, "download one file as N ranges over N connections at once (lftp's pget -n), 1 to 32; -c resumes only the missing ranges")
	return cmd
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newPutCmd(env *Env) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "put LOCAL... URL",
		Short: "Upload files (or folders with -r), verified end to end",
		Long: `Uploads and then compares the server's checksum of what it stored with the
local file. -c continues a partial upload (REST+STOR, or APPE); -r skips
files already identical. A file that exists on the server and differs is
not replaced without -f (or -c); in a batch the rule is per file and the
summary names the files left alone.

A file goes to the address's path, or into it when that is a folder or ends
in "/". A folder (-r) follows rsync's rule, whatever exists on the server,
so running the same command again (with -c after an interruption) finishes
the same copy:
  wharf put -r photos URL/backup    copies the folder as /backup/photos
  wharf put -r photos/ URL/backup   copies what is inside photos into /backup
  wharf put -r photos URL/          copies it as /photos` + clientHelp,
		Example: `  wharf put report.pdf ftp://alice@example.org/inbox/
  wharf put -r -P 4 photos ftps://alice@example.org/`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			s, err := f.connect(ctx, env, args[len(args)-1])
			if err != nil {
				return interrupted(ctx, err)
			}
			defer s.conn.Quit(context.WithoutCancel(ctx))
			// All sources are one job list: -P runs across them and the
			// progress shows one total.
			pr := f.progress(env)
			defer pr.done()
			_, err = client.PutAll(ctx, s.conn, args[:len(args)-1], s.target.Path, f.transferOptions(env, s, pr, len(args) > 2))
			pr.Wait()
			pr.done()
			return clientError(interrupted(ctx, err))
		},
	}
	f.register(cmd, true)
	return cmd
}

func newLsCmd(env *Env) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "ls URL",
		Short: "List a remote folder",
		Long:  "Lists names, folders ending in \"/\"; -l adds type, size in bytes and time." + clientHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			s, err := f.connect(ctx, env, args[0])
			if err != nil {
				return interrupted(ctx, err)
			}
			defer s.conn.Quit(context.WithoutCancel(ctx))
			return clientError(interrupted(ctx, shell.List(ctx, s.conn, env.Stdout, s.target.Path, f.long)))
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVarP(&f.long, "long", "l", false, "sizes and times")
	return cmd
}
