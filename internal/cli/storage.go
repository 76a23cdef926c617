package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
)

// storageOpts is where the users' homes are stored: --storage and the S3
// settings, shared by serve and the user commands. Credentials come only
// from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, instance roles), never from a flag.
type storageOpts struct {
	url       string
	endpoint  string
	region    string
	pathStyle bool
	// node is serve's --node: on S3 a node's start-up sweep aborts only
	// the multipart uploads a process of its name left.
	node string
}

func (o *storageOpts) flags(f *pflag.FlagSet) {
	f.StringVar(&o.url, "storage", "", "where homes are stored: file:DIR (default DATA/home) or s3://BUCKET[/PREFIX]")
	f.StringVar(&o.endpoint, "s3-endpoint", "", "S3 endpoint URL for MinIO, versitygw, SeaweedFS, Ceph (default: AWS)")
	f.StringVar(&o.region, "s3-region", "us-east-1", "S3 region")
	f.BoolVar(&o.pathStyle, "s3-path-style", false, "path-style S3 URLs (default on when --s3-endpoint is given)")
}

// resolve applies the defaults that depend on other settings; flags is
// the command's flag set after its layers (env, TOML) were applied.
func (o *storageOpts) resolve(flags *pflag.FlagSet) {
	if !flags.Changed("s3-path-style") {
		o.pathStyle = o.endpoint != ""
	}
}

// homeStorage is an opened --storage.
type homeStorage struct {
	// open opens a user's home for the engine.
	open func(u accounts.User) (vfs.Storage, error)
	// homes is for package accounts; nil: local homes under their paths.
	homes accounts.Homes
	// where says where homes are, for the start line.
	where string
	// sweep settles what a crashed predecessor left in the storage (nil:
	// nothing to do here; a local disk's leftovers are settled per home at
	// first login).
	sweep func(ctx context.Context, since time.Time) (int, error)
	// clusterSweep runs after sweep when the database tracks uploads (a
	// cluster's PostgreSQL), at start and every clusterSweepEvery: it
	// settles the uploads of any node that died, by the database's upload
	// rows (nil: nothing to do).
	clusterSweep func(ctx context.Context, db *accounts.DB) (aborted, settled int, err error)
}

// openHomeStorage opens o for the data directory dataDir (absolute).
func openHomeStorage(ctx context.Context, o storageOpts, dataDir string) (*homeStorage, error) {
	roots := new(vfs.Roots)
	local := func(u accounts.User) (vfs.Storage, error) { return roots.Open(u.Home) }
	defaultDir := filepath.Join(dataDir, "home")
	switch {
	case o.url == "" || strings.HasPrefix(o.url, "file:"):
		if o.endpoint != "" {
			return nil, usageError(errors.New("--s3-endpoint needs --storage s3://BUCKET[/PREFIX]"))
		}
		dir := strings.TrimPrefix(o.url, "file:")
		if dir == "" {
			dir = defaultDir
		}
		dir, err := filepath.Abs(dir)
		if err != nil {
			return nil, usageError(fmt.Errorf("--storage %s: %w", o.url, err))
		}
		if dir == defaultDir {
			return &homeStorage{open: local, where: dir}, nil
		}
		lh := localHomes{dir: dir, data: dataDir}
		return &homeStorage{
			open: func(u accounts.User) (vfs.Storage, error) {
				u.Home = lh.path(u.Home)
				return local(u)
			},
			homes: lh,
			where: dir,
		}, nil
	case strings.HasPrefix(o.url, "s3://"):
		u, err := url.Parse(o.url)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, usageError(fmt.Errorf("--storage %q: want s3://BUCKET[/PREFIX]", o.url))
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" && !fs.ValidPath(prefix) {
			return nil, usageError(fmt.Errorf("--storage %q: the prefix must be a clean path", o.url))
		}
		client, err := s3vfs.NewClient(ctx, s3vfs.ClientOptions{Endpoint: o.endpoint, Region: o.region, PathStyle: o.pathStyle})
		if err != nil {
			return nil, err
		}
		b, err := s3vfs.New(client, u.Host, prefix, s3vfs.Options{Node: o.node})
		if err != nil {
			return nil, usageError(fmt.Errorf("--storage: %w", err))
		}
		sh := s3Homes{b: b, data: dataDir, url: "s3://" + u.Host + "/" + prefix}
		return &homeStorage{
			open: func(us accounts.User) (vfs.Storage, error) {
				if us.Name == accounts.AnonymousUser {
					// The anonymous home is a local folder of its own.
					return local(us)
				}
				return b.Home(accounts.HomeName(dataDir, us.Home))
			},
			homes:        sh,
			where:        o.url,
			sweep:        b.Sweep,
			clusterSweep: sh.sweepCluster,
		}, nil
	}
	return nil, usageError(fmt.Errorf("--storage %q: want file:DIR or s3://BUCKET[/PREFIX]", o.url))
}

// localHomes keeps homes in another folder than DATA/home: a home below
// DATA/home is the same path below dir; any other stays where it is.
type localHomes struct{ dir, data string }

func (l localHomes) path(home string) string {
	rel, err := filepath.Rel(filepath.Join(l.data, "home"), filepath.Clean(home))
	if err != nil || !filepath.IsLocal(rel) {
		return home
	}
	return filepath.Join(l.dir, rel)
}

// StoredAt is the folder holding the home, for user show.
func (l localHomes) StoredAt(home string) string { return l.path(home) }

func (l localHomes) Make(_ context.Context, home string) error {
	return os.MkdirAll(l.path(home), 0o750)
}

func (l localHomes) Usage(ctx context.Context, home string) (bytes, files int64, err error) {
	err = filepath.WalkDir(l.path(home), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return bytes, files, err
}

func (l localHomes) Remove(_ context.Context, home string) error {
	return os.RemoveAll(l.path(home))
}

// s3Homes keeps homes as key prefixes of a bucket (PREFIX/HOME/).
type s3Homes struct {
	b    *s3vfs.Bucket
	data string
	url  string // s3://BUCKET/PREFIX
}

// StoredAt is the home's prefix as an S3 URL, for user show.
func (s s3Homes) StoredAt(home string) string {
	return strings.TrimSuffix(s.url, "/") + "/" + accounts.HomeName(s.data, home) + "/"
}

// Make has nothing to do: a home exists as soon as its user does (it is a
// prefix), and an empty one lists as empty.
func (s s3Homes) Make(context.Context, string) error { return nil }

func (s s3Homes) Usage(ctx context.Context, home string) (int64, int64, error) {
	return s.b.Usage(ctx, accounts.HomeName(s.data, home))
}

func (s s3Homes) Remove(ctx context.Context, home string) error {
	return s.b.RemoveHome(ctx, accounts.HomeName(s.data, home))
}

// clusterSweepEvery is how often a cluster's node on S3 looks for what
// dead nodes left (clusterSweep); with the 30 s lease of a node's rows, a
// dead node's upload is settled within 40 s of its death.
const clusterSweepEvery = 10 * time.Second

// pendingGrace is how old a multipart upload must be before a cluster's
// sweep may abort it: a resume starts its multipart upload (the copy of
// the kept bytes) just before its writer's row exists, and the store's
// clock may be a little ahead of the node's.
const pendingGrace = 15 * time.Second

// sweepCluster settles, on a cluster's S3 bucket, the uploads of nodes
// that died: their rows in the database (usage loses what each had
// counted, and the file it took for a new name: nothing of a multipart
// upload never completed is stored) and their multipart uploads (aborted,
// or the bucket keeps and bills their parts). An upload whose row a live
// node renews is left alone, whenever it began. Bucket.Sweep at start
// aborts only what this node's predecessor left and counts nothing; this
// settles a dead node's uploads without waiting for it to come back under
// its name, and gives back what they had counted. The multipart uploads
// are listed before the rows are read: a writer's row exists before its
// multipart upload begins, so every listed upload whose writer lives has
// a live row below.
func (s s3Homes) sweepCluster(ctx context.Context, db *accounts.DB) (aborted, settled int, err error) {
	pending, err := s.b.Pending(ctx)
	if err != nil {
		return 0, 0, err
	}
	now := time.Now()
	tracked, err := db.TrackedUploads(ctx)
	if err != nil {
		return 0, 0, err
	}
	liveKeys := map[string]bool{}
	var liveDirs []string // key prefixes of live uploads whose label does not name the file
	for _, u := range tracked {
		if u.User == accounts.AnonymousUser {
			continue // a local folder (see openHomeStorage)
		}
		home := accounts.HomeName(s.data, u.Home)
		target, newFile, ok := ftp.UploadTarget(u.Label)
		if u.Live {
			if ok {
				if key, err := s.b.Key(home, target); err == nil {
					liveKeys[key] = true
				}
			} else if key, err := s.b.Key(home, path.Dir(u.Label)); err == nil {
				liveDirs = append(liveDirs, strings.TrimSuffix(key, "/")+"/")
			}
			continue
		}
		var files int64
		if ok && newFile {
			files = 1
		}
		done, err := db.SettleVanished(ctx, u.User, u.Label, files)
		if err != nil {
			return aborted, settled, err
		}
		if done {
			settled++
		}
	}
next:
	for _, p := range pending {
		if liveKeys[p.Key] || !p.Initiated.IsZero() && now.Sub(p.Initiated) < pendingGrace {
			continue
		}
		for _, d := range liveDirs {
			if strings.HasPrefix(p.Key, d) {
				continue next
			}
		}
		if err := s.b.Abort(ctx, p); err != nil {
			return aborted, settled, err
		}
		aborted++
	}
	return aborted, settled, nil
}

// userStorage reads the storage settings of the user commands: a flag,
// else WHARF_STORAGE (WHARF_S3_ENDPOINT ...), else the key of
// DATA/wharf.toml (where serve reads its own), as userDB does for --db.
func userStorage(flags *pflag.FlagSet, env *Env, o *storageOpts, dir string) error {
	var file map[string]any
	for _, name := range []string{"storage", "s3-endpoint", "s3-region", "s3-path-style"} {
		if flags.Changed(name) {
			continue
		}
		envName := "WHARF_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v := env.Getenv(envName); v != "" {
			if err := flags.Set(name, v); err != nil {
				return usageError(fmt.Errorf("%s=%q: %w", envName, v, err))
			}
			continue
		}
		if file == nil {
			file = map[string]any{}
			if b, err := os.ReadFile(filepath.Join(dir, "wharf.toml")); err == nil {
				toml.Decode(string(b), &file)
			}
		}
		if v, ok := file[name]; ok {
			if err := flags.Set(name, tomlString(v)); err != nil {
				return usageError(fmt.Errorf("%s: %s: %w", filepath.Join(dir, "wharf.toml"), name, err))
			}
		}
	}
	o.resolve(flags)
	return nil
}
