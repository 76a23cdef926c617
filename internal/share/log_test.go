package share

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// syncBuffer is a bytes.Buffer both servers' goroutines may log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEngineWarningsStayOffTheShareTerminal pins QA round 2 (issue #5): a
// raw slog WARN line of the FTP engine (a failed login) was mixed into the
// share's terminal output. With TerminalLogger only errors get through,
// as one line shaped like the share's event lines.
func TestEngineWarningsStayOffTheShareTerminal(t *testing.T) {
	var stderr syncBuffer
	dir := t.TempDir()
	s := startShare(t, Options{Dir: dir, User: "alice", Password: "right", Logger: TerminalLogger(&stderr)})
	c, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c.Quit()
	if kinds := s.eventKinds(); kinds["ftp login failed"] != 1 {
		t.Fatalf("events %v, want the failed login as an event", kinds)
	}
	s.stop()
	if out := stderr.String(); out != "" {
		t.Errorf("engine diagnostics reached the terminal:\n%s", out)
	}

	// An error still shows, on one line, beside the event lines.
	l := TerminalLogger(&stderr).With("proto", "http", "session", 7)
	l.Warn("not shown")
	l.Error("remove partial upload", "path", "/a b\n.part", "err", errors.New("disk gone"))
	line := stderr.String()
	re := regexp.MustCompile(`^\d\d:\d\d:\d\d http error: remove partial upload \(session=7 path="/a b .part" err="disk gone"\)\n$`)
	if !re.MatchString(line) || strings.Count(line, "\n") != 1 {
		t.Errorf("error line = %q", line)
	}
}
