// Package hooks runs an admin's commands and POSTs webhooks for engine
// events: an upload, a download, a delete, a failed login.
//
// It owns the event JSON (the same document on a command's standard input
// and in a webhook's body), the WHARF_* variables, and the queues between
// the engine and the slow outside world. It must never block or slow the
// engine: Observe only copies the event into a bounded queue, dropping it
// (and counting the drop) when the queue is full; a hook that fails,
// hangs or is killed is logged and never changes what the FTP client was
// told.
package hooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
)

// Options configure the hooks; an empty command or URL is off.
type Options struct {
	OnUpload      string // shell command run after each complete upload
	OnDownload    string // after each complete download
	OnDelete      string // after each file or folder deleted
	OnLoginFailed string // after each failed login
	Webhook       string // URL POSTed every event (uploads and downloads whether complete or not, deletes, failed logins, bans)

	Node   string // this server's name in events
	Logger *slog.Logger

	// Dropped counts an event a sink ("command", "webhook") did not
	// deliver: its queue was full, or the webhook kept failing. Failed
	// counts each failed run or attempt. Both optional.
	Dropped func(sink string)
	Failed  func(sink string)

	QueueSize      int           // per sink; default 1024
	CommandTimeout time.Duration // default 1m: a hung command is killed
	WebhookTimeout time.Duration // per attempt; default 10s
	Retries        int           // webhook attempts after the first; default 3
	RetryDelay     time.Duration // first delay between attempts, doubling; default 1s
}

// Defaults, with their reasons.
const (
	// defaultQueue holds a burst of small uploads while a receiver is slow,
	// at about 1 KiB an event.
	defaultQueue          = 1024
	defaultCommandTimeout = time.Minute
	defaultWebhookTimeout = 10 * time.Second
	defaultRetries        = 3
	defaultRetryDelay     = time.Second
	// maxOutput bounds what a hook command's output costs in the log.
	maxOutput = 4096
)

// Event is the JSON document a hook receives.
type Event struct {
	Event    string    `json:"event"` // upload, download, delete, login-failed, banned
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	Session  uint64    `json:"session,omitempty"`
	User     string    `json:"user"`
	Remote   string    `json:"remote"`
	Via      string    `json:"via,omitempty"` // login-failed, banned: "admin" (or "http") when not through FTP
	TLS      bool      `json:"tls"`
	Path     string    `json:"path,omitempty"`      // as the client sees it
	RealPath string    `json:"real_path,omitempty"` // where it is stored
	Dir      bool      `json:"dir,omitempty"`       // delete of a folder
	Size     int64     `json:"size"`                // bytes moved, or the size of the file deleted
	SHA256   string    `json:"sha256,omitempty"`    // of a complete upload, as stored
	Duration float64   `json:"duration_seconds,omitempty"`
	Result   string    `json:"result"` // ok or failed
	Error    string    `json:"error,omitempty"`
}

// Hooks delivers events to the configured sinks.
type Hooks struct {
	o       Options
	log     *slog.Logger
	client  *http.Client
	prep    chan Event // events waiting for their checksum
	cmds    chan job
	hooks   chan Event
	wg      sync.WaitGroup
	closeMu sync.RWMutex // guards closed against the close of prep
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
}

type job struct {
	cmd string
	ev  Event
}

// New starts the hooks' workers, or returns nil when none is configured
// (a nil *Hooks ignores events).
func New(o Options) *Hooks {
	if o.OnUpload == "" && o.OnDownload == "" && o.OnDelete == "" && o.OnLoginFailed == "" && o.Webhook == "" {
		return nil
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dropped == nil {
		o.Dropped = func(string) {}
	}
	if o.Failed == nil {
		o.Failed = func(string) {}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = defaultQueue
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = defaultCommandTimeout
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = defaultWebhookTimeout
	}
	if o.Retries == 0 {
		o.Retries = defaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = defaultRetryDelay
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hooks{o: o, log: o.Logger, ctx: ctx, cancel: cancel,
		client: &http.Client{Timeout: o.WebhookTimeout},
		prep:   make(chan Event, o.QueueSize),
		cmds:   make(chan job, o.QueueSize),
		hooks:  make(chan Event, o.QueueSize),
	}
	h.wg.Add(3)
	go h.prepare()
	go h.runCommands()
	go h.postWebhooks()
	return h
}

// Observe takes an engine event; it is a Config.Events function and never
// blocks.
func (h *Hooks) Observe(e ftp.Event) {
	if h == nil {
		return
	}
	ev, ok := h.convert(e)
	if !ok {
		return
	}
	h.closeMu.RLock()
	defer h.closeMu.RUnlock()
	if h.closed {
		return
	}
	select {
	case h.prep <- ev:
	default:
		h.dropAll(ev)
	}
}

// convert builds the event JSON of e; ok is false for events no sink
// wants.
func (h *Hooks) convert(e ftp.Event) (Event, bool) {
	ev := Event{Time: e.Time, Node: h.o.Node, Session: e.Session, User: e.User, Remote: e.Remote.String(), TLS: e.TLS,
		Path: e.Path, RealPath: e.RealPath, Size: e.Bytes, Result: "ok", Via: e.Via}
	if e.Remote.Port() == 0 && e.Remote.Addr().IsValid() {
		ev.Remote = e.Remote.Addr().String() // another door's login: the address is all there is
	}
	if e.Err != nil {
		ev.Result, ev.Error = "failed", e.Err.Error()
	}
	switch e.Kind {
	case ftp.TransferDone:
		if e.Listing {
			return ev, false
		}
		ev.Event = "download"
		if e.Upload {
			ev.Event = "upload"
		}
		ev.Duration = e.Duration.Seconds()
	case ftp.Deleted:
		ev.Event, ev.Dir = "delete", e.Dir
	case ftp.LoginFailed:
		ev.Event, ev.Path, ev.RealPath = "login-failed", "", ""
		ev.Result, ev.Error = "failed", ""
	case ftp.Banned:
		ev.Event = "banned"
		ev.Result, ev.Error = "ok", ""
	default:
		return ev, false
	}
	return ev, h.command(ev) != "" || h.o.Webhook != ""
}

// command is the command configured for ev, "" for none. Commands run
// only for what happened: a complete transfer.
func (h *Hooks) command(ev Event) string {
	if ev.Result != "ok" && ev.Event != "login-failed" {
		return ""
	}
	switch ev.Event {
	case "upload":
		return h.o.OnUpload
	case "download":
		return h.o.OnDownload
	case "delete":
		return h.o.OnDelete
	case "login-failed":
		return h.o.OnLoginFailed
	}
	return ""
}

func (h *Hooks) dropAll(ev Event) {
	if h.command(ev) != "" {
		h.drop("command", ev)
	}
	if h.o.Webhook != "" {
		h.drop("webhook", ev)
	}
}

func (h *Hooks) drop(sink string, ev Event) {
	h.o.Dropped(sink)
	h.log.Warn("hook event dropped", "sink", sink, "event", ev.Event, "user", ev.User, "path", ev.Path)
}

// prepare adds the checksum of complete uploads (reading the stored file,
// off the transfer's path) and hands events to the sinks.
func (h *Hooks) prepare() {
	defer h.wg.Done()
	defer close(h.cmds)
	defer close(h.hooks)
	for ev := range h.prep {
		if ev.Event == "upload" && ev.Result == "ok" && ev.RealPath != "" {
			if sum, err := fileSHA256(h.ctx, ev.RealPath); err == nil {
				ev.SHA256 = sum
			} else {
				h.log.Warn("hook: checksum of upload failed", "path", ev.RealPath, "err", err)
			}
		}
		if c := h.command(ev); c != "" {
			select {
			case h.cmds <- job{cmd: c, ev: ev}:
			default:
				h.drop("command", ev)
			}
		}
		if h.o.Webhook != "" {
			select {
			case h.hooks <- ev:
			default:
				h.drop("webhook", ev)
			}
		}
	}
}

func fileSHA256(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		n, err := f.Read(buf)
		s.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(s.Sum(nil)), nil
}

// env is the WHARF_* variables of ev.
func env(ev Event) []string {
	return []string{
		"WHARF_EVENT=" + ev.Event,
		"WHARF_USER=" + ev.User,
		"WHARF_PATH=" + ev.Path,
		"WHARF_REAL_PATH=" + ev.RealPath,
		"WHARF_SIZE=" + strconv.FormatInt(ev.Size, 10),
		"WHARF_SHA256=" + ev.SHA256,
		"WHARF_REMOTE=" + ev.Remote,
		"WHARF_NODE=" + ev.Node,
		"WHARF_RESULT=" + ev.Result,
		"WHARF_VIA=" + ev.Via,
	}
}

func (h *Hooks) runCommands() {
	defer h.wg.Done()
	for j := range h.cmds {
		h.runCommand(j)
	}
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *Hooks) runCommand(j job) {
	body, _ := json.Marshal(j.ev)
	ctx, cancel := context.WithTimeout(h.ctx, h.o.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.cmd)
	cmd.Env = append(os.Environ(), env(j.ev)...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a backgrounded child holding the pipes cannot pin the worker
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		h.o.Failed("command")
		h.log.Warn("hook command failed", "event", j.ev.Event, "user", j.ev.User, "path", j.ev.Path, "err", err,
			"output", out.String(), "duration", time.Since(start))
		return
	}
	h.log.Debug("hook command ran", "event", j.ev.Event, "path", j.ev.Path, "output", out.String(), "duration", time.Since(start))
}

func (h *Hooks) postWebhooks() {
	defer h.wg.Done()
	for ev := range h.hooks {
		h.post(ev)
	}
}

// post delivers one event, retrying with a doubling delay.
func (h *Hooks) post(ev Event) {
	body, _ := json.Marshal(ev)
	delay := h.o.RetryDelay
	for attempt := 0; ; attempt++ {
		err := h.postOnce(body)
		if err == nil {
			return
		}
		h.o.Failed("webhook")
		if attempt >= h.o.Retries || h.ctx.Err() != nil {
			h.log.Warn("webhook gave up", "event", ev.Event, "path", ev.Path, "attempts", attempt+1, "err", err)
			h.o.Dropped("webhook")
			return
		}
		h.log.Info("webhook failed; retrying", "event", ev.Event, "err", err, "delay", delay)
		select {
		case <-time.After(delay):
		case <-h.ctx.Done():
		}
		delay *= 2
	}
}

func (h *Hooks) postOnce(body []byte) error {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.o.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wharf-webhook")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// Close stops taking events, delivers those queued until ctx is done, then
// abandons the rest (running commands are killed, webhooks cut).
func (h *Hooks) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	h.closeMu.Lock()
	if !h.closed {
		h.closed = true
		close(h.prep)
	}
	h.closeMu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel()
		<-done
		return errors.Join(ctx.Err(), errors.New("hooks: undelivered events abandoned"))
	}
}
