package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/units"
)

// quoteRefused are commands quote must not send: they open data
// connections (whose bytes nobody would read, leaving the next reply out
// of step) or change the connection's state under the client (TLS,
// login, REIN). Each has a command of its own.
var quoteRefused = map[string]string{
	"PASV": "ls, get or put", "EPSV": "ls, get or put", "PORT": "ls, get or put", "EPRT": "ls, get or put",
	"RETR": "get or cat", "STOR": "put", "STOU": "put", "APPE": "put -c",
	"LIST": "ls", "NLST": "ls", "MLSD": "ls -l",
	"AUTH": "the --tls flag", "CCC": "nothing: the channel stays protected", "PBSZ": "nothing", "PROT": "nothing",
	"USER": "a new session", "PASS": "a new session", "REIN": "a new session", "QUIT": "quit",
}

func cmdQuote(ctx context.Context, s *Shell, _ flags, args []string) error {
	line := strings.TrimSpace(args[0])
	if line == "" {
		return fmt.Errorf("usage: quote %s", s.table["quote"].usage)
	}
	verb := strings.ToUpper(strings.Fields(line)[0])
	if use, ok := quoteRefused[verb]; ok {
		return fmt.Errorf("quote %s: not sent, it would put the session out of step (use %s)", verb, use)
	}
	code, msg, err := s.c.Quote(ctx, line)
	if err != nil {
		return err
	}
	if code >= 400 {
		return &client.Error{Code: code, Msg: msg}
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(s.cfg.Out, "%d%s%s\n", code, sep, client.Printable(strings.TrimRight(l, "\r")))
	}
	return nil
}

// terminalSafe escapes what would steer a terminal (escape sequences, a
// server's or file's control bytes) but keeps lines and tabs: cat to a
// person shows text, never commands for the terminal.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, "\\x%02x", p[i])
		default:
			b.Write(p[i : i+n])
		}
		i += n
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func cmdCat(ctx context.Context, s *Shell, _ flags, args []string) error {
	var w io.Writer = s.cfg.Out
	if s.cfg.Interactive {
		w = terminalSafe{w}
	}
	for _, name := range args {
		if _, err := s.c.Retr(ctx, name, 0, w); err != nil {
			return fmt.Errorf("cat %s: %w", name, err)
		}
	}
	return nil
}

// pager names the program that shows a file page by page: $PAGER, else
// the command's own name (less, more) when installed.
func (s *Shell) pager(name string) string {
	if p := strings.TrimSpace(s.getenv("PAGER")); p != "" {
		return p
	}
	if _, err := exec.LookPath(name); err == nil {
		return name
	}
	if _, err := exec.LookPath("more"); err == nil {
		return "more"
	}
	return ""
}

func (s *Shell) getenv(k string) string {
	if s.cfg.Getenv != nil {
		return s.cfg.Getenv(k)
	}
	return os.Getenv(k)
}

// cmdPager streams the file into the pager's input. The pager is not
// killed by Ctrl-C (it reads keys itself); the download stops and the
// pager sees the end of its input.
func cmdPager(ctx context.Context, s *Shell, _ flags, args []string, name string) error {
	prog := s.pager(name)
	if prog == "" {
		return cmdCat(ctx, s, nil, args)
	}
	cmd := exec.Command("sh", "-c", prog)
	cmd.Stdout, cmd.Stderr = s.cfg.Out, s.cfg.Err
	cmd.Dir = s.lcwd
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", name, prog, err)
	}
	var rerr error
	for _, f := range args {
		if _, rerr = s.c.Retr(ctx, f, 0, in); rerr != nil {
			rerr = fmt.Errorf("%s %s: %w", name, f, rerr)
			break
		}
	}
	in.Close()
	werr := cmd.Wait()
	if rerr != nil && !errors.Is(rerr, os.ErrClosed) && !strings.Contains(rerr.Error(), "broken pipe") {
		return rerr // a pager quit early (q) closes its input: no failure
	}
	if werr != nil {
		return fmt.Errorf("%s: %s: %w", name, prog, werr)
	}
	return nil
}

func cmdMore(ctx context.Context, s *Shell, f flags, args []string) error {
	return cmdPager(ctx, s, f, args, "more")
}

func cmdLess(ctx context.Context, s *Shell, f flags, args []string) error {
	return cmdPager(ctx, s, f, args, "less")
}

// cmdBang runs a local command with sh, in the shell's local folder. At a
// terminal it gets the terminal; from a script it gets no input, so it
// cannot swallow the script's next lines.
func cmdBang(_ context.Context, s *Shell, _ flags, args []string) error {
	line := strings.TrimSpace(args[0])
	var cmd *exec.Cmd
	if line == "" {
		sh := cmpOr(s.getenv("SHELL"), "sh")
		if !s.cfg.Interactive {
			return errors.New("usage: !COMMAND (an interactive shell needs a terminal)")
		}
		cmd = exec.Command(sh)
	} else {
		cmd = exec.Command("sh", "-c", line)
	}
	cmd.Dir = s.lcwd
	cmd.Stdout, cmd.Stderr = s.cfg.Out, s.cfg.Err
	if s.cfg.Interactive {
		cmd.Stdin = s.cfg.In
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("!%s: exit status %d", line, ee.ExitCode())
		}
		return fmt.Errorf("!%s: %w", line, err)
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cmdChmod uses SITE CHMOD, which many servers have and FTP itself lacks.
func cmdChmod(ctx context.Context, s *Shell, _ flags, args []string) error {
	mode := args[0]
	if n, err := strconv.ParseUint(mode, 8, 32); err != nil || n > 0o7777 || len(mode) < 3 || len(mode) > 4 {
		return fmt.Errorf("chmod %s: the mode is 3 or 4 octal digits (644, 0755)", mode)
	}
	defer s.forget()
	for _, p := range args[1:] {
		code, msg, err := s.c.Quote(ctx, "SITE CHMOD "+mode+" "+p)
		if err != nil {
			return err
		}
		switch {
		case code/100 == 2:
		case code == 500 || code == 502 || code == 504 || code == 202:
			return fmt.Errorf("chmod: the server has no SITE CHMOD (%d %s)", code, client.Printable(strings.SplitN(msg, "\n", 2)[0]))
		default:
			return fmt.Errorf("chmod %s: %w", p, &client.Error{Code: code, Msg: msg})
		}
	}
	return nil
}

// walkSizes calls fn for every folder under dir (dir last) with the bytes
// of the files below it.
func walkSizes(ctx context.Context, c *client.Conn, dir string, fn func(dir string, bytes int64, files int)) (int64, int, error) {
	entries, err := c.List(ctx, dir)
	if err != nil {
		return 0, 0, fmt.Errorf("list %s: %w", cmpOr(dir, "."), err)
	}
	var total int64
	files := 0
	for _, e := range entries {
		switch e.Type {
		case client.TypeDir:
			b, n, err := walkSizes(ctx, c, joinPath(dir, e.Name), fn)
			if err != nil {
				return 0, 0, err
			}
			total += b
			files += n
		case client.TypeFile:
			total += max(e.Size, 0)
			files++
		}
	}
	if fn != nil {
		fn(cmpOr(dir, "."), total, files)
	}
	return total, files, nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return path.Join(dir, name)
}

func cmdDu(ctx context.Context, s *Shell, f flags, args []string) error {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	}
	size := func(n int64) string {
		if f['h'] {
			return units.FormatSize(n)
		}
		return strconv.FormatInt(n, 10)
	}
	var each func(string, int64, int)
	if !f['s'] {
		each = func(d string, b int64, _ int) {
			fmt.Fprintf(s.cfg.Out, "%s\t%s/\n", size(b), client.Printable(d))
		}
	}
	total, files, err := walkSizes(ctx, s.c, dir, each)
	if err != nil {
		return fmt.Errorf("du: %w", err)
	}
	if f['s'] {
		fmt.Fprintf(s.cfg.Out, "%s\t%s/\t(%d files)\n", size(total), client.Printable(cmpOr(dir, ".")), files)
	}
	return nil
}

func cmdFind(ctx context.Context, s *Shell, _ flags, args []string) error {
	dir, glob := "", ""
	if len(args) >= 1 {
		dir = args[0]
	}
	if len(args) == 2 {
		glob = args[1]
		if _, err := path.Match(glob, ""); err != nil {
			return fmt.Errorf("find: pattern %q: %w", glob, err)
		}
	}
	var walk func(d string) error
	walk = func(d string) error {
		entries, err := s.c.List(ctx, d)
		if err != nil {
			return fmt.Errorf("find: list %s: %w", cmpOr(d, "."), err)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		for _, e := range entries {
			p := joinPath(d, e.Name)
			show := p
			if e.Type == client.TypeDir {
				show += "/"
			}
			if ok, _ := path.Match(glob, e.Name); glob == "" || ok {
				fmt.Fprintln(s.cfg.Out, client.Printable(show))
			}
			if e.Type == client.TypeDir {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(dir)
}

// Bookmarks live in ConfigDir/bookmarks, one "NAME URL" a line, as lftp
// keeps them. A password is written only when asked (bookmark add -p), and
// then the file is readable by its owner alone.
func (s *Shell) bookmarkFile() string { return bookmarkFile(s.getenv) }

func bookmarkFile(getenv func(string) string) string {
	return filepath.Join(client.ConfigDir(getenv), "bookmarks")
}

type bookmark struct{ name, url string }

// ResolveBookmark turns "NAME" or "NAME/path" into the saved address (with
// the path appended) when NAME is a bookmark; anything else, an address
// with "://" first of all, comes back as it is.
func ResolveBookmark(getenv func(string) string, arg string) string {
	if strings.Contains(arg, "://") {
		return arg
	}
	name, rest, _ := strings.Cut(arg, "/")
	bs, _ := readBookmarks(bookmarkFile(getenv))
	for _, b := range bs {
		if b.name == name {
			if rest == "" {
				return b.url
			}
			return strings.TrimRight(b.url, "/") + "/" + rest
		}
	}
	return arg
}

func (s *Shell) readBookmarks() ([]bookmark, error) { return readBookmarks(s.bookmarkFile()) }

func readBookmarks(file string) ([]bookmark, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []bookmark
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, u, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok && !strings.HasPrefix(name, "#") {
			out = append(out, bookmark{name, strings.TrimSpace(u)})
		}
	}
	return out, sc.Err()
}

func (s *Shell) writeBookmarks(bs []bookmark) error {
	var b strings.Builder
	secret := false
	for _, x := range bs {
		fmt.Fprintf(&b, "%s %s\n", x.name, x.url)
		if u, err := url.Parse(x.url); err == nil && u.User != nil {
			_, has := u.User.Password()
			secret = secret || has
		}
	}
	name := s.bookmarkFile()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile keeps an old file's mode
		return err
	}
	return os.Rename(tmp, name)
}

func cmdBookmark(ctx context.Context, s *Shell, f flags, args []string) error {
	usage := fmt.Errorf("usage: bookmark %s", s.table["bookmark"].usage)
	if len(args) == 0 {
		args = []string{"list"}
	}
	bs, err := s.readBookmarks()
	if err != nil {
		return fmt.Errorf("bookmark: %w", err)
	}
	switch args[0] {
	case "list":
		if len(args) != 1 {
			return usage
		}
		if len(bs) == 0 {
			fmt.Fprintf(s.cfg.Out, "no bookmarks (bookmark add NAME saves this folder)\n")
		}
		for _, b := range bs {
			fmt.Fprintf(s.cfg.Out, "%-16s %s\n", b.name, client.Printable(b.url))
		}
		return nil
	case "add":
		if len(args) < 2 || len(args) > 3 {
			return usage
		}
		name := args[1]
		if strings.ContainsAny(name, " \t\r\n#") || name == "" {
			return fmt.Errorf("bookmark add %q: a name has no spaces nor #", name)
		}
		var u string
		if len(args) == 3 {
			t, err := client.ParseURL(args[2])
			if err != nil {
				return fmt.Errorf("bookmark add: %w", err)
			}
			if t.HasPassword && !f['p'] {
				t.Password, t.HasPassword = "", false // -p keeps it
			}
			u = targetURL(t)
		} else {
			t := *s.c.Target()
			t.Path = strings.TrimPrefix(s.cwd, "/")
			if t.User == "" {
				t.User = s.c.User()
			}
			t.Password, t.HasPassword = "", false
			if f['p'] {
				if s.cfg.Password == "" {
					return errors.New("bookmark add -p: this session's password is not known to the shell")
				}
				t.Password, t.HasPassword = s.cfg.Password, true
			}
			u = targetURL(&t)
		}
		kept := bs[:0]
		for _, b := range bs {
			if b.name != name {
				kept = append(kept, b)
			}
		}
		if err := s.writeBookmarks(append(kept, bookmark{name, u})); err != nil {
			return fmt.Errorf("bookmark add: %w", err)
		}
		shown, _ := client.ParseURL(u)
		fmt.Fprintf(s.cfg.Out, "bookmark %s: %s\n", name, client.Printable(shown.String()))
		return nil
	case "del":
		if len(args) != 2 {
			return usage
		}
		kept := bs[:0]
		for _, b := range bs {
			if b.name != args[1] {
				kept = append(kept, b)
			}
		}
		if len(kept) == len(bs) {
			return fmt.Errorf("bookmark del %s: no such bookmark", args[1])
		}
		return s.writeBookmarks(kept)
	}
	return usage
}

// targetURL renders t with its password when it has one (String leaves
// it out, for showing).
func targetURL(t *client.Target) string {
	u, _ := url.Parse(t.String())
	if t.HasPassword {
		u.User = url.UserPassword(t.User, t.Password)
	}
	return u.String()
}
