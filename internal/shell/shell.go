// Package shell is wharf's interactive FTP client: a command loop over one
// client.Conn with line editing, history and tab completion of commands,
// remote paths and local paths (chzyer/readline) at a terminal, and plain
// one-command-per-line reading otherwise (scripts).
//
// It owns parsing what the user types and showing results. It must never
// speak FTP itself (that is package client), never change the process's
// working directory (lcd moves the shell's own local folder), and never let
// one failed command end the session: errors are shown with the server's
// code and text, and the loop goes on.
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chzyer/readline"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/progress"
	"github.com/wharfftp/wharf/internal/units"
)

// Config wires a shell to its connection and its terminal.
type Config struct {
	Conn *client.Conn
	// Dial opens another logged-in connection: parallel transfers, and
	// reconnecting after the server dropped the session.
	Dial        func(ctx context.Context) (*client.Conn, error)
	In          io.Reader
	Out, Err    io.Writer
	Interactive bool   // line editing, history, completion
	HistoryFile string // "" for none
	Progress    progress.Mode
	Parallel    int
	// LocalDir is where local paths start; "" means the process's.
	LocalDir string
	// Interrupts, when set, cancels the running command (not the session)
	// on each value: Ctrl-C during a transfer brings the prompt back.
	Interrupts <-chan os.Signal
	// Getenv reads PAGER, SHELL and the config folder's variables; nil
	// is os.Getenv.
	Getenv func(string) string
	// Password is the session's, for bookmark add -p only; "" unknown.
	Password string
	// Keepalive is how long the session may sit idle before the shell
	// sends NOOP, so that a server's idle timer (often 5 minutes) or a NAT
	// does not drop a session someone is still sitting at. 0 means
	// defaultKeepalive, < 0 none.
	Keepalive time.Duration
}

// defaultKeepalive is well inside the 300 s idle timeout of wharf, vsftpd
// and pyftpdlib, and rare enough to cost nothing.
const defaultKeepalive = 60 * time.Second

// Shell is one interactive session.
type Shell struct {
	cfg   Config
	c     *client.Conn
	cwd   string // remote, as PWD said
	lcwd  string // local, absolute
	cache map[string][]client.Entry
	table map[string]*command
	names []string
	quit  bool
	// mu is held while a command runs: the keepalive sends its NOOP only
	// between commands (a Conn is not for concurrent use). It guards c
	// and lastUse.
	mu sync.Mutex
	// lastUse is when the connection last answered; see staleAfter.
	lastUse time.Time
	rl      *readline.Instance // at a terminal; asks confirmations
}

// staleAfter is how long the connection may sit idle before a command
// first checks it with NOOP: servers drop idle sessions after minutes.
const staleAfter = 30 * time.Second

type command struct {
	name, usage, help string
	min, max          int // argument counts after flags; max -1 for any
	flags             string
	// raw commands parse their own arguments (long flags: mirror); line
	// commands get the rest of the line as typed, one argument (quote, !).
	raw, line bool
	// terminal commands hand the terminal to another program (a pager, a
	// local command): its input is left as the user set it.
	terminal bool
	long     string // more for help COMMAND
	remote   []bool // per argument position: remote (true) or local path, for completion
	run      func(ctx context.Context, s *Shell, f flags, args []string) error
}

type flags map[byte]bool

// New builds a shell; Run starts it.
func New(cfg Config) *Shell {
	s := &Shell{cfg: cfg, c: cfg.Conn, cache: map[string][]client.Entry{}, lastUse: time.Now()}
	s.lcwd = cfg.LocalDir
	if s.lcwd == "" {
		s.lcwd, _ = os.Getwd()
	}
	s.table = map[string]*command{}
	for _, c := range commands() {
		s.table[c.name] = c
		s.names = append(s.names, c.name)
	}
	sort.Strings(s.names)
	s.table["exit"], s.table["bye"], s.table["?"], s.table["dir"] = s.table["quit"], s.table["quit"], s.table["help"], s.table["ls"]
	return s
}

// Run reads and runs commands until quit or end of input. It returns the
// first command failure (so a script's exit status tells something went
// wrong) after running all of them.
func (s *Shell) Run(ctx context.Context) error {
	s.cwd, _ = s.c.Pwd(ctx)
	stop := s.keepalive(ctx)
	defer stop()
	if s.cfg.Interactive {
		return s.runInteractive(ctx)
	}
	var first error
	failed := 0
	sc := bufio.NewScanner(s.cfg.In)
	for !s.quit && sc.Scan() {
		if err := s.Exec(ctx, sc.Text()); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if first != nil {
		return fmt.Errorf("%d command(s) failed, the first: %w", failed, first)
	}
	return nil
}

func (s *Shell) runInteractive(ctx context.Context) error {
	if s.cfg.HistoryFile != "" {
		os.MkdirAll(filepath.Dir(s.cfg.HistoryFile), 0o700)
	}
	in, ok := s.cfg.In.(io.ReadCloser)
	if !ok {
		in = io.NopCloser(s.cfg.In)
	}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          s.prompt(),
		HistoryFile:     s.cfg.HistoryFile,
		AutoComplete:    s,
		Stdin:           in,
		Stdout:          s.cfg.Out,
		Stderr:          s.cfg.Err,
		InterruptPrompt: "^C",
		EOFPrompt:       "quit",
	})
	if err != nil {
		return fmt.Errorf("start line editor: %w", err)
	}
	defer rl.Close()
	s.rl = rl
	defer func() { s.rl = nil }()
	fmt.Fprintf(s.cfg.Out, "Connected to %s as %s. Type help for commands, Tab to complete.\n", s.c.Target().HostPort(), s.c.User())
	for !s.quit {
		rl.SetPrompt(s.prompt())
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // io.EOF: Ctrl-D
			break
		}
		s.Exec(ctx, line) // shown already; a person at the prompt has seen it
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func (s *Shell) prompt() string { return "wharf:" + client.Printable(s.cwd) + "> " }

// Exec runs one command line, printing its output and any error.
func (s *Shell) Exec(ctx context.Context, line string) error {
	trimmed := strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(trimmed, "!"); ok {
		trimmed = "! " + rest // "!ls" is "! ls"
	}
	// A line command takes the rest of the line as typed, quotes and all:
	// it is the server's or sh's to read, so it is not split into words.
	verb, rest, _ := strings.Cut(trimmed, " ")
	if lc, ok := s.table[strings.ToLower(verb)]; ok && lc.line {
		return s.run(ctx, lc, flags{}, []string{strings.TrimSpace(rest)}, nil)
	}
	words, err := split(line)
	if err != nil {
		fmt.Fprintf(s.cfg.Err, "error: %s\n", client.PrintableText(err.Error()))
		return err
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return nil
	}
	cmd, ok := s.table[strings.ToLower(words[0])]
	if !ok {
		err := fmt.Errorf("unknown command %q (try help)", words[0])
		fmt.Fprintf(s.cfg.Err, "error: %s\n", client.PrintableText(err.Error()))
		return err
	}
	f, args, err := flags{}, words[1:], error(nil)
	if !cmd.raw {
		f, args, err = parseFlags(cmd, words[1:])
	}
	if err == nil && !cmd.raw && (len(args) < cmd.min || cmd.max >= 0 && len(args) > cmd.max) {
		err = fmt.Errorf("usage: %s %s", cmd.name, cmd.usage)
	}
	return s.run(ctx, cmd, f, args, err)
}

// keepalive sends NOOP whenever the session has been idle for
// cfg.Keepalive, until the returned stop is called.
func (s *Shell) keepalive(ctx context.Context) (stop func()) {
	every := s.cfg.Keepalive
	if every == 0 {
		every = defaultKeepalive
	}
	if every < 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !s.mu.TryLock() {
				continue // a command is running: the connection is in use
			}
			if time.Since(s.lastUse) >= every && s.c.Err() == nil {
				nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if s.c.Noop(nctx) == nil {
					s.lastUse = time.Now()
				}
				cancel()
			}
			s.mu.Unlock()
		}
	}()
	return func() { close(done); wg.Wait() }
}

// run runs a parsed command (err: why it cannot run) and reports how it went.
func (s *Shell) run(ctx context.Context, cmd *command, f flags, args []string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && cmd.name != "quit" && time.Since(s.lastUse) > staleAfter {
		// A server may have dropped an idle session: find out now, not
		// halfway through the command.
		s.c.Noop(ctx)
	}
	if err == nil && cmd.name != "quit" && s.c.Err() != nil {
		err = s.reconnect(ctx)
	}
	defer func() { s.lastUse = time.Now() }()
	if err == nil {
		err = s.runCmd(ctx, cmd, f, args)
	}
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) && ctx.Err() == nil:
		resume := cmd.name + " -c"
		if cmd.name == "mirror" {
			resume = "the same mirror" // it resumes by itself
		}
		if what, ok := client.DescribeInterrupted(err, resume); ok {
			fmt.Fprintf(s.cfg.Err, "interrupted: %s: %s\n", cmd.name, what)
		} else {
			fmt.Fprintf(s.cfg.Err, "interrupted: %s\n", cmd.name)
		}
	default:
		fmt.Fprintf(s.cfg.Err, "error: %s\n", client.PrintableText(err.Error()))
	}
	return err
}

// runCmd runs one command under its own context, so an interrupt ends the
// command and not the session.
func (s *Shell) runCmd(ctx context.Context, cmd *command, f flags, args []string) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cfg.Interactive && !cmd.terminal {
		defer progress.QuietInput(s.cfg.In)()
	}
	if s.cfg.Interrupts != nil {
		for len(s.cfg.Interrupts) > 0 { // stale: typed while nothing ran
			<-s.cfg.Interrupts
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-s.cfg.Interrupts:
				cancel()
			case <-done:
			}
		}()
	}
	return cmd.run(cctx, s, f, args)
}

func (s *Shell) reconnect(ctx context.Context) error {
	if s.cfg.Dial == nil {
		return fmt.Errorf("connection lost: %w", s.c.Err())
	}
	fmt.Fprintf(s.cfg.Err, "connection lost (%s); reconnecting\n", client.PrintableText(s.c.Err().Error()))
	c, err := s.cfg.Dial(ctx)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	s.c.Close()
	s.c = c
	s.forget()
	if s.cwd != "" {
		if err := c.Cwd(ctx, s.cwd); err != nil {
			s.cwd, _ = c.Pwd(ctx)
		}
	}
	return nil
}

// ask puts a yes/no question at the terminal; only "y" or "yes" is yes.
func (s *Shell) ask(q string) bool {
	if s.rl == nil {
		return false
	}
	defer s.rl.SetPrompt(s.prompt())
	s.rl.SetPrompt(q)
	ans, err := s.rl.Readline()
	ans = strings.ToLower(strings.TrimSpace(ans))
	return err == nil && (ans == "y" || ans == "yes")
}

// reconnectNotice is what a batch says when it reopens the connection:
// nothing over live bars (they would tear), a line otherwise.
func (s *Shell) reconnectNotice() func(string) {
	if s.cfg.Progress == progress.Bars {
		return nil
	}
	return func(msg string) { fmt.Fprintf(s.cfg.Err, "%s\n", msg) }
}

// Conn is the shell's current connection (it changes after a reconnect).
func (s *Shell) Conn() *client.Conn { return s.c }

func parseFlags(cmd *command, words []string) (flags, []string, error) {
	f := flags{}
	var args []string
	for i, w := range words {
		if w == "--" {
			args = append(args, words[i+1:]...)
			break
		}
		if len(w) > 1 && w[0] == '-' && cmd.flags != "" {
			for _, r := range w[1:] {
				if !strings.ContainsRune(cmd.flags, r) {
					return nil, nil, fmt.Errorf("%s: unknown flag -%c (usage: %s %s)", cmd.name, r, cmd.name, cmd.usage)
				}
				f[byte(r)] = true
			}
			continue
		}
		args = append(args, w)
	}
	return f, args, nil
}

// split breaks a line into words: spaces separate, "double" and 'single'
// quotes and backslashes keep spaces in names.
func split(line string) ([]string, error) {
	words, last, quote, typed := completionWords(line)
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if typed > 0 { // a word was still being typed at the end
		words = append(words, last)
	}
	return words, nil
}

// local resolves a local path against the shell's local folder.
func (s *Shell) local(p string) string {
	if p == "" {
		return s.lcwd
	}
	q := p
	if strings.HasPrefix(q, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			q = filepath.Join(home, q[2:])
		}
	}
	if !filepath.IsAbs(q) {
		q = filepath.Join(s.lcwd, q)
	}
	if sep := string(filepath.Separator); strings.HasSuffix(p, sep) && !strings.HasSuffix(q, sep) {
		// Join cleans the trailing separator away, but it means something:
		// "put -r photos/" copies what is inside, "get f new/" makes new.
		q += sep
	}
	return q
}

func (s *Shell) forget() { clear(s.cache) }

func (s *Shell) transferOptions(f flags) client.TransferOptions {
	return client.TransferOptions{Continue: f['c'], Recursive: f['r'], Force: f['f'], Parallel: s.cfg.Parallel, Dial: s.cfg.Dial,
		Reconnect: f['r'], OnReconnect: s.reconnectNotice()}
}

func (s *Shell) withProgress(fn func(o client.Observer) error) error {
	pr := progress.New(s.cfg.Out, s.cfg.Progress)
	err := fn(pr)
	pr.Wait()
	return err
}

// List prints a remote folder (or one file): names, folders ending in "/";
// long adds type, size in bytes and time.
func List(ctx context.Context, c *client.Conn, w io.Writer, dir string, long bool) error {
	entries, err := c.List(ctx, dir)
	if err != nil {
		if c.Err() != nil || dir == "" {
			return err
		}
		st, serr := c.Stat(ctx, dir)
		if serr != nil || st.Type == client.TypeDir {
			return err
		}
		st.Name = dir
		entries = []client.Entry{st}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, e := range entries {
		name := client.Printable(e.Name)
		if e.Type == client.TypeDir {
			name += "/"
		}
		if !long {
			fmt.Fprintln(w, name)
			continue
		}
		kind := map[client.EntryType]string{client.TypeFile: "-", client.TypeDir: "d", client.TypeLink: "l", client.TypeOther: "?"}[e.Type]
		when := "-"
		if !e.ModTime.IsZero() {
			when = e.ModTime.Local().Format("2006-01-02 15:04")
		}
		if e.Target != "" {
			name += " -> " + client.Printable(e.Target)
		}
		fmt.Fprintf(w, "%s %12d  %s  %s\n", kind, e.Size, when, name)
	}
	return nil
}

func formatQuota(q client.Quota) string {
	if q.Used < 0 && q.Files < 0 {
		return client.Printable(strings.ReplaceAll(q.Text, "\n", " "))
	}
	var parts []string
	switch {
	case q.Used < 0:
	case q.Limit < 0:
		parts = append(parts, units.FormatSize(q.Used)+" used, no limit")
	default:
		parts = append(parts, fmt.Sprintf("%s used of %s, %s left", units.FormatSize(q.Used), units.FormatSize(q.Limit), units.FormatSize(q.Left())))
	}
	switch {
	case q.Files < 0:
	case q.FileLimit < 0:
		parts = append(parts, fmt.Sprintf("%d files, no limit", q.Files))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d files, %d left", q.Files, q.FileLimit, q.FilesLeft()))
	}
	return strings.Join(parts, "; ")
}
