package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/units"
)

// userMaxPasswordLen bounds a password read from stdin, so a mistaken pipe of a
// big file fails instead of hashing it.
const userMaxPasswordLen = 1024

// newUserCmd builds `wharf user`: account administration on a data
// directory, safe to run beside a running `wharf serve` (which sees the
// changes within its poll interval).
func newUserCmd(env *Env) *cobra.Command {
	var data, dbURL string
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the FTP accounts of a data directory",
		Long: "Manage the FTP accounts of a data directory. Changes reach a running\n" +
			"'wharf serve' on the same data directory without a restart.",
	}
	cmd.PersistentFlags().StringVar(&data, "data", "", "data directory (default $WHARF_DATA or ./wharf-data)")
	cmd.PersistentFlags().StringVar(&dbURL, "db", "", "user database: sqlite:PATH or a postgres:// URL (default $WHARF_DB, the db key of DATA/wharf.toml, or DATA/wharf.db)")
	var st storageOpts
	st.flags(cmd.PersistentFlags())
	open := func(ctx context.Context, create bool) (*accounts.DB, error) {
		dir := data
		if dir == "" {
			dir = userDataDir(env)
		}
		u, err := userDB(env, dbURL, dir)
		if err != nil {
			return nil, err
		}
		if err := userStorage(cmd.PersistentFlags(), env, &st, dir); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		hs, err := openHomeStorage(ctx, st, abs)
		if err != nil {
			return nil, err
		}
		db, err := accounts.Open(ctx, dir, accounts.Options{DB: u, MustExist: !create, Homes: hs.homes})
		return db, userError(err)
	}
	cmd.AddCommand(
		newUserAddCmd(env, open),
		newUserSetCmd(env, open),
		newUserPasswdCmd(env, open),
		newUserDelCmd(env, open),
		newUserListCmd(env, open),
		newUserShowCmd(env, open),
		newUserRescanCmd(env, open),
		newUserExportCmd(env, open),
		newUserImportCmd(env, open),
	)
	return cmd
}

// userOpenDB opens the data directory; create allows making a new one.
type userOpenDB func(ctx context.Context, create bool) (*accounts.DB, error)

// userDB is the database of the user commands: --db, else WHARF_DB, else
// the db key of DATA/wharf.toml (where serve reads its own), else the data
// directory's SQLite file.
func userDB(env *Env, flag, dir string) (string, error) {
	u := flag
	if u == "" {
		u = env.Getenv("WHARF_DB")
	}
	if u == "" {
		var cfg struct {
			DB string `toml:"db"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "wharf.toml")); err == nil {
			if _, err := toml.Decode(string(b), &cfg); err == nil {
				u = cfg.DB
			}
		}
	}
	if _, _, err := accounts.ParseDB(u); err != nil {
		return "", usageError(fmt.Errorf("--db: %w", err))
	}
	return u, nil
}

// userDataDir is the data directory when --data is not given, for every
// command that takes one (user, serve).
func userDataDir(env *Env) string {
	if d := env.Getenv("WHARF_DATA"); d != "" {
		return d
	}
	return "./wharf-data"
}

// openUser opens the data directory's accounts and loads the named user:
// the first step of every command that works on one existing account. The
// caller closes the DB.
func openUser(ctx context.Context, open userOpenDB, name string) (*accounts.DB, accounts.User, error) {
	if err := userCheckName(name); err != nil {
		return nil, accounts.User{}, err
	}
	db, err := open(ctx, false)
	if err != nil {
		return nil, accounts.User{}, err
	}
	u, err := db.GetUser(ctx, name)
	if err != nil {
		db.Close()
		return nil, accounts.User{}, userError(err)
	}
	return db, u, nil
}

// userError gives account errors their exit codes.
func userError(err error) error {
	var inv *accounts.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, accounts.ErrNoDataDir):
		return withCode(ExitNotFound, err)
	case errors.As(err, &inv), errors.Is(err, accounts.ErrNotDataDir):
		return usageError(err)
	}
	return err
}

// userFlags are the settings flags shared by add and set.
type userFlags struct {
	home        string
	quota       string
	maxFiles    int64
	perm        string
	maxSessions int
	allow       []string
	rateUp      string
	rateDown    string
	tlsRequired bool
	expires     string
}

func (f *userFlags) register(cmd *cobra.Command, set bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.home, "home", "", "home directory, absolute (default DATA/home/NAME)")
	fl.StringVar(&f.quota, "quota", "", "disk quota, e.g. 10GiB, 500M, 1.5GB (0: unlimited)")
	fl.Int64Var(&f.maxFiles, "max-files", 0, "file quota (0: unlimited)")
	permDefault := "full"
	if set {
		permDefault = ""
	}
	fl.StringVar(&f.perm, "perm", permDefault, "permissions: full, read-only, upload-only or a list of\nlist,download,upload,overwrite,append,delete,rename,mkdir,rmdir,settime")
	fl.IntVar(&f.maxSessions, "max-sessions", 0, "concurrent sessions (0: unlimited)")
	fl.StringSliceVar(&f.allow, "allow", nil, "allowed client addresses, CIDR or IP, repeatable (\"any\": all)")
	fl.StringVar(&f.rateUp, "rate-up", "", "upload rate limit, e.g. 2MiB/s (0: unlimited)")
	fl.StringVar(&f.rateDown, "rate-down", "", "download rate limit, e.g. 10MiB/s (0: unlimited)")
	fl.BoolVar(&f.tlsRequired, "tls-required", false, "refuse logins without TLS (FTPS)")
	fl.StringVar(&f.expires, "expires", "", "expiry: 2026-12-31 (start of that day, local time) or RFC 3339 (\"never\": no expiry)")
}

// settings returns the settings whose flags were given, in the form the
// admin API takes too (accounts.UserSettings), so both read them alike.
func (f *userFlags) settings(cmd *cobra.Command) accounts.UserSettings {
	ch := cmd.Flags().Changed
	var s accounts.UserSettings
	if ch("home") {
		s.Home = &f.home
	}
	if ch("quota") {
		q := accounts.Text(f.quota)
		s.Quota = &q
	}
	if ch("max-files") {
		s.MaxFiles = &f.maxFiles
	}
	if ch("perm") || f.perm != "" {
		s.Perm = &f.perm
	}
	if ch("max-sessions") {
		s.MaxSessions = &f.maxSessions
	}
	if ch("allow") {
		s.Allow = &f.allow
	}
	if ch("rate-up") {
		r := accounts.Text(f.rateUp)
		s.RateUp = &r
	}
	if ch("rate-down") {
		r := accounts.Text(f.rateDown)
		s.RateDown = &r
	}
	if ch("tls-required") {
		s.TLSRequired = &f.tlsRequired
	}
	if ch("expires") {
		s.Expires = &f.expires
	}
	return s
}

// apply sets in u the settings whose flags were given.
func (f *userFlags) apply(cmd *cobra.Command, u *accounts.User) error {
	if err := f.settings(cmd).Apply(u); err != nil {
		var se *accounts.SettingError
		if errors.As(err, &se) {
			return usageError(fmt.Errorf("--%s: %s", strings.ReplaceAll(se.Field, "_", "-"), se.Msg))
		}
		return usageError(err)
	}
	return nil
}

// userParseAllow reads --allow values (see accounts.ParseAllow).
func userParseAllow(vals []string) ([]netip.Prefix, error) {
	p, err := accounts.ParseAllow(vals)
	if err != nil {
		return nil, fmt.Errorf("--allow: %w", err)
	}
	return p, nil
}

// userReadPassword gets a new password: the first line of stdin with
// --password-stdin, else asked twice at the terminal without echo.
func userReadPassword(env *Env, fromStdin bool) (string, error) {
	if fromStdin {
		r := bufio.NewReaderSize(io.LimitReader(env.Stdin, userMaxPasswordLen+2), userMaxPasswordLen+2)
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(line) > userMaxPasswordLen+1 {
			return "", usageError(fmt.Errorf("password on stdin longer than %d bytes", userMaxPasswordLen))
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if pw == "" {
			return "", usageError(errors.New("empty password on stdin"))
		}
		return pw, nil
	}
	f, ok := env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError(errors.New("no terminal to ask the password on: pipe it with --password-stdin"))
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	pw, err := ask("New password: ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", usageError(errors.New("empty password"))
	}
	again, err := ask("Retype password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", usageError(errors.New("passwords do not match"))
	}
	return pw, nil
}

// userCheckName refuses an unsafe user name before anything is opened.
func userCheckName(name string) error {
	if err := accounts.ValidName(name); err != nil {
		return usageError(err)
	}
	return nil
}

func newUserAddCmd(env *Env, open userOpenDB) *cobra.Command {
	var f userFlags
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account and its home",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := userCheckName(name); err != nil {
				return err
			}
			u := accounts.User{Name: name}
			if err := f.apply(cmd, &u); err != nil {
				return err
			}
			// Refuse a duplicate before anyone types a password for it, and
			// create the data directory only once there is a password.
			db, err := open(cmd.Context(), false)
			if err != nil && !errors.Is(err, accounts.ErrNoDataDir) {
				return err
			}
			if db != nil {
				defer db.Close()
				if _, err := db.GetUser(cmd.Context(), name); err == nil {
					return fmt.Errorf("user %s: %w", name, accounts.ErrExists)
				}
			}
			pw, err := userReadPassword(env, stdinPw)
			if err != nil {
				return err
			}
			if db == nil {
				if db, err = open(cmd.Context(), true); err != nil {
					return err
				}
				defer db.Close()
			}
			if err := db.AddUser(cmd.Context(), u, pw); err != nil {
				return userError(err)
			}
			got, err := db.GetUser(cmd.Context(), name)
			if err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "added user %s (home %s)\n", got.Name, got.Home)
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUserSetCmd(env *Env, open userOpenDB) *cobra.Command {
	var f userFlags
	var disable, enable bool
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change an account's settings (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := userCheckName(name); err != nil {
				return err
			}
			if disable && enable {
				return usageError(errors.New("--disable and --enable together"))
			}
			if cmd.Flags().NFlag() == 0 || cmd.Flags().NFlag() == 1 && cmd.Flags().Changed("data") {
				return usageError(errors.New("set: nothing to change (see 'wharf user set --help')"))
			}
			db, u, err := openUser(cmd.Context(), open, name)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := f.apply(cmd, &u); err != nil {
				return err
			}
			if disable || enable {
				u.Disabled = disable
			}
			if err := db.UpdateUser(cmd.Context(), u); err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "updated user %s\n", name)
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&disable, "disable", false, "refuse new logins; open sessions are closed (421) at their next command")
	cmd.Flags().BoolVar(&enable, "enable", false, "allow logins again")
	return cmd
}

func newUserPasswdCmd(env *Env, open userOpenDB) *cobra.Command {
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an account's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			// Check the user first, so nobody types a password for nothing.
			db, _, err := openUser(cmd.Context(), open, name)
			if err != nil {
				return err
			}
			defer db.Close()
			pw, err := userReadPassword(env, stdinPw)
			if err != nil {
				return err
			}
			if err := db.SetPassword(cmd.Context(), name, pw); err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "changed the password of %s\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUserDelCmd(env *Env, open userOpenDB) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "del NAME",
		Short: "Delete an account (its files stay unless --purge)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			db, u, err := openUser(cmd.Context(), open, name)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.DeleteUser(cmd.Context(), name, purge); err != nil {
				return userError(err)
			}
			if purge {
				fmt.Fprintf(env.Stdout, "deleted user %s and its home %s\n", name, u.Home)
			} else {
				fmt.Fprintf(env.Stdout, "deleted user %s (home %s kept)\n", name, u.Home)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the home directory and everything in it")
	return cmd
}

// userState names an account's login state for list and show.
func userState(u accounts.User, now time.Time) string {
	switch {
	case u.Disabled:
		return "disabled"
	case !u.Expires.IsZero() && !now.Before(u.Expires):
		return "expired"
	}
	return "active"
}

func userLimit(n int64, format func(int64) string) string {
	if n == 0 {
		return "unlimited"
	}
	return format(n)
}

func userItoa(n int64) string { return strconv.FormatInt(n, 10) }

func newUserListCmd(env *Env, open userOpenDB) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List accounts: home, usage, permissions and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			users, err := db.ListUsers(cmd.Context())
			if err != nil {
				return userError(err)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tHOME\tUSED/QUOTA\tFILES\tPERMISSIONS\tSTATE")
			now := time.Now()
			for _, u := range users {
				files := userItoa(u.UsedFiles)
				if u.QuotaFiles > 0 {
					files += "/" + userItoa(u.QuotaFiles)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", u.Name, u.Home, units.FormatSize(u.UsedBytes),
					userLimit(u.QuotaBytes, units.FormatSize), files, u.Perms, userState(u, now))
			}
			return tw.Flush()
		},
	}
}

// userJSON is `user show --json`: stable keys for scripts; sizes in bytes.
type userJSON struct {
	Name        string    `json:"name"`
	Home        string    `json:"home"`
	Perms       string    `json:"perms"`
	QuotaBytes  int64     `json:"quota_bytes"`
	QuotaFiles  int64     `json:"quota_files"`
	UsedBytes   int64     `json:"used_bytes"`
	UsedFiles   int64     `json:"used_files"`
	RateUp      int64     `json:"rate_up"`
	RateDown    int64     `json:"rate_down"`
	MaxSessions int       `json:"max_sessions"`
	AllowFrom   []string  `json:"allow_from"`
	TLSRequired bool      `json:"tls_required"`
	Disabled    bool      `json:"disabled"`
	Expires     time.Time `json:"expires,omitzero"`
	State       string    `json:"state"`
}

func newUserShowCmd(env *Env, open userOpenDB) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := userCheckName(args[0]); err != nil {
				return err
			}
			db, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			u, err := db.GetUser(cmd.Context(), args[0])
			if err != nil {
				return userError(err)
			}
			allow := make([]string, len(u.AllowFrom))
			for i, p := range u.AllowFrom {
				allow[i] = p.String()
			}
			state := userState(u, time.Now())
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(userJSON{
					Name: u.Name, Home: u.Home, Perms: u.Perms.String(), QuotaBytes: u.QuotaBytes,
					QuotaFiles: u.QuotaFiles, UsedBytes: u.UsedBytes, UsedFiles: u.UsedFiles,
					RateUp: u.RateUp, RateDown: u.RateDown, MaxSessions: u.MaxSessions, AllowFrom: allow,
					TLSRequired: u.TLSRequired, Disabled: u.Disabled, Expires: u.Expires, State: state,
				})
			}
			allowText := "any"
			if len(allow) > 0 {
				allowText = strings.Join(allow, ", ")
			}
			expires := "never"
			if !u.Expires.IsZero() {
				expires = u.Expires.Local().Format(time.RFC3339)
			}
			yesNo := map[bool]string{true: "yes", false: "no"}
			w := env.Stdout
			fmt.Fprintf(w, "name: %s\n", u.Name)
			fmt.Fprintf(w, "home: %s\n", u.Home)
			if at := db.StoredAt(u.Home); at != u.Home {
				fmt.Fprintf(w, "stored: %s\n", at)
			}
			fmt.Fprintf(w, "state: %s\n", state)
			fmt.Fprintf(w, "permissions: %s\n", u.Perms)
			fmt.Fprintf(w, "used: %s of %s\n", units.FormatSize(u.UsedBytes), userLimit(u.QuotaBytes, units.FormatSize))
			fmt.Fprintf(w, "files: %d of %s\n", u.UsedFiles, userLimit(u.QuotaFiles, userItoa))
			fmt.Fprintf(w, "rate up: %s\n", userLimit(u.RateUp, units.FormatRate))
			fmt.Fprintf(w, "rate down: %s\n", userLimit(u.RateDown, units.FormatRate))
			fmt.Fprintf(w, "max sessions: %s\n", userLimit(int64(u.MaxSessions), userItoa))
			fmt.Fprintf(w, "allow from: %s\n", allowText)
			fmt.Fprintf(w, "tls required: %s\n", yesNo[u.TLSRequired])
			fmt.Fprintf(w, "expires: %s\n", expires)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newUserRescanCmd(env *Env, open userOpenDB) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "rescan NAME|--all",
		Short: "Recount an account's disk usage from its home (best while it is idle)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) {
				return usageError(errors.New("rescan takes a user name or --all"))
			}
			if len(args) == 1 {
				if err := userCheckName(args[0]); err != nil {
					return err
				}
			}
			db, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			names := args
			if all {
				users, err := db.ListUsers(cmd.Context())
				if err != nil {
					return userError(err)
				}
				for _, u := range users {
					names = append(names, u.Name)
				}
			}
			var failed error
			for _, name := range names {
				usage, err := db.Rescan(cmd.Context(), name)
				if err != nil {
					// With --all one broken home must not hide the others.
					if !all {
						return userError(err)
					}
					fmt.Fprintf(env.Stderr, "wharf: %v\n", err)
					failed = errors.New("rescan failed for some users")
					continue
				}
				fmt.Fprintf(env.Stdout, "%s: %s in %d files\n", name, units.FormatSize(usage.UsedBytes), usage.UsedFiles)
			}
			return failed
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "rescan every account")
	return cmd
}

func newUserExportCmd(env *Env, open userOpenDB) *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write all accounts, with password hashes, as JSON (to stdout without FILE)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			if len(args) == 0 {
				return userError(db.Export(cmd.Context(), env.Stdout))
			}
			// The file holds password hashes: only its owner may read it
			// (CreateTemp makes it 0600). It is written beside FILE and
			// renamed over it once complete, so an export that fails (a
			// full disk) leaves an earlier one whole.
			f, err := os.CreateTemp(filepath.Dir(args[0]), "."+filepath.Base(args[0])+".tmp-*")
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			tmp := f.Name()
			drop := func() { f.Close(); os.Remove(tmp) }
			if err := db.Export(cmd.Context(), f); err != nil {
				drop()
				return userError(err)
			}
			err = f.Sync()
			if err == nil {
				err = f.Close()
			}
			if err == nil {
				err = os.Rename(tmp, args[0])
			}
			if err != nil {
				drop()
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
}

func newUserImportCmd(env *Env, open userOpenDB) *cobra.Command {
	var o accounts.ImportOptions
	cmd := &cobra.Command{
		Use:   "import [FILE]",
		Short: "Add accounts from an export (from stdin without FILE); all or nothing",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := env.Stdin
			if len(args) == 1 {
				f, err := os.Open(args[0])
				if err != nil {
					return withCode(ExitNotFound, fmt.Errorf("import: %w", err))
				}
				defer f.Close()
				in = f
			}
			db, err := open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			n, err := db.Import(cmd.Context(), in, o)
			if err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "imported %d users\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.Replace, "replace", false, "replace existing accounts of the same name")
	cmd.Flags().BoolVar(&o.DefaultHomes, "default-homes", false, "give every account DATA/home/NAME instead of the home in the file (moving hosts)")
	return cmd
}
