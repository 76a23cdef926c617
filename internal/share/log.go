package share

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// TerminalLogger returns a logger for Options.Logger that suits a share run
// from a terminal: the share's own event lines are what the person there
// reads, so the engines' routine diagnostics (failed logins, refused
// commands: already shown as events) are dropped, and only errors get
// through, as one line shaped like an event line:
//
//	15:04:05 ftp  error: remove partial upload (path=/a.part err="...")
func TerminalLogger(w io.Writer) *slog.Logger {
	return slog.New(&lineHandler{mu: new(sync.Mutex), w: w, level: slog.LevelError})
}

// lineHandler is the slog.Handler behind TerminalLogger. Groups are
// flattened: the engines do not use them for anything a person needs.
type lineHandler struct {
	mu    *sync.Mutex // shared by derived handlers: one line at a time
	w     io.Writer
	level slog.Level
	proto string      // the "proto" attribute, shown in the event column
	attrs []slog.Attr // attributes added by With, in order
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if a.Key == "proto" {
			c.proto = a.Value.String()
			continue
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	proto := h.proto
	if proto == "" {
		proto = "-"
	}
	fmt.Fprintf(&b, "%s %-4s %s: %s", r.Time.Format("15:04:05"), proto, strings.ToLower(r.Level.String()), oneLine(r.Message))
	var kv []string
	add := func(a slog.Attr) bool {
		if a.Key == "" || a.Key == "proto" {
			return true
		}
		v := oneLine(a.Value.Resolve().String())
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = fmt.Sprintf("%q", v)
		}
		kv = append(kv, a.Key+"="+v)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(kv) > 0 {
		b.WriteString(" (" + strings.Join(kv, " ") + ")")
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// oneLine keeps a value from breaking the line: names and error texts can
// hold newlines a visitor chose.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
