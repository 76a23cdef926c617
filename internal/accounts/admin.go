package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
)

// homeMode is the mode of homes wharf creates: the server's user owns
// them; nobody else on the host needs to read FTP users' files.
const homeMode = 0o750

// DefaultHome returns the home a new user gets without --home.
func (db *DB) DefaultHome(name string) string { return filepath.Join(db.dir, homesDir, name) }

// checkHome validates the home of user name against the data directory and
// the other users' homes, and returns it cleaned. The comparisons are made
// on the paths with symbolic links resolved (see realPath): a home given
// through a link to a folder holding the data directory, or to another
// user's home, is the same folder as the link's target, and os.Root only
// confines what lies below the home once it is open.
func (db *DB) checkHome(ctx context.Context, name, home string) (string, error) {
	if !filepath.IsAbs(home) {
		return "", invalidf("home %q: must be an absolute path", home)
	}
	home = filepath.Clean(home)
	resolved, err := realPath(home)
	if err != nil {
		return "", fmt.Errorf("home %s: %w", home, err)
	}
	if home == string(filepath.Separator) || resolved == string(filepath.Separator) {
		return "", invalidf("home %s: the root directory cannot be a home", home)
	}
	dataDir, err := realPath(db.dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", db.dir, err)
	}
	homes := filepath.Join(dataDir, homesDir)
	// A home holding the data directory would let its user download or
	// delete the account database.
	if within(dataDir, resolved) {
		return "", invalidf("home %s: it contains the data directory %s", home, db.dir)
	}
	if within(resolved, dataDir) && !within(resolved, homes) || resolved == homes {
		return "", invalidf("home %s: inside the data directory, only folders under %s may be homes", home, filepath.Join(db.dir, homesDir))
	}
	users, err := db.store.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	for _, o := range users {
		if o.Name == name {
			continue
		}
		other := filepath.Clean(o.Home)
		otherReal, err := realPath(other)
		if err != nil {
			return "", fmt.Errorf("home of user %s (%s): %w", o.Name, other, err)
		}
		if within(resolved, otherReal) {
			return "", invalidf("home %s: inside the home of user %s (%s)", home, o.Name, other)
		}
		if within(otherReal, resolved) {
			return "", invalidf("home %s: holds the home of user %s (%s)", home, o.Name, other)
		}
	}
	return home, nil
}

// realPath returns the absolute, clean path p with every symbolic link in
// its existing part resolved; the part that does not exist yet (a home
// created later) is appended as given. It fails only if the existing part
// cannot be read (a loop, a permission error).
func realPath(p string) (string, error) {
	p = filepath.Clean(p)
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			for i := len(rest) - 1; i >= 0; i-- {
				r = filepath.Join(r, rest[i])
			}
			return filepath.Abs(r)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		rest = append(rest, filepath.Base(p))
		p = parent
	}
}

// AddUser creates user u with password (an empty Home means DefaultHome)
// and creates the home folder. Usage fields of u are ignored.
func (db *DB) AddUser(ctx context.Context, u User, password string) error {
	defer db.wrote()
	if err := ValidName(u.Name); err != nil {
		return err
	}
	if password == "" {
		return invalidf("empty password")
	}
	u.Name = CanonicalName(u.Name)
	if taken, err := db.nameTaken(ctx, u.Name); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("user %s: %w", u.Name, ErrExists)
	}
	if u.Home == "" {
		u.Home = db.DefaultHome(u.Name)
	}
	home, err := db.checkHome(ctx, u.Name, u.Home)
	if err != nil {
		return err
	}
	u.Home = home
	hash, err := db.v.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := db.makeHome(ctx, u.Home); err != nil {
		return fmt.Errorf("create home: %w", err)
	}
	u.UsedBytes, u.UsedFiles = 0, 0
	if err := db.store.AddUser(ctx, StoredUser{User: u, PasswordHash: hash}); err != nil {
		if errors.Is(err, ErrExists) {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
		return err
	}
	// The home may hold files already (an existing folder): count them.
	_, err = db.Rescan(ctx, u.Name)
	return err
}

// GetUser returns user name's settings and stored usage.
func (db *DB) GetUser(ctx context.Context, name string) (User, error) {
	db.usage.flush(ctx)
	name = db.resolveName(ctx, name)
	su, err := db.store.GetUser(ctx, name)
	if err != nil {
		return User{}, wrapUser(name, err)
	}
	return su.User, nil
}

func wrapUser(name string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) {
		return fmt.Errorf("user %s: %w", name, err)
	}
	return err
}

// ListUsers returns all users sorted by name.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	db.usage.flush(ctx)
	sus, err := db.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]User, len(sus))
	for i, su := range sus {
		out[i] = su.User
	}
	return out, nil
}

// UpdateUser replaces the settings of u.Name (usage fields are ignored). A
// changed home is validated and created; files are not moved.
func (db *DB) UpdateUser(ctx context.Context, u User) error {
	defer db.wrote()
	u.Name = db.resolveName(ctx, u.Name)
	old, err := db.store.GetUser(ctx, u.Name)
	if err != nil {
		return wrapUser(u.Name, err)
	}
	if u.Home == "" {
		u.Home = old.Home
	}
	if filepath.Clean(u.Home) != filepath.Clean(old.Home) {
		home, err := db.checkHome(ctx, u.Name, u.Home)
		if err != nil {
			return err
		}
		u.Home = home
		if err := db.makeHome(ctx, u.Home); err != nil {
			return fmt.Errorf("create home: %w", err)
		}
	}
	return wrapUser(u.Name, db.store.UpdateUser(ctx, u))
}

// SetPassword replaces user name's password. Cached logins of the old one
// stop working at once in this process, and in a server within its poll.
func (db *DB) SetPassword(ctx context.Context, name, password string) error {
	defer db.wrote()
	if password == "" {
		return invalidf("empty password")
	}
	name = db.resolveName(ctx, name)
	hash, err := db.v.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := db.store.SetPasswordHash(ctx, name, hash); err != nil {
		return wrapUser(name, err)
	}
	db.v.forget(name)
	return nil
}

// DeleteUser removes user name; purge also removes the home and everything
// in it. Open sessions of the user lose all permissions on their next
// command.
func (db *DB) DeleteUser(ctx context.Context, name string, purge bool) error {
	defer db.wrote()
	name = db.resolveName(ctx, name)
	su, err := db.store.GetUser(ctx, name)
	if err != nil {
		return wrapUser(name, err)
	}
	if err := db.store.DeleteUser(ctx, name); err != nil {
		return wrapUser(name, err)
	}
	db.v.forget(name)
	if st := db.liveState(name); st != nil {
		st.mu.Lock()
		st.deleted = true
		st.mu.Unlock()
	}
	if purge {
		home := filepath.Clean(su.Home)
		// checkHome refused these when the home was set; check again in
		// case the database was edited by hand or a link changed since.
		resolved, rerr := realPath(home)
		dataDir, derr := realPath(db.dir)
		if !filepath.IsAbs(home) || rerr != nil || derr != nil || resolved == string(filepath.Separator) || within(dataDir, resolved) {
			return fmt.Errorf("user %s deleted, but not purging suspicious home %s", name, home)
		}
		if err := db.removeHome(ctx, home); err != nil {
			return fmt.Errorf("user %s deleted, purge home: %w", name, err)
		}
	}
	return nil
}

// Rescan recomputes user name's usage from a walk of the home (regular
// files only; symbolic links are not followed) and stores it. A server
// running on the same data directory takes the new figures in at its next
// poll once the user has no upload in flight. Usage counted while an upload
// runs may count that upload twice (once in the walk, once at its commit),
// so rescan when the user is idle; the next rescan corrects it. "Idle"
// includes the usage writer of a server in another process: it stores
// usage changes up to usageFlushInterval (100 ms) after they happen.
func (db *DB) Rescan(ctx context.Context, name string) (Usage, error) {
	defer db.wrote()
	// Deltas written after SetUsage would count their files twice.
	db.usage.flush(ctx)
	name = db.resolveName(ctx, name)
	su, err := db.store.GetUser(ctx, name)
	if err != nil {
		return Usage{}, wrapUser(name, err)
	}
	bytes, files, err := db.homeUsage(ctx, su.Home)
	if err != nil {
		return Usage{}, fmt.Errorf("rescan %s: %w", name, err)
	}
	if err := db.store.SetUsage(ctx, name, bytes, files); err != nil {
		return Usage{}, wrapUser(name, err)
	}
	if st := db.liveState(name); st != nil {
		// Our own write does not show in Changed: ask the next poll to
		// take the figures in.
		st.mu.Lock()
		st.needUsage = true
		st.mu.Unlock()
	}
	return Usage{UsedBytes: bytes, QuotaBytes: su.QuotaBytes, UsedFiles: files, QuotaFiles: su.QuotaFiles}, nil
}

// exportFormat names the export file format, checked on import.
const exportFormat = "wharf-users"

type exportFile struct {
	Format  string       `json:"format"`
	Version int          `json:"version"`
	Users   []exportUser `json:"users"`
}

// exportUser is User with its permissions by name (User.Perms is not in
// User's JSON) and the password hash.
type exportUser struct {
	User
	Perms        Perm   `json:"perms"`
	PasswordHash string `json:"password_hash"`
}

// Export writes every user, with password hashes and usage, as JSON. The
// output holds hashes: treat it as a secret.
func (db *DB) Export(ctx context.Context, w io.Writer) error {
	db.usage.flush(ctx)
	sus, err := db.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	f := exportFile{Format: exportFormat, Version: 1, Users: make([]exportUser, len(sus))}
	for i, su := range sus {
		f.Users[i] = exportUser{User: su.User, Perms: su.Perms, PasswordHash: su.PasswordHash}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Replace overwrites existing users of the same name instead of
	// refusing the whole import.
	Replace bool
	// DefaultHomes gives every imported user DefaultHome(name) instead of
	// the home in the file: for moving to a new data directory or host,
	// where the old paths mean nothing.
	DefaultHomes bool
}

// Import reads an Export file and adds its users in one transaction: all or
// nothing. Existing users are an error unless o.Replace. Hashes may be
// argon2id or bcrypt. Homes are validated like AddUser's and created.
// Usage is taken from the file; rescan to recount it.
func (db *DB) Import(ctx context.Context, r io.Reader, o ImportOptions) (int, error) {
	defer db.wrote()
	replace := o.Replace
	var f exportFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return 0, invalidf("import: %v", err)
	}
	if f.Format != exportFormat || f.Version != 1 {
		return 0, invalidf("import: not a wharf users file (format %q version %d)", f.Format, f.Version)
	}
	seen := make(map[string]bool)
	users := make([]StoredUser, 0, len(f.Users))
	for _, eu := range f.Users {
		u := eu.User
		u.Perms = eu.Perms
		if err := ValidName(u.Name); err != nil {
			return 0, fmt.Errorf("import: %w", err)
		}
		u.Name = CanonicalName(u.Name)
		if seen[u.Name] {
			return 0, invalidf("import: user %s listed twice", u.Name)
		}
		seen[u.Name] = true
		if err := ValidateHash(eu.PasswordHash); err != nil {
			return 0, invalidf("import: user %s: %v", u.Name, err)
		}
		if !replace {
			if _, err := db.store.GetUser(ctx, u.Name); err == nil {
				return 0, fmt.Errorf("import: user %s: %w", u.Name, ErrExists)
			}
		}
		if u.Home == "" || o.DefaultHomes {
			u.Home = db.DefaultHome(u.Name)
		}
		home, err := db.checkHome(ctx, u.Name, u.Home)
		if err != nil {
			return 0, fmt.Errorf("import: user %s: %w", u.Name, err)
		}
		u.Home = home
		resolved, err := realPath(home)
		if err != nil {
			return 0, fmt.Errorf("import: user %s: %w", u.Name, err)
		}
		for _, o := range users {
			otherReal, err := realPath(o.Home)
			if err != nil {
				return 0, fmt.Errorf("import: user %s: %w", o.Name, err)
			}
			if within(resolved, otherReal) || within(otherReal, resolved) {
				return 0, invalidf("import: user %s: home %s overlaps the home of user %s", u.Name, home, o.Name)
			}
		}
		users = append(users, StoredUser{User: u, PasswordHash: eu.PasswordHash})
	}
	for _, u := range users {
		if err := db.makeHome(ctx, u.Home); err != nil {
			return 0, fmt.Errorf("import: user %s: create home: %w", u.Name, err)
		}
	}
	if err := db.store.ReplaceUsers(ctx, users, replace); err != nil {
		return 0, err
	}
	for _, u := range users {
		db.v.forget(u.Name)
	}
	return len(users), nil
}
