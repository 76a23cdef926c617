package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/pflag"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/admin"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/hooks"
	"github.com/wharfftp/wharf/internal/metrics"
)

// opsOpts are serve's operations flags: metrics, admin, hooks.
type opsOpts struct {
	adminListen   string
	metricsListen string
	onUpload      string
	onDownload    string
	onDelete      string
	onLoginFailed string
	webhook       string
}

func (o *opsOpts) flags(f *pflag.FlagSet) {
	f.StringVar(&o.adminListen, "admin-listen", "", "serve the web admin, its JSON API (/api/v1/) and /metrics on HOST:PORT (HTTPS when TLS is configured; off by default)")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus /metrics alone on HOST:PORT (off by default)")
	f.StringVar(&o.onUpload, "on-upload", "", "shell command run after each complete upload, with the event as JSON on stdin and WHARF_* variables")
	f.StringVar(&o.onDownload, "on-download", "", "shell command run after each complete download (like --on-upload)")
	f.StringVar(&o.onDelete, "on-delete", "", "shell command run after each file or folder deleted (like --on-upload)")
	f.StringVar(&o.onLoginFailed, "on-login-failed", "", "shell command run after each failed login (like --on-upload)")
	f.StringVar(&o.webhook, "webhook", "", "URL POSTed every event as JSON (retried; a bounded queue, so a slow receiver never slows transfers)")
}

// ops is the running operations side of serve.
type ops struct {
	o       *opsOpts
	node    string
	log     *slog.Logger
	metrics *metrics.Metrics
	hooks   *hooks.Hooks
	servers []*http.Server
}

// newOps prepares metrics before the accounts and engine exist: both need
// hooks into it (store timing, the event observer).
func newOps(o *opsOpts, node string, log *slog.Logger, aopts *accounts.Options, cfg *ftp.Config) *ops {
	p := &ops{o: o, node: node, log: log, metrics: metrics.New()}
	aopts.StoreTiming = p.metrics.StoreOp
	p.hooks = hooks.New(hooks.Options{
		OnUpload: o.onUpload, OnDownload: o.onDownload, OnDelete: o.onDelete, OnLoginFailed: o.onLoginFailed,
		Webhook: o.webhook, Node: node, Logger: log.With("part", "hooks"),
		Dropped: p.metrics.HookDropped, Failed: p.metrics.HookFailed,
	})
	cfg.Events = func(e ftp.Event) {
		p.metrics.Observe(e)
		p.hooks.Observe(e)
	}
	return p
}

// checkOps validates the operations flags before anything starts.
func checkOps(o *opsOpts) error {
	if o.webhook != "" {
		u, err := url.Parse(o.webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError(fmt.Errorf("--webhook %q: want an http:// or https:// URL", o.webhook))
		}
	}
	for name, addr := range map[string]string{"--admin-listen": o.adminListen, "--metrics-listen": o.metricsListen} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usageError(fmt.Errorf("%s %q: want HOST:PORT", name, addr))
		}
	}
	return nil
}

// start opens the HTTP listeners once the engine runs.
func (p *ops) start(ctx context.Context, db *accounts.DB, srv *ftp.Server, tlsConf *tls.Config, errc chan<- error) error {
	p.metrics.WatchSessions(srv.Sessions)
	p.metrics.WatchLoginCache(db.LoginStats)
	if p.o.metricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", p.metrics.Handler())
		if err := p.listen(ctx, "metrics", p.o.metricsListen, mux, nil, errc); err != nil {
			return err
		}
	}
	if p.o.adminListen != "" {
		h := admin.New(admin.Options{DB: db, Engine: srv, Node: p.node, Metrics: p.metrics.Handler(),
			Logger: p.log.With("part", "admin")})
		if err := p.listen(ctx, "admin", p.o.adminListen, h, tlsConf, errc); err != nil {
			return err
		}
	}
	return nil
}

func (p *ops) listen(ctx context.Context, what, addr string, h http.Handler, tlsConf *tls.Config, errc chan<- error) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("listen %s: %w", what, err))
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if tlsConf != nil {
		c := tlsConf.Clone()
		c.NextProtos = []string{"h2", "http/1.1"}
		ln = tls.NewListener(ln, c)
		scheme = "https"
	}
	p.servers = append(p.servers, hs)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("%s: %w", what, err):
			default: // serve is already stopping
			}
		}
	}()
	p.log.Info("serving "+what, "listen", ln.Addr().String(), "scheme", scheme)
	return nil
}

// stop closes the HTTP listeners and gives queued hook events a few
// seconds to go out.
func (p *ops) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range p.servers {
		hs.Shutdown(ctx)
	}
	if err := p.hooks.Close(ctx); err != nil {
		p.log.Warn("hooks", "err", err)
	}
}
