package share

import (
	"errors"
	"net/http"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// failLogins makes n failed logins at once, http of them over HTTP and the
// rest over FTP (one session each). Both protocols check one password of
// an address at a time, so they queue; HTTP requests are kept within its
// queue (a request past it is refused 429 without counting).
func failLogins(t *testing.T, s *running, user string, n, http_ int) {
	t.Helper()
	var wg sync.WaitGroup
	queue := make(chan struct{}, maxChecksPerAddr)
	for i := range n {
		wg.Go(func() {
			if i < http_ {
				queue <- struct{}{}
				defer func() { <-queue }()
				req, _ := http.NewRequest("GET", s.httpURL()+"/", nil)
				req.SetBasicAuth(user, "wrong")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("http login: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
					t.Errorf("wrong password over HTTP = %d", resp.StatusCode)
				}
				return
			}
			c, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Errorf("ftp dial: %v", err)
				return
			}
			defer c.Quit()
			if err := c.Login(user, "wrong"); err == nil {
				t.Errorf("wrong password over FTP accepted")
			}
		})
	}
	wg.Wait()
}

// httpCode is the status of a GET with the right credentials.
func httpCode(t *testing.T, s *running, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.httpURL()+"/", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ftpRefusedAtConnect reports whether a new FTP connection is turned away
// with 421 before it can log in.
func ftpRefusedAtConnect(t *testing.T, s *running) bool {
	t.Helper()
	c, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code == 421 {
			return true
		}
		t.Fatalf("ftp dial: %v", err)
	}
	c.Quit()
	return false
}

// TestBanOnOneProtocolHoldsOnTheOther pins QA round 2 (issue #5): an HTTP
// ban (429 after 10 failed logins) did not ban FTP from the same address,
// and an FTP ban did not ban HTTP. The share now keeps one ban list for
// both, fed by failures of either.
func TestBanOnOneProtocolHoldsOnTheOther(t *testing.T) {
	for _, c := range []struct {
		name string
		http int // of defaultBanAfter failures, how many over HTTP
	}{
		{"http failures ban ftp", defaultBanAfter},
		{"ftp failures ban http", 0},
		{"failures of both add up", defaultBanAfter / 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each waits out the login delays on its own share
			dir := t.TempDir()
			s := startShare(t, Options{Dir: dir, User: "alice", Password: "right", loginFailDelay: 5 * time.Millisecond})
			// A session opened before the ban, not yet logged in.
			early, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer early.Quit()
			if code := httpCode(t, s, "alice", "right"); code != http.StatusOK {
				t.Fatalf("right password before any failure = %d", code)
			}

			failLogins(t, s, "alice", defaultBanAfter, c.http)

			if code := httpCode(t, s, "alice", "right"); code != http.StatusTooManyRequests {
				t.Errorf("HTTP with the right password after the ban = %d, want 429", code)
			}
			if !ftpRefusedAtConnect(t, s) {
				t.Errorf("a new FTP connection after the ban was not refused with 421")
			}
			// Refused (530), or already closed by the ban (421): never in.
			if err := early.Login("alice", "right"); err == nil {
				t.Errorf("FTP login with the right password after the ban succeeded")
			}
		})
	}
}
