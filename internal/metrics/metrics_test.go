package metrics_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/metrics"
)

// scrape fetches /metrics and parses it with Prometheus' own parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus parser refused the output: %v", err)
	}
	return fams
}

// value returns the counter, gauge or histogram-count value of the series of
// name with exactly the given labels (name=value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		want := map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			want[labels[i]] = labels[i+1]
		}
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func TestMetricsAfterRealTraffic(t *testing.T) {
	m := metrics.New()
	var srv *ftptest.Server
	srv = ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Events = m.Observe }})
	m.WatchSessions(srv.Engine.Sessions)
	m.WatchLoginCache(func() (int64, int64) { return 7, 3 })
	m.StoreOp("GetUser", time.Millisecond)
	srv.Users.Add("alice", "secret", accounts.PresetFull)
	srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: 1000}, "pw")
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()

	before := scrape(t, hs.URL)
	if v := value(t, before, "wharf_transfers_total", "direction", "up", "result", "ok"); v != 0 {
		t.Fatalf("uploads before traffic = %v", v)
	}

	c, err := jftp.Dial(srv.Addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	up1, up2 := make([]byte, 123_456), make([]byte, 7_000)
	rand.Read(up1)
	rand.Read(up2)
	for name, b := range map[string][]byte{"a.bin": up1, "b.bin": up2} {
		if err := c.Stor(name, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Retr("a.bin")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r)
	r.Close()
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("b.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("nope"); err == nil {
		t.Fatal("delete of a missing file succeeded")
	}
	mid := scrape(t, hs.URL) // while the session is open
	if v := value(t, mid, "wharf_sessions_open", "tls", "false"); v != 1 {
		t.Errorf("sessions open (plain) = %v, want 1", v)
	}
	c.Quit()

	q, err := jftp.Dial(srv.Addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Login("q", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := q.Stor("big", bytes.NewReader(make([]byte, 5000))); err == nil {
		t.Fatal("upload over quota succeeded")
	}
	q.Quit()

	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = scrape(t, hs.URL)
		if value(t, after, "wharf_sessions_open", "tls", "false") == 0 && value(t, after, "wharf_passive_listeners") == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"wharf_sessions_total", nil, 2},
		{"wharf_sessions_open", []string{"tls", "false"}, 0},
		{"wharf_sessions_open", []string{"tls", "true"}, 0},
		{"wharf_logins_total", []string{"result", "ok"}, 2},
		{"wharf_logins_total", []string{"result", "failed"}, 1},
		{"wharf_transfers_total", []string{"direction", "up", "result", "ok"}, 2},
		{"wharf_transfers_total", []string{"direction", "up", "result", "failed"}, 1},
		{"wharf_transfers_total", []string{"direction", "down", "result", "ok"}, 1},
		{"wharf_transfer_bytes_total", []string{"direction", "down"}, 123_456},
		{"wharf_transfer_duration_seconds", []string{"direction", "up"}, 3},
		{"wharf_commands_total", []string{"verb", "STOR", "class", "2xx"}, 2},
		{"wharf_commands_total", []string{"verb", "STOR", "class", "5xx"}, 1},
		{"wharf_commands_total", []string{"verb", "RETR", "class", "2xx"}, 1},
		{"wharf_commands_total", []string{"verb", "MLSD", "class", "2xx"}, 1},
		{"wharf_commands_total", []string{"verb", "DELE", "class", "2xx"}, 1},
		{"wharf_commands_total", []string{"verb", "DELE", "class", "5xx"}, 1},
		{"wharf_commands_total", []string{"verb", "PASS", "class", "5xx"}, 1},
		{"wharf_commands_total", []string{"verb", "PASS", "class", "2xx"}, 2},
		{"wharf_quota_refusals_total", nil, 1},
		{"wharf_deletes_total", nil, 1},
		{"wharf_passive_listeners", nil, 0},
		{"wharf_login_cache_hits_total", nil, 7},
		{"wharf_store_operation_duration_seconds", []string{"op", "GetUser"}, 1},
		{"wharf_hook_events_dropped_total", []string{"sink", "webhook"}, 0},
	}
	for _, w := range want {
		if got := value(t, after, w.name, w.labels...); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	// Uploaded bytes: both files whole, plus what arrived of the refused
	// one before the quota stopped it (at most the quota).
	if got := value(t, after, "wharf_transfer_bytes_total", "direction", "up"); got < 130_456 || got > 131_456 {
		t.Errorf("uploaded bytes = %v, want 130456 plus at most 1000", got)
	}
	if n := len(after["wharf_commands_total"].Metric); n > 40 {
		t.Errorf("%d command series for a handful of verbs", n)
	}
}
