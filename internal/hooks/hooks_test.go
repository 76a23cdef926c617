package hooks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/hooks"
)

// syncLog is a concurrency-safe log sink.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server runs an FTP server whose events go to *target (swappable).
func server(t *testing.T, target *atomic.Pointer[hooks.Hooks]) (*ftptest.Server, string) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(e ftp.Event) { target.Load().Observe(e) }
	}})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	return srv, home
}

func dial(t *testing.T, addr string) *jftp.ServerConn {
	t.Helper()
	c, err := jftp.Dial(addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

func waitFile(t *testing.T, p string) []byte {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 && bytes.HasSuffix(b, []byte("\n")) {
			return b
		}
	}
	t.Fatalf("%s never written", p)
	return nil
}

func TestUploadHookCommandAndWebhookGetJSONWithSHA256(t *testing.T) {
	got := make(chan []byte, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook request %s %q", r.Method, r.Header.Get("Content-Type"))
		}
		got <- b
	}))
	defer recv.Close()
	dir := t.TempDir()
	var target atomic.Pointer[hooks.Hooks]
	h := hooks.New(hooks.Options{
		OnUpload: "cat > " + filepath.Join(dir, "stdin.json") + "; env | grep ^WHARF_ | sort > " + filepath.Join(dir, "env.tmp") +
			" && mv " + filepath.Join(dir, "env.tmp") + " " + filepath.Join(dir, "env.txt"),
		OnDelete: "cat > " + filepath.Join(dir, "delete.json"),
		Webhook:  recv.URL, Node: "node-a",
	})
	target.Store(h)
	defer h.Close(context.Background())
	srv, home := server(t, &target)
	c := dial(t, srv.Addr)
	data := make([]byte, 300_000)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	if err := c.Stor("up.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	check := func(what string, b []byte) {
		t.Helper()
		var ev hooks.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v: %s", what, err, b)
		}
		if ev.Event != "upload" || ev.SHA256 != want || ev.Size != int64(len(data)) || ev.User != "alice" ||
			ev.Path != "/up.bin" || ev.RealPath != filepath.Join(home, "up.bin") || ev.Node != "node-a" ||
			ev.Result != "ok" || !strings.HasPrefix(ev.Remote, "127.0.0.1:") || ev.Time.IsZero() {
			t.Errorf("%s: event %+v, want sha256 %s", what, ev, want)
		}
	}
	check("command stdin", waitFile(t, filepath.Join(dir, "stdin.json")))
	select {
	case b := <-got:
		check("webhook body", b)
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called")
	}
	envs := string(waitFile(t, filepath.Join(dir, "env.txt")))
	for _, w := range []string{"WHARF_EVENT=upload", "WHARF_USER=alice", "WHARF_PATH=/up.bin", "WHARF_SIZE=300000",
		"WHARF_SHA256=" + want, "WHARF_NODE=node-a", "WHARF_REAL_PATH=" + filepath.Join(home, "up.bin"), "WHARF_REMOTE=127.0.0.1:"} {
		if !strings.Contains(envs, w) {
			t.Errorf("hook environment lacks %s:\n%s", w, envs)
		}
	}
	if err := c.Delete("up.bin"); err != nil {
		t.Fatal(err)
	}
	var del hooks.Event
	json.Unmarshal(waitFile(t, filepath.Join(dir, "delete.json")), &del)
	if del.Event != "delete" || del.Path != "/up.bin" || del.Size != int64(len(data)) {
		t.Errorf("delete event %+v", del)
	}
}

func TestFailingUploadHookIsLoggedAndUploadSucceeds(t *testing.T) {
	var logs syncLog
	var failed atomic.Int64
	var target atomic.Pointer[hooks.Hooks]
	h := hooks.New(hooks.Options{OnUpload: "echo broken hook >&2; exit 3",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Failed: func(string) { failed.Add(1) }})
	target.Store(h)
	defer h.Close(context.Background())
	srv, home := server(t, &target)
	c := dial(t, srv.Addr)
	if err := c.Stor("a.txt", strings.NewReader("hello\n")); err != nil {
		t.Fatalf("upload failed because of its hook: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); failed.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if failed.Load() != 1 {
		t.Fatal("failed hook not counted")
	}
	if l := logs.String(); !strings.Contains(l, "hook command failed") || !strings.Contains(l, "exit status 3") || !strings.Contains(l, "broken hook") {
		t.Errorf("log:\n%s", l)
	}
	if b, err := os.ReadFile(filepath.Join(home, "a.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("upload: %q %v", b, err)
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer recv.Close()
	defer close(release)
	var dropped atomic.Int64
	h := hooks.New(hooks.Options{Webhook: recv.URL, QueueSize: 2, Retries: -1, WebhookTimeout: time.Hour,
		Dropped: func(sink string) {
			if sink == "webhook" {
				dropped.Add(1)
			}
		}})
	start := time.Now()
	for range 100 {
		h.Observe(ftp.Event{Kind: ftp.LoginFailed, User: "x", Time: time.Now()})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 events into a hung webhook took %v", d)
	}
	// At most: one being posted, two in each of the two queues.
	if n := dropped.Load(); n < 95 || n > 99 {
		t.Errorf("dropped %d of 100 events, want 95-99", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.Close(ctx); err == nil {
		t.Error("Close with a hung receiver reported every event delivered")
	}
}

// A webhook receiver that never answers must not slow transfers: the
// same upload is timed with no hooks and with a hung receiver (and a
// queue of events waiting behind it). WHARF_HOOK_BENCH_MIB sets the size
// (default 256).
func TestHungWebhookDoesNotSlowLargeUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	mib := 256
	if v := os.Getenv("WHARF_HOOK_BENCH_MIB"); v != "" {
		if _, err := fmtSscan(v, &mib); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer recv.Close()
	defer close(release)
	var target atomic.Pointer[hooks.Hooks]
	srv, _ := server(t, &target)
	hung := hooks.New(hooks.Options{Webhook: recv.URL, OnUpload: "sleep 60", WebhookTimeout: time.Hour})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hung.Close(ctx)
	}()
	c := dial(t, srv.Addr)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	upload := func() time.Duration {
		start := time.Now()
		pr, pw := io.Pipe()
		go func() {
			for range mib {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		if err := c.Stor("big.bin", pr); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	fastRecv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer fastRecv.Close()
	fast := hooks.New(hooks.Options{Webhook: fastRecv.URL, OnUpload: "true"})
	defer fast.Close(context.Background())
	// Prime the hung sinks so the timed uploads' events queue behind them.
	target.Store(hung)
	c.Stor("small", strings.NewReader("x"))
	// Alternate, and compare the best of each: the machine is shared. The
	// fair baseline is a receiver that answers at once: both hooked runs
	// also pay the SHA-256 of the upload before (read back by the hooks'
	// worker while the next one runs), which is CPU, not waiting.
	none, base, withHung := time.Duration(1<<62), time.Duration(1<<62), time.Duration(1<<62)
	for range 3 {
		target.Store(nil)
		none = min(none, upload())
		target.Store(fast)
		base = min(base, upload())
		target.Store(hung)
		withHung = min(withHung, upload())
	}
	target.Store(nil)
	ratio := withHung.Seconds() / base.Seconds()
	t.Logf("%d MiB upload, best of 3: %v without hooks, %v with a prompt webhook, %v with a hung webhook and hook command (hung/prompt %.2f)",
		mib, none, base, withHung, ratio)
	if ratio > 1.5 {
		t.Errorf("hung webhook slowed the upload: ratio %.2f", ratio)
	}
}

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
