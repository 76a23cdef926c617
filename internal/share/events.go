package share

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"sync"
	"time"
)

// EventKind says what happened in an Event.
type EventKind int

const (
	EventLogin       EventKind = iota + 1 // a visitor arrived (FTP login, first HTTP request)
	EventLoginFailed                      // credentials were refused
	EventDownload                         // a file was sent, completely or not (see Err)
	EventUpload                           // a file was received, completely or not (see Err)
	EventMkdir                            // a folder was made
	EventDelete                           // a file or folder was removed
	EventRename                           // a file or folder was renamed (FTP)
	EventLogout                           // an FTP session ended
)

func (k EventKind) String() string {
	switch k {
	case EventLogin:
		return "login"
	case EventLoginFailed:
		return "login failed"
	case EventDownload:
		return "download"
	case EventUpload:
		return "upload"
	case EventMkdir:
		return "mkdir"
	case EventDelete:
		return "delete"
	case EventRename:
		return "rename"
	case EventLogout:
		return "logout"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing a visitor did, from either protocol.
type Event struct {
	Time     time.Time
	Proto    string // "ftp" or "http"
	Kind     EventKind
	Remote   netip.AddrPort
	User     string
	Path     string // client-visible absolute path
	Bytes    int64
	Duration time.Duration
	Err      error // non-nil: the operation failed or the transfer was cut short
}

// Totals is what the share has moved so far. Files and bytes count only
// completed transfers, together, so the summary never claims bytes that are
// not in a file anyone has: an upload cut short, or refused at the end
// because its name was taken meanwhile, is counted apart as incomplete.
type Totals struct {
	FilesSent, BytesSent         int64
	FilesReceived, BytesReceived int64
	// IncompleteSent and IncompleteReceived count transfers that started
	// but did not complete (cut, cancelled, or refused when finishing).
	IncompleteSent, IncompleteReceived int64
	// Visitors counts the distinct addresses that logged in, over both
	// protocols (an FTP client opening many sessions is one visitor).
	Visitors int64
}

// maxVisitors bounds the set of addresses remembered for Totals.Visitors;
// past it, new addresses are still counted but no longer deduplicated.
const maxVisitors = 1 << 16

// tally adds up events; safe for concurrent use by both protocol servers.
type tally struct {
	mu       sync.Mutex
	t        Totals                  // guarded by mu
	visitors map[netip.Addr]struct{} // guarded by mu
}

func (t *tally) add(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Kind {
	case EventLogin:
		ip := e.Remote.Addr().Unmap()
		if t.visitors == nil {
			t.visitors = make(map[netip.Addr]struct{})
		}
		if _, seen := t.visitors[ip]; !seen {
			t.t.Visitors++
			if len(t.visitors) < maxVisitors {
				t.visitors[ip] = struct{}{}
			}
		}
	case EventDownload:
		if e.Err != nil {
			t.t.IncompleteSent++
			return
		}
		t.t.FilesSent++
		t.t.BytesSent += e.Bytes
	case EventUpload:
		if e.Err != nil {
			t.t.IncompleteReceived++
			return
		}
		t.t.FilesReceived++
		t.t.BytesReceived += e.Bytes
	}
}

func (t *tally) totals() Totals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}

// FormatEvent renders an event as one terminal line.
func FormatEvent(e Event) string {
	who := e.Remote.Addr().String()
	if e.User != "" {
		who = e.User + "@" + who
	}
	ts := e.Time.Format("15:04:05")
	switch e.Kind {
	case EventLogin:
		return fmt.Sprintf("%s %-4s %s connected", ts, e.Proto, who)
	case EventLogout:
		return fmt.Sprintf("%s %-4s %s left", ts, e.Proto, who)
	case EventLoginFailed:
		return fmt.Sprintf("%s %-4s %s login refused", ts, e.Proto, who)
	case EventDownload, EventUpload:
		dir := "sent"
		if e.Kind == EventUpload {
			dir = "received"
		}
		line := fmt.Sprintf("%s %-4s %s %s %s (%s", ts, e.Proto, who, dir, e.Path, HumanBytes(e.Bytes))
		// A rate only means something for a transfer that took a while.
		if secs := e.Duration.Seconds(); secs >= 0.5 && e.Bytes >= 64<<10 {
			line += fmt.Sprintf(", %s/s", HumanBytes(int64(float64(e.Bytes)/secs)))
		}
		line += ")"
		switch {
		case e.Err == nil:
		case e.Kind == EventUpload && errors.Is(e.Err, fs.ErrExist):
			// Two uploads of one name raced and the other one won.
			line += " NOT KEPT (name already taken)"
		default:
			line += " INCOMPLETE"
		}
		return line
	default:
		line := fmt.Sprintf("%s %-4s %s %s %s", ts, e.Proto, who, e.Kind, e.Path)
		if e.Err != nil {
			line += " FAILED"
		}
		return line
	}
}

// HumanBytes formats n with a binary unit, one decimal above bytes.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
