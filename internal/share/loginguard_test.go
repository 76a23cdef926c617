package share

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// Issue 9: a burst of 100 parallel wrong Basic-auth passwords from one
// address was verified 100 times (401 each) before any 429. The checks of
// an address now run one at a time behind a short queue, as FTP's do.
func TestHTTPBurstOfWrongPasswordsGets429sNotVerifications(t *testing.T) {
	s := startShare(t, Options{Dir: t.TempDir(), User: "alice", Password: "right", loginFailDelay: 20 * time.Millisecond})
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 100}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", s.httpURL()+"/", nil)
			req.SetBasicAuth("alice", "wrong")
			<-start
			resp, err := client.Do(req)
			if err != nil {
				// Past the connections one address may hold
				// (limits.go): refused before any check, like a 429.
				mu.Lock()
				codes[0]++
				mu.Unlock()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	verified := s.eventKinds()["http login failed"]
	t.Logf("statuses %v (0: connection refused), %d passwords verified", codes, verified)
	if verified > maxChecksPerAddr {
		t.Errorf("%d of 100 parallel wrong passwords were verified; want at most %d (one address's queue)", verified, maxChecksPerAddr)
	}
	if n := codes[http.StatusTooManyRequests] + codes[0]; n < 100-maxChecksPerAddr {
		t.Errorf("%d requests were answered 429 or refused at connect; want at least %d", n, 100-maxChecksPerAddr)
	}
	if codes[http.StatusOK] > 0 {
		t.Errorf("a wrong password got 200")
	}
}

// Issue 9 (the FTP oracle's HTTP twin): an account at its session limit
// answered the right password 503 and a wrong one 401. Every refusal of a
// password must read like a wrong one.
func TestHTTPSessionLimitIsNoPasswordOracle(t *testing.T) {
	dir := t.TempDir()
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	auth := accounts.NewMemoryWith(cheapArgon, accounts.MemoryUser{
		User:     accounts.User{Name: "solo", Home: dir, Perms: accounts.PresetFull, MaxSessions: 1},
		Password: "pw",
	})
	srv := httptest.NewServer(Handler(fsys, HandlerOptions{Auth: auth, LoginFailDelay: time.Millisecond}))
	defer srv.Close()
	held, err := auth.Login(context.Background(), "solo", "pw", accounts.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	status := func(pass string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.SetBasicAuth("solo", pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rc, rb := status("pw")
	wc, wb := status("wrong")
	if rc != wc || rb != wb {
		t.Fatalf("right password at the session limit: %d %q; wrong one: %d %q: must be the same", rc, rb, wc, wb)
	}
}

// The queue is per address and bounded: a request that finds its
// address's queue full takes no place in it, and every place is given back.
func TestGuardQueueIsBoundedAndReleasesEveryPlace(t *testing.T) {
	g := newGuard(10, time.Minute)
	ip := netip.MustParseAddr("192.0.2.1")
	first, err := g.enter(context.Background(), ip)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range maxChecksPerAddr - 1 {
		wg.Go(func() {
			leave, err := g.enter(context.Background(), ip)
			if err != nil {
				t.Errorf("a place in the queue: %v", err)
				return
			}
			leave()
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		g.mu.Lock()
		n := g.turns[ip].n
		g.mu.Unlock()
		if n == maxChecksPerAddr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d in the queue, want %d", n, maxChecksPerAddr)
		}
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		if _, err := g.enter(context.Background(), ip); !errors.Is(err, errBusy) {
			t.Fatalf("a request past a full queue: %v, want errBusy", err)
		}
	}
	if leave, err := g.enter(context.Background(), netip.MustParseAddr("192.0.2.2")); err != nil {
		t.Fatalf("another address: %v", err)
	} else {
		leave()
	}
	first()
	wg.Wait()
	g.mu.Lock()
	n, in := len(g.turns), g.inFlight
	g.mu.Unlock()
	if n != 0 || in != 0 {
		t.Fatalf("after every request left: %d turns, %d in flight", n, in)
	}
}

// overlapAuth holds every wrong-password check open until another check
// arrives or hold passes, and records the most checks that ran at once.
type overlapAuth struct {
	accounts.Authenticator
	hold time.Duration

	mu      sync.Mutex
	in, max int
	checks  int
	arrived chan struct{} // closed and replaced at each check's start
}

func (a *overlapAuth) Login(ctx context.Context, name, password string, info accounts.LoginInfo) (accounts.Session, error) {
	if password != "wrong" {
		return a.Authenticator.Login(ctx, name, password, info)
	}
	a.mu.Lock()
	a.in++
	a.checks++
	a.max = max(a.max, a.in)
	close(a.arrived)
	a.arrived = make(chan struct{})
	wait := a.arrived
	a.mu.Unlock()
	// Room for a check of the other protocol to start beside this one,
	// if it can: another arrival ends the wait at once.
	t := time.NewTimer(a.hold)
	select {
	case <-wait:
	case <-t.C:
	}
	t.Stop()
	a.mu.Lock()
	a.in--
	a.mu.Unlock()
	return a.Authenticator.Login(ctx, name, password, info)
}

// Issue 9 (the share's two doors): the FTP side checked an address's
// passwords in the engine's queue and the HTTP side in its own, so an
// address guessing over both had two checks running at once and twice
// the guess rate of either. Both now take the engine's one turn per
// address (ftp.Server.GuardLogin), its delay and its failure count.
func TestShareChecksAnAddressesPasswordsOneAtATimeOverBothProtocols(t *testing.T) {
	watch := &overlapAuth{hold: 200 * time.Millisecond, arrived: make(chan struct{})}
	s := startShare(t, Options{Dir: t.TempDir(), User: "alice", Password: "right", loginFailDelay: time.Millisecond,
		wrapAuth: func(a accounts.Authenticator) accounts.Authenticator {
			watch.Authenticator = a
			return watch
		}})
	// 4 guesses per protocol, below the ban (defaultBanAfter).
	failLogins(t, s, "alice", 8, 4)
	watch.mu.Lock()
	most, checks := watch.max, watch.checks
	watch.mu.Unlock()
	t.Logf("%d wrong passwords checked, at most %d at once", checks, most)
	if checks != 8 {
		t.Errorf("%d wrong passwords checked, want 8", checks)
	}
	if most != 1 {
		t.Errorf("%d password checks of one address ran at once over FTP and HTTP; want 1 (one queue)", most)
	}
	if code := httpCode(t, s, "alice", "right"); code != http.StatusOK {
		t.Errorf("right password after the guesses = %d, want 200", code)
	}
}
