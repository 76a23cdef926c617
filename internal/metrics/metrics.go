// Package metrics turns the FTP engine's events into Prometheus metrics and
// serves them in the text exposition format.
//
// It owns the metric names and labels. It must never label a series with
// anything a client or user can choose freely (user names, paths, unknown
// verbs, addresses): every label has a small fixed set of values, so the
// number of series is bounded whatever the traffic. It must never block
// the engine: Observe only counts.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharfftp/wharf/internal/ftp"
)

// Metrics is one registry of wharf's metrics.
type Metrics struct {
	reg *prometheus.Registry

	sessions     prometheus.Counter
	logins       *prometheus.CounterVec
	commands     *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	transfers    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	quota        prometheus.Counter
	bans         prometheus.Counter
	deletes      prometheus.Counter
	passive      prometheus.Gauge
	storeLatency *prometheus.HistogramVec
	hookDropped  *prometheus.CounterVec
	hookFailed   *prometheus.CounterVec
}

// New builds the metrics, with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.sessions = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_sessions_total", Help: "FTP control connections accepted."})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_logins_total", Help: "Logins by result (ok, failed); failed counts the admin page's too."}, []string{"result"})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_commands_total",
		Help: "FTP commands by verb (UNKNOWN for any outside the command table) and class of their final reply (2xx, 4xx, 5xx)."}, []string{"verb", "class"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_transfer_bytes_total",
		Help: "Bytes of file transfers (not listings) by direction (up: uploads, down: downloads), counted when a transfer ends."}, []string{"direction"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_transfers_total",
		Help: "File transfers by direction and result (ok, failed)."}, []string{"direction", "result"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_transfer_duration_seconds",
		Help:    "Duration of file transfers by direction.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"direction"})
	m.quota = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_quota_refusals_total", Help: "Operations refused with 552 because a quota had no room."})
	m.bans = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_bans_total", Help: "Addresses banned after repeated failed logins (FTP or admin)."})
	m.deletes = prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_deletes_total", Help: "Files and folders deleted over FTP."})
	m.passive = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_passive_listeners", Help: "Passive data listeners open now."})
	m.storeLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_store_operation_duration_seconds",
		Help:    "Latency of account store operations by operation.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, []string{"op"})
	m.hookDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_hook_events_dropped_total",
		Help: "Events not delivered to a hook because its queue was full or delivery kept failing, by sink (command, webhook)."}, []string{"sink"})
	m.hookFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_hook_failures_total",
		Help: "Hook runs that failed (command exit or webhook status), by sink."}, []string{"sink"})
	for _, c := range []prometheus.Collector{m.sessions, m.logins, m.commands, m.bytes, m.transfers, m.duration,
		m.quota, m.bans, m.deletes, m.passive, m.storeLatency, m.hookDropped, m.hookFailed} {
		f(c)
	}
	// Known label values start at zero, so rate() and alerts see them
	// before the first event.
	for _, r := range []string{"ok", "failed"} {
		m.logins.WithLabelValues(r)
	}
	for _, d := range []string{"up", "down"} {
		m.bytes.WithLabelValues(d)
		m.duration.WithLabelValues(d)
		for _, r := range []string{"ok", "failed"} {
			m.transfers.WithLabelValues(d, r)
		}
	}
	for _, s := range []string{"command", "webhook"} {
		m.hookDropped.WithLabelValues(s)
		m.hookFailed.WithLabelValues(s)
	}
	return m
}

// Registry is where the metrics live, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe counts one engine event; it is a Config.Events function.
func (m *Metrics) Observe(e ftp.Event) {
	switch e.Kind {
	case ftp.SessionStart:
		m.sessions.Inc()
	case ftp.Login:
		m.logins.WithLabelValues("ok").Inc()
	case ftp.LoginFailed:
		m.logins.WithLabelValues("failed").Inc()
	case ftp.Banned:
		m.bans.Inc()
	case ftp.Command:
		m.commands.WithLabelValues(e.Verb, class(e.Code)).Inc()
	case ftp.TransferDone:
		if e.Listing {
			return
		}
		dir := "down"
		if e.Upload {
			dir = "up"
		}
		m.bytes.WithLabelValues(dir).Add(float64(e.Bytes))
		result := "ok"
		if e.Err != nil {
			result = "failed"
		}
		m.transfers.WithLabelValues(dir, result).Inc()
		m.duration.WithLabelValues(dir).Observe(e.Duration.Seconds())
	case ftp.QuotaRefused:
		m.quota.Inc()
	case ftp.Deleted:
		m.deletes.Inc()
	case ftp.PassiveOpen:
		m.passive.Inc()
	case ftp.PassiveClose:
		m.passive.Dec()
	}
}

// class is a reply code's class label: "2xx" and so on; anything odd is
// "other".
func class(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// WatchSessions adds wharf_sessions_open{tls}, read from list at each
// scrape (a session's TLS can change after it opened, with AUTH TLS).
func (m *Metrics) WatchSessions(list func() []ftp.SessionInfo) {
	desc := prometheus.NewDesc("wharf_sessions_open", "FTP sessions open now, by whether the control connection is encrypted.", []string{"tls"}, nil)
	m.reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		var plain, tls int
		for _, s := range list() {
			if s.TLS {
				tls++
			} else {
				plain++
			}
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(plain), "false")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(tls), "true")
	}})
}

// WatchLoginCache adds wharf_login_cache_hits_total and
// wharf_login_hash_checks_total, read from stats at each scrape.
func (m *Metrics) WatchLoginCache(stats func() (hits, fullChecks int64)) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wharf_login_cache_hits_total",
		Help: "Logins whose password was accepted from the verification cache, without hashing."},
		func() float64 { h, _ := stats(); return float64(h) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wharf_login_hash_checks_total",
		Help: "Password verifications that paid the full hash cost."},
		func() float64 { _, f := stats(); return float64(f) }))
}

// StoreOp records one account store operation's latency; op is one of the
// store's method names (a fixed set).
func (m *Metrics) StoreOp(op string, d time.Duration) {
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
}

// HookDropped counts an event a hook sink ("command", "webhook") dropped.
func (m *Metrics) HookDropped(sink string) { m.hookDropped.WithLabelValues(sink).Inc() }

// HookFailed counts a failed hook run of a sink.
func (m *Metrics) HookFailed(sink string) { m.hookFailed.WithLabelValues(sink).Inc() }

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
