package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/wharfftp/wharf/internal/share"
	"github.com/wharfftp/wharf/internal/units"
)

type shareOpts struct {
	listen    string
	ftpPort   int
	httpPort  int
	write     bool
	overwrite bool
	delete    bool
	user      string
	tls       bool
	noQR      bool
	hidden    bool
	passive   string
	publicIP  string
	quota     string
	maxFiles  int64
}

func newShareCmd(env *Env) *cobra.Command {
	var o shareOpts
	cmd := &cobra.Command{
		Use:   "share [DIR]",
		Short: "Share a folder over FTP and the web, no setup",
		Long: `Share DIR (default: the current folder) read-only and anonymously over FTP
(port 2121) and HTTP (port 8080), and print the addresses to give visitors,
with a QR code for phones. A taken default port moves to the next free one;
a port given with --ftp-port or --http-port does not move.

--write lets visitors upload new files and make folders. Existing files are
never replaced or removed unless --overwrite or --delete is given (each
implies --write). --user NAME[:PASSWORD] requires a login on both FTP and
the web page; without a password one is generated and printed. --tls serves
FTPS and HTTPS with a self-signed certificate whose fingerprint is printed.

Uploads are bounded: all visitors together may add --quota (1GiB) and
--max-files (1000) to the folder while it is shared (0 lifts a limit);
past them an upload is refused (FTP 552, HTTP 507).

Names starting with a dot (.git, .env, .ssh) are hidden and refused on both
protocols, so sharing a project folder does not publish its repository or
secrets; --hidden shares them too.

Press Ctrl-C to stop; a summary of what was sent and received is printed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if host, port, hasPort, err := splitListen(o.listen); err != nil {
				return usageError(err)
			} else if hasPort {
				if cmd.Flags().Changed("ftp-port") && o.ftpPort != port {
					return usageError(fmt.Errorf("--listen %s and --ftp-port %d name two FTP ports", o.listen, o.ftpPort))
				}
				o.listen, o.ftpPort = host, port
				cmd.Flags().Set("ftp-port", strconv.Itoa(port))
			} else {
				o.listen = host
			}
			fixedFTP := cmd.Flags().Changed("ftp-port")
			fixedHTTP := cmd.Flags().Changed("http-port")
			return runShare(cmd.Context(), env, dir, o, fixedFTP, fixedHTTP)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "address to listen on, HOST or HOST:PORT (the port is the FTP one, as for serve; default: all addresses)")
	f.IntVar(&o.ftpPort, "ftp-port", share.DefaultFTPPort, "FTP port; when given, a taken port is an error instead of moving")
	f.IntVar(&o.httpPort, "http-port", share.DefaultHTTPPort, "HTTP port; when given, a taken port is an error instead of moving")
	f.BoolVar(&o.write, "write", false, "let visitors upload files and make folders (never overwrite or delete)")
	f.BoolVar(&o.overwrite, "overwrite", false, "let uploads replace existing files and resume (implies --write)")
	f.BoolVar(&o.delete, "delete", false, "let visitors delete and rename files and folders (implies --write)")
	f.StringVar(&o.user, "user", "", "require this login, NAME or NAME:PASSWORD (password generated when omitted)")
	f.BoolVar(&o.tls, "tls", false, "serve FTPS and HTTPS with a self-signed certificate")
	f.BoolVar(&o.noQR, "no-qr", false, "do not print the QR code")
	f.StringVar(&o.passive, "passive-ports", "", "FTP data port range LOW-HIGH, to open in a firewall (default: any free port)")
	f.StringVar(&o.publicIP, "public-ip", "", "address announced in PASV replies and printed first, for a share reached through NAT")
	f.StringVar(&o.quota, "quota", "1GiB", "with --write: bytes all visitors' uploads together may add to the folder (0: unlimited)")
	f.Int64Var(&o.maxFiles, "max-files", share.DefaultQuotaFiles, "with --write: files all visitors' uploads together may add to the folder (0: unlimited)")
	f.BoolVar(&o.hidden, "hidden", false, "also share names starting with a dot (.git, .env), hidden and refused by default")
	return cmd
}

func runShare(ctx context.Context, env *Env, dir string, o shareOpts, fixedFTP, fixedHTTP bool) error {
	keepRunningOnBrokenPipe()
	for _, p := range []int{o.ftpPort, o.httpPort} {
		if p < 0 || p > 65535 {
			return usageError(fmt.Errorf("port %d out of range 0-65535", p))
		}
	}
	name, password, _ := strings.Cut(o.user, ":")
	if o.user != "" && name == "" {
		return usageError(errors.New("--user needs a name: NAME or NAME:PASSWORD"))
	}
	lo, hi, err := parsePortRange(o.passive)
	if err != nil {
		return usageError(err)
	}
	quota, err := units.ParseSize(o.quota)
	if err != nil || quota < 0 || o.maxFiles < 0 {
		return usageError(fmt.Errorf("--quota %q / --max-files %d: a size and a count, 0 for unlimited", o.quota, o.maxFiles))
	}
	var out lockedWriter
	out.w = env.Stdout
	opts := share.Options{
		Dir:           dir,
		Listen:        o.listen,
		FTPPort:       o.ftpPort,
		HTTPPort:      o.httpPort,
		FixedFTPPort:  fixedFTP,
		FixedHTTPPort: fixedHTTP,
		Write:         o.write,
		Overwrite:     o.overwrite,
		Delete:        o.delete,
		User:          name,
		Password:      password,
		TLS:           o.tls,
		TLSDir:        shareTLSDir(env),
		Hidden:        o.hidden,
		PassivePorts:  [2]int{lo, hi},
		PublicHost:    o.publicIP,
		// 0 on the command line is "unlimited"; to the share, negative.
		QuotaBytes: cmp.Or(quota, -1),
		QuotaFiles: cmp.Or(o.maxFiles, -1),
		// Only errors, shaped like the event lines: the engines' warnings
		// (a failed login, a ban) are already events on stdout.
		Logger: share.TerminalLogger(env.Stderr),
		Events: func(e share.Event) {
			fmt.Fprintln(&out, share.FormatEvent(e))
		},
	}
	s, err := share.New(opts)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return withCode(ExitNotFound, err)
		}
		return err
	}
	qr := qrNone
	if !o.noQR && isTerminal(env.Stdout) {
		qr = qrColour
	}
	printShare(&out, s, qr)
	if err := s.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(&out, "\n"+shareSummary(s.Totals()))
	return nil
}

// shareSummary is the line printed at Ctrl-C. Files and bytes are those of
// completed transfers; ones cut short are counted apart, without bytes, as
// their bytes are in no file a visitor has.
func shareSummary(t share.Totals) string {
	line := fmt.Sprintf("Stopped. Sent %d file%s (%s), received %d file%s (%s)",
		t.FilesSent, plural(t.FilesSent), share.HumanBytes(t.BytesSent),
		t.FilesReceived, plural(t.FilesReceived), share.HumanBytes(t.BytesReceived))
	var cut []string
	if t.IncompleteSent > 0 {
		cut = append(cut, fmt.Sprintf("%d download%s", t.IncompleteSent, plural(t.IncompleteSent)))
	}
	if t.IncompleteReceived > 0 {
		cut = append(cut, fmt.Sprintf("%d upload%s", t.IncompleteReceived, plural(t.IncompleteReceived)))
	}
	if len(cut) > 0 {
		line += "; incomplete: " + strings.Join(cut, ", ")
	}
	return line + fmt.Sprintf("; %d visitor%s.", t.Visitors, plural(t.Visitors))
}

// shareTLSDir keeps the share's certificate with the user's configuration,
// so its fingerprint, once trusted, stays the same from one share to the
// next. "" (no home) means a temporary one.
func shareTLSDir(env *Env) string {
	if env.Getenv == nil {
		return ""
	}
	if d := env.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "wharf", "share-tls")
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "wharf", "share-tls")
	}
	return ""
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// lockedWriter serialises lines written by both protocol servers'
// goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// contentsLine says what visitors will see: how many files and folders,
// and, when dot names are hidden, how many were left out and how to show
// them.
func contentsLine(c share.Contents, hidden bool) string {
	more := ""
	if c.Partial {
		more = "+"
	}
	line := fmt.Sprintf("%d%s file%s (%s) in %d%s folder%s", c.Files, more, plural(int64(c.Files)), share.HumanBytes(c.Bytes),
		c.Folders, more, plural(int64(c.Folders)))
	if c.Folders == 0 && !c.Partial {
		line = fmt.Sprintf("%d file%s (%s)", c.Files, plural(int64(c.Files)), share.HumanBytes(c.Bytes))
	}
	if !hidden && c.Hidden > 0 {
		line += fmt.Sprintf("; %d hidden name%s left out (--hidden shares them)", c.Hidden, plural(int64(c.Hidden)))
	}
	return line
}
