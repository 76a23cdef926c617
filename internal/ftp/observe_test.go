package ftp_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// eventLog collects events for a test.
type eventLog struct {
	mu sync.Mutex
	ev []ftp.Event
}

func (l *eventLog) add(e ftp.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) of(k ftp.EventKind) []ftp.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ftp.Event
	for _, e := range l.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestEventsCommandsTransfersDeletes(t *testing.T) {
	var log eventLog
	srv, home := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Events = log.add }})
	c := login(t, srv.Addr, "alice", "secret")
	data := randomBytes(t, 100_000)
	if err := c.Stor("a.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("a.bin"); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, srv.Addr)
	r.must("FROB x", 500)
	c.Quit()
	r.must("QUIT", 221)

	waitFor(t, "session ends", func() bool { return len(log.of(ftp.SessionEnd)) == 2 })
	var stor, dele, unknown bool
	for _, e := range log.of(ftp.Command) {
		switch {
		case e.Verb == "STOR" && e.Code == 226:
			stor = true
		case e.Verb == "DELE" && e.Code == 250:
			dele = true
		case e.Verb == "UNKNOWN" && e.Code == 500:
			unknown = true
		case e.Code < 200:
			t.Errorf("preliminary reply reported as final: %+v", e)
		}
	}
	if !stor || !dele || !unknown {
		t.Errorf("command events: STOR 226 %v, DELE 250 %v, UNKNOWN 500 %v", stor, dele, unknown)
	}
	var done *ftp.Event
	for _, e := range log.of(ftp.TransferDone) {
		if e.Upload {
			done = &e
		}
	}
	if done == nil || done.Bytes != int64(len(data)) || done.Path != "/a.bin" || done.Code != 226 ||
		done.RealPath != home+"/a.bin" || done.User != "alice" || done.Session == 0 {
		t.Errorf("upload TransferDone = %+v", done)
	}
	if n := len(log.of(ftp.TransferStart)); n != 1 {
		t.Errorf("%d TransferStart events, want 1", n)
	}
	del := log.of(ftp.Deleted)
	if len(del) != 1 || del[0].Path != "/a.bin" || del[0].Bytes != int64(len(data)) {
		t.Errorf("Deleted events = %+v", del)
	}
	open, closed := len(log.of(ftp.PassiveOpen)), len(log.of(ftp.PassiveClose))
	if open == 0 || open != closed {
		t.Errorf("passive listeners: %d opened, %d closed", open, closed)
	}
}

func TestSessionsSnapshotAndKick(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	c := login(t, srv.Addr, "alice", "secret")
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- c.Stor("big.bin", pr) }()
	chunk := make([]byte, 64<<10)
	go func() {
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var id uint64
	waitFor(t, "running upload in Sessions", func() bool {
		for _, s := range srv.Engine.Sessions() {
			if s.User == "alice" && s.Transfer != nil && s.Transfer.Upload && s.Transfer.Bytes > 0 {
				if s.Transfer.Path != "/big.bin" || s.Command != "STOR" || s.Login.IsZero() || s.TLS {
					t.Errorf("session = %+v, transfer %+v", s, *s.Transfer)
				}
				id = s.ID
				return true
			}
		}
		return false
	})
	if srv.Engine.Kick(id + 1000) {
		t.Error("Kick of an unknown session reported true")
	}
	if !srv.Engine.Kick(id) {
		t.Fatal("Kick reported false")
	}
	select {
	case err := <-stored:
		if err == nil {
			t.Error("kicked upload succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("kicked upload still running")
	}
	pw.CloseWithError(io.ErrClosedPipe)
	waitFor(t, "session gone", func() bool { return len(srv.Engine.Sessions()) == 0 })
}

func TestBansListLiftAndSharedFailures(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.BanAfter = 2 }})
	r := dialRaw(t, srv.Addr)
	r.must("USER alice", 331)
	r.must("PASS wrong", 530)
	// The second failure comes from another front door (the admin page).
	ip := netip.MustParseAddr("127.0.0.1")
	if !srv.Engine.LoginFailed(ip, "admin", "admin", errors.New("wrong password")) {
		t.Fatal("second failure did not ban")
	}
	bans := srv.Engine.Bans()
	if len(bans) != 1 || bans[0].Addr != ip || bans[0].Failures != 2 {
		t.Fatalf("Bans = %+v", bans)
	}
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(b), "421") {
		t.Fatalf("banned address got %q", b)
	}
	if !srv.Engine.LiftBan(ip) || srv.Engine.LiftBan(ip) {
		t.Fatal("LiftBan: want true, then false")
	}
	dialRaw(t, srv.Addr).login("alice", "secret")
}
