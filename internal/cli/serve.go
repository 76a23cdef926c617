package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/tlsconf"
	"github.com/wharfftp/wharf/internal/units"
)

type serveOpts struct {
	config          string
	data            string
	db              string
	node            string
	proxyProtocol   bool
	proxyFrom       []string
	listen          string
	passivePorts    string
	publicHost      string
	tlsCert         string
	tlsKey          string
	tlsSelfSigned   bool
	tlsImplicit     string
	tlsRequired     bool
	tlsRequireReuse bool
	maxSessions     int
	maxPerIP        int
	idleTimeout     time.Duration
	loginTimeout    time.Duration
	maxPreLoginIP   int
	maxPassiveUser  int
	dataTimeout     time.Duration
	loginDelay      time.Duration
	banAfter        int
	banFor          time.Duration
	maxLine         int
	durable         bool
	foreignActive   bool
	foreignPassive  bool
	banner          string
	anonymous       bool
	anonHome        string
	anonIncoming    string
	anonQuota       string
	anonMaxFiles    int64
	logLevel        string
	logFormat       string
	xferlog         string
	grace           time.Duration
	init            bool
	ops             opsOpts
	storage         storageOpts
}

func newServeCmd(env *Env) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the multi-user FTP/FTPS server",
		Long: `Run the multi-user FTP/FTPS server on the users in the data directory
(add them with 'wharf user add').

Every flag can also be given as an environment variable (--passive-ports is
WHARF_PASSIVE_PORTS) or as a key of the TOML file named by --config
(passive-ports = "40000-40999"). A flag on the command line wins over the
environment, which wins over the file. The file defaults to DATA/wharf.toml
when that exists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfgFile, mustExist := o.config, true
			if cfgFile == "" {
				data := o.data
				if !cmd.Flags().Changed("data") {
					data = userDataDir(env)
				}
				cfgFile, mustExist = filepath.Join(data, "wharf.toml"), false
			}
			if err := applyLayers(cmd, env, cfgFile, mustExist); err != nil {
				return err
			}
			o.storage.resolve(cmd.Flags())
			return runServe(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "TOML configuration file (default DATA/wharf.toml if present)")
	f.StringVar(&o.data, "data", "./wharf-data", "data directory holding users, homes and server state (env WHARF_DATA); it must exist")
	f.BoolVar(&o.init, "init", false, "create the data directory when it does not exist ('wharf user add' creates it too)")
	f.StringVar(&o.db, "db", "", "user database: sqlite:PATH (default DATA/wharf.db) or a postgres:// URL shared by several nodes")
	f.StringVar(&o.node, "node", "", "this node's name in logs, STAT and, on S3, its upload records (default the host name; one name a node)")
	f.BoolVar(&o.proxyProtocol, "proxy-protocol", false, "read a PROXY protocol v1/v2 header (from a load balancer) on control and passive data connections")
	f.StringSliceVar(&o.proxyFrom, "proxy-from", nil, "with --proxy-protocol: the balancers' addresses, CIDR[,CIDR...]; connections from elsewhere are refused")
	f.StringVar(&o.listen, "listen", ":2121", "address for plain and explicit-TLS FTP, HOST:PORT or HOST (port 2121)")
	f.StringVar(&o.passivePorts, "passive-ports", "", "passive data port range LOW-HIGH (default: any free port)")
	f.StringVar(&o.publicHost, "public-ip", "", "address announced in PASV replies, for servers behind NAT")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM) for AUTH TLS and implicit FTPS")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.BoolVar(&o.tlsSelfSigned, "tls-self-signed", false, "generate a self-signed certificate in the data directory and reuse it")
	f.StringVar(&o.tlsImplicit, "tls-implicit-listen", "", "also serve implicit FTPS on HOST:PORT (usually :990)")
	f.BoolVar(&o.tlsRequired, "tls-required", false, "refuse logins and data transfers that are not encrypted")
	f.BoolVar(&o.tlsRequireReuse, "tls-require-reuse", true, "data connections must resume the control connection's TLS session")
	f.IntVar(&o.maxSessions, "max-sessions", 2000, "maximum sessions overall (0: unlimited)")
	f.IntVar(&o.maxPerIP, "max-sessions-per-ip", 50, "maximum sessions from one address (0: unlimited)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Minute, "close a session idle this long, before or after login")
	f.DurationVar(&o.loginTimeout, "login-timeout", 30*time.Second, "close a connection that has not logged in this long after connecting")
	f.IntVar(&o.maxPreLoginIP, "max-prelogin-per-ip", 32, "maximum connections from one address not logged in yet (-1: unlimited)")
	f.IntVar(&o.maxPassiveUser, "max-passive-per-user", 16, "maximum passive ports one account holds unused (-1: unlimited)")
	f.DurationVar(&o.dataTimeout, "data-timeout", time.Minute, "abort a transfer whose data connection stalls this long")
	f.DurationVar(&o.loginDelay, "login-fail-delay", time.Second, "delay after a failed login, doubling with each further failure")
	f.IntVar(&o.banAfter, "ban-after", 10, "failed logins from one address before it is banned (0: never)")
	f.DurationVar(&o.banFor, "ban-time", 15*time.Minute, "how long a banned address is refused")
	f.IntVar(&o.maxLine, "max-line", 4096, "longest command line accepted, in bytes")
	f.BoolVar(&o.durable, "durable", false, "sync each upload (file and folder) to disk before confirming it")
	f.BoolVar(&o.foreignActive, "allow-foreign-active", false, "allow PORT/EPRT to addresses other than the client's (FTP bounce)")
	f.BoolVar(&o.foreignPassive, "allow-foreign-passive", false, "accept passive data connections from addresses other than the client's")
	f.StringVar(&o.banner, "banner", "", "greeting text after 220")
	f.BoolVar(&o.anonymous, "anonymous", false, "allow anonymous read-only logins (users anonymous and ftp)")
	f.StringVar(&o.anonHome, "anonymous-home", "", "folder anonymous users see (default DATA/anonymous)")
	f.StringVar(&o.anonIncoming, "anonymous-incoming", "", "sub-folder where anonymous users may upload (drop box)")
	f.StringVar(&o.anonQuota, "anonymous-quota", "1GiB", "bytes all anonymous uploads together may take in the drop box (0: unlimited)")
	f.Int64Var(&o.anonMaxFiles, "anonymous-max-files", 1000, "files all anonymous uploads together may leave in the drop box (0: unlimited)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.xferlog, "xferlog", "", "also write transfers in xferlog format to this file")
	f.DurationVar(&o.grace, "shutdown-grace", 30*time.Second, "on SIGINT/SIGTERM, how long running transfers may finish")
	o.ops.flags(f)
	o.storage.flags(f)
	return cmd
}

func runServe(ctx context.Context, env *Env, o *serveOpts) error {
	keepRunningOnBrokenPipe()
	o.listen = serveListenAddr(o.listen)
	logger, err := newLogger(env, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if _, _, err := accounts.ParseDB(o.db); err != nil {
		return usageError(fmt.Errorf("--db: %w", err))
	}
	var proxyFrom []netip.Prefix
	if o.proxyProtocol || len(o.proxyFrom) > 0 {
		if !o.proxyProtocol || len(o.proxyFrom) == 0 {
			return usageError(errors.New("--proxy-protocol and --proxy-from CIDR[,CIDR...] go together"))
		}
		if proxyFrom, err = userParseAllow(o.proxyFrom); err != nil {
			return usageError(fmt.Errorf("--proxy-from: %s", strings.TrimPrefix(err.Error(), "--allow: ")))
		}
		if len(proxyFrom) == 0 {
			return usageError(errors.New("--proxy-from: name the balancers' addresses"))
		}
	}
	node := o.node
	if node == "" {
		node, _ = os.Hostname()
	}
	logger = slog.New(nodeHandler{logger.Handler(), node})
	lo, hi, err := parsePortRange(o.passivePorts)
	if err != nil {
		return usageError(err)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError(errors.New("--tls-cert and --tls-key go together"))
	}
	if o.tlsSelfSigned && o.tlsCert != "" {
		return usageError(errors.New("--tls-self-signed and --tls-cert exclude each other"))
	}
	if err := checkOps(&o.ops); err != nil {
		return err
	}
	hasTLS := o.tlsSelfSigned || o.tlsCert != ""
	if !hasTLS && (o.tlsRequired || o.tlsImplicit != "") {
		return usageError(errors.New("--tls-required and --tls-implicit-listen need --tls-cert/--tls-key or --tls-self-signed"))
	}

	// A missing data directory is a typo or the wrong working folder far
	// more often than a wish for an empty server: serving it would answer
	// every login with 530 and say nothing.
	if !o.init {
		if _, err := os.Stat(o.data); errors.Is(err, os.ErrNotExist) {
			abs, _ := filepath.Abs(o.data)
			return withCode(ExitNotFound, fmt.Errorf("%w at %s: create it with 'wharf serve --init' or 'wharf user add'", accounts.ErrNoDataDir, abs))
		}
	}
	unlock, err := accounts.LockServer(o.data)
	if err != nil {
		return err
	}
	defer unlock()
	dataAbs, err := filepath.Abs(o.data)
	if err != nil {
		return err
	}
	o.storage.node = node
	hs, err := openHomeStorage(ctx, o.storage, dataAbs)
	if err != nil {
		return err
	}
	if hs.sweep != nil {
		// Multipart uploads a killed predecessor left would be kept (and
		// billed) forever; this process has none yet.
		n, err := hs.sweep(ctx, time.Now())
		switch {
		case err != nil:
			logger.Warn("storage: sweep of abandoned uploads failed; the next start tries again", "storage", hs.where, "err", err)
		case n > 0:
			logger.Info("storage: aborted uploads a previous server left", "storage", hs.where, "uploads", n)
		}
	}
	aopts := accounts.Options{DB: o.db, Anonymous: o.anonymous, AnonymousIncoming: o.anonIncoming, Homes: hs.homes}
	if o.anonIncoming != "" {
		q, err := units.ParseSize(o.anonQuota)
		if err != nil || o.anonMaxFiles < 0 {
			return usageError(fmt.Errorf("--anonymous-quota %q / --anonymous-max-files %d: a size and a count, 0 for unlimited", o.anonQuota, o.anonMaxFiles))
		}
		// 0 on the command line is "unlimited"; to the accounts, negative.
		aopts.AnonymousQuotaBytes, aopts.AnonymousQuotaFiles = cmp.Or(q, -1), cmp.Or(o.anonMaxFiles, -1)
	}
	if o.anonymous {
		aopts.AnonymousHome = o.anonHome
		if aopts.AnonymousHome == "" {
			aopts.AnonymousHome = filepath.Join(o.data, "anonymous")
		}
		if err := os.MkdirAll(aopts.AnonymousHome, 0o755); err != nil {
			return fmt.Errorf("anonymous home: %w", err)
		}
	}
	var cfg ftp.Config
	ops := newOps(&o.ops, node, logger, &aopts, &cfg)
	db, err := accounts.Open(ctx, o.data, aopts)
	if err != nil {
		return err
	}
	defer db.Close()
	if hs.clusterSweep != nil && db.TracksUploads() {
		// The start-up sweep settled this node's predecessor's uploads;
		// other nodes may die too, and only the database knows which
		// uploads are still live: their uploads are settled now and
		// while serving.
		sctx, stop := context.WithCancel(ctx)
		swept := make(chan struct{})
		defer func() { stop(); <-swept }() // before db.Close
		sweep := func() {
			a, n, err := hs.clusterSweep(sctx, db)
			switch {
			case err != nil && sctx.Err() == nil:
				logger.Warn("storage: sweep of dead nodes' uploads failed; tried again shortly", "storage", hs.where, "err", err)
			case a > 0 || n > 0:
				logger.Info("storage: settled uploads of dead nodes", "storage", hs.where, "aborted", a, "settled", n)
			}
		}
		sweep()
		go func() {
			defer close(swept)
			t := time.NewTicker(clusterSweepEvery)
			defer t.Stop()
			for {
				select {
				case <-sctx.Done():
					return
				case <-t.C:
					sweep()
				}
			}
		}()
	}

	cfg = ftp.Config{
		Events:              cfg.Events,
		Auth:                db,
		OpenStorage:         hs.open,
		Logger:              logger,
		TLSRequired:         o.tlsRequired,
		TLSRequireReuse:     o.tlsRequireReuse,
		PassivePorts:        [2]int{lo, hi},
		PublicHost:          o.publicHost,
		AllowForeignActive:  o.foreignActive,
		AllowForeignPassive: o.foreignPassive,
		Banner:              o.banner,
		Node:                node,
		ProxyFrom:           proxyFrom,
		SharedBans:          db.SharedBans(),
		MaxSessions:         o.maxSessions,
		MaxSessionsPerIP:    o.maxPerIP,
		IdleTimeout:         o.idleTimeout,
		LoginTimeout:        o.loginTimeout,
		MaxPreLoginPerIP:    o.maxPreLoginIP,
		MaxPassivePerUser:   o.maxPassiveUser,
		DataTimeout:         o.dataTimeout,
		LoginFailDelay:      o.loginDelay,
		BanAfter:            o.banAfter,
		BanFor:              o.banFor,
		MaxLineLen:          o.maxLine,
		Durable:             o.durable,
	}
	// Zero means "default" to the engine; on the command line 0 means off.
	if o.loginDelay == 0 {
		cfg.LoginFailDelay = -1
	}
	if o.banAfter == 0 {
		cfg.BanAfter = -1
	}
	switch {
	case o.tlsSelfSigned:
		var hosts []string
		if o.publicHost != "" {
			hosts = append(hosts, o.publicHost)
		}
		if cfg.TLS, err = tlsconf.SelfSigned(filepath.Join(o.data, "tls"), hosts); err != nil {
			return err
		}
	case o.tlsCert != "":
		if cfg.TLS, err = tlsconf.ServerConfig(o.tlsCert, o.tlsKey); err != nil {
			return err
		}
	}
	if cfg.TLS != nil {
		if fp, err := tlsconf.ConfigFingerprint(cfg.TLS); err == nil {
			logger.Info("tls certificate", "fingerprint", fp, "sha256_hex", tlsconf.FingerprintHex(fp))
		}
	}
	if o.xferlog != "" {
		f, err := os.OpenFile(o.xferlog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("xferlog: %w", err)
		}
		defer f.Close()
		cfg.XferLog = f
	}
	srv, err := ftp.NewServer(cfg)
	if err != nil {
		return err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.listen)
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("listen: %w", err))
	}
	var iln net.Listener
	if o.tlsImplicit != "" {
		if iln, err = lc.Listen(ctx, "tcp", o.tlsImplicit); err != nil {
			ln.Close()
			return withCode(ExitFailure, fmt.Errorf("listen implicit ftps: %w", err))
		}
	}
	users, err := db.ListUsers(ctx)
	if err != nil {
		ln.Close()
		if iln != nil {
			iln.Close()
		}
		return fmt.Errorf("list users: %w", err)
	}
	errc := make(chan error, 2)
	defer ops.stop()
	if err := ops.start(ctx, db, srv, cfg.TLS, errc); err != nil {
		ln.Close()
		if iln != nil {
			iln.Close()
		}
		return err
	}
	go func() { errc <- srv.Serve(ln) }()
	// The one line an admin reads to see that this is the server they
	// meant: where it listens, on whose accounts, stored where.
	attrs := []any{"listen", ln.Addr().String()}
	if iln != nil {
		attrs = append(attrs, "implicit_ftps", iln.Addr().String())
	}
	attrs = append(attrs, "users", len(users), "data", db.Dir(), "accounts", db.Where(),
		"homes", db.DefaultHome(""), "storage", hs.where, "anonymous", o.anonymous, "tls", cfg.TLS != nil, "passive_ports", o.passivePorts)
	if len(users) == 0 && !o.anonymous {
		logger.Warn("no users: every login is refused until 'wharf user add NAME --data " + db.Dir() + "'")
	}
	logger.Info("serving ftp", attrs...)
	servers := 1
	if iln != nil {
		servers++
		go func() { errc <- srv.ServeImplicitTLS(iln) }()
	}

	select {
	case err := <-errc:
		// A listener failed on its own: stop the rest.
		sctx, cancel := context.WithTimeout(context.Background(), o.grace)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", o.grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	err = srv.Shutdown(sctx)
	for range servers {
		if e := <-errc; e != nil && !errors.Is(e, ftp.ErrServerClosed) {
			logger.Warn("listener", "err", e)
		}
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// nodeHandler adds the node's name as the last attribute of every record,
// so a line's leading fields (msg, then its own attributes) stay where log
// readers look for them.
type nodeHandler struct {
	slog.Handler
	node string
}

func (h nodeHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(slog.String("node", h.node))
	return h.Handler.Handle(ctx, r)
}

func (h nodeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return nodeHandler{h.Handler.WithAttrs(as), h.node}
}

func (h nodeHandler) WithGroup(name string) slog.Handler {
	return nodeHandler{h.Handler.WithGroup(name), h.node}
}

func newLogger(env *Env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", level))
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, hopts)), nil
	}
	return nil, usageError(fmt.Errorf("--log-format %q: want text or json", format))
}

// parsePortRange reads LOW-HIGH; "" means any port.
func parsePortRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("--passive-ports %q: want LOW-HIGH within 1-65535", s)
	}
	return lo, hi, nil
}

// serveListenAddr reads --listen as share does: HOST alone means the
// default port 2121; HOST:PORT and anything unreadable are left to Listen,
// whose error then names the value.
func serveListenAddr(s string) string {
	if host, _, hasPort, err := splitListen(s); err == nil && !hasPort && s != "" {
		return net.JoinHostPort(host, "2121")
	}
	return s
}
