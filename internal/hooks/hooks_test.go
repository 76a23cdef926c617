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
func server(t testing.TB, target *atomic.Pointer[hooks.Hooks]) (*ftptest.Server, string) {
	t.Helper()
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(e ftp.Event) { target.Load().Observe(e) }
	}})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	return srv, home
}

func dial(t testing.TB, addr string) *jftp.ServerConn {
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

// A webhook receiver and a hook command that never finish must not block
// transfers: every upload of a series completes while both hang, and the
// events they cannot take are dropped, not waited for. (How much they
// slow a transfer is BenchmarkUploadWithHooks' job: timings belong in
// benchmarks, where they are compared in one run, not in pass/fail tests.)
func TestHungHooksNeverBlockUploads(t *testing.T) {
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer recv.Close()
	defer close(release)
	var dropped atomic.Int64
	var target atomic.Pointer[hooks.Hooks]
	srv, home := server(t, &target)
	hung := hooks.New(hooks.Options{Webhook: recv.URL, OnUpload: "sleep 60", WebhookTimeout: time.Hour, QueueSize: 2,
		Dropped: func(string) { dropped.Add(1) }})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hung.Close(ctx)
	}()
	target.Store(hung)
	c := dial(t, srv.Addr)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	const uploads = 12
	for i := range uploads {
		name := fmt.Sprintf("f%d.bin", i)
		if err := c.Stor(name, bytes.NewReader(chunk)); err != nil {
			t.Fatalf("upload %d with hung hooks: %v", i, err)
		}
		if fi, err := os.Stat(filepath.Join(home, name)); err != nil || fi.Size() != int64(len(chunk)) {
			t.Fatalf("upload %d stored: %v %v", i, fi, err)
		}
	}
	// Each sink can hold forever at most what its queue and its hung worker
	// take (2+1), and the hashing stage before them as much again: the rest
	// of each sink's upload events must have been dropped, while the
	// uploads went on.
	if n, want := dropped.Load(), int64(2*(uploads-6)); n < want {
		t.Errorf("dropped %d events of %d uploads into two hung sinks, want at least %d", n, uploads, want)
	}
}

// BenchmarkUploadWithHooks uploads WHARF_HOOK_BENCH_MIB MiB (default 256)
// with no hooks, with a receiver that answers at once, and with a hung
// receiver and hook command, so the three are compared in one run:
//
//	go test -run '^$' -bench UploadWithHooks -count 5 ./internal/hooks/ | benchstat -col /sinks -
func BenchmarkUploadWithHooks(b *testing.B) {
	mib := 256
	if v := os.Getenv("WHARF_HOOK_BENCH_MIB"); v != "" {
		if _, err := fmtSscan(v, &mib); err != nil {
			b.Fatal(err)
		}
	}
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer recv.Close()
	defer close(release)
	fastRecv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer fastRecv.Close()
	var target atomic.Pointer[hooks.Hooks]
	srv, _ := server(b, &target)
	hung := hooks.New(hooks.Options{Webhook: recv.URL, OnUpload: "sleep 60", WebhookTimeout: time.Hour})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hung.Close(ctx)
	}()
	fast := hooks.New(hooks.Options{Webhook: fastRecv.URL, OnUpload: "true"})
	defer fast.Close(context.Background())
	c := dial(b, srv.Addr)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	for _, sinks := range []struct {
		name string
		h    *hooks.Hooks
	}{{"none", nil}, {"prompt", fast}, {"hung", hung}} {
		b.Run("sinks="+sinks.name, func(b *testing.B) {
			target.Store(sinks.h)
			b.SetBytes(int64(mib) << 20)
			for b.Loop() {
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
					b.Fatal(err)
				}
			}
			target.Store(nil)
		})
	}
}

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
