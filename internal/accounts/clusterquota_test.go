package accounts

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/pgtest"
)

// openNode opens a DB on url as one cluster node, its rows leased for
// lease.
func openNode(t *testing.T, url string, lease time.Duration) *DB {
	t.Helper()
	ctx := context.Background()
	s, err := openPostgresLease(ctx, url, lease)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, t.TempDir(), Options{Store: s, Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Ten writers on two nodes fill one user's quota at once, in reservations
// of random sizes: the database row never shows usage or usage plus
// reservations past the quota, and at the end usage is exactly the quota
// and exactly what the writers say they wrote. The old in-process account
// let each node hand out the whole quota.
func TestClusterQuotaExactAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	a, b := openNode(t, url, sessionLease), openNode(t, url, sessionLease)
	const quota = 10 << 20
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull, QuotaBytes: quota}, "pw"); err != nil {
		t.Fatal(err)
	}
	info := LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")}
	stop := make(chan struct{})
	var over atomic.Value
	var polls atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := a.pg.figures(ctx, "u")
			if err == nil {
				polls.Add(1)
				if f.usedBytes > quota || f.usedBytes+f.reserved > quota {
					over.Store(f)
				}
			}
		}
	}()
	var written atomic.Int64
	var wg sync.WaitGroup
	for i := range 10 {
		node := a
		if i%2 == 1 {
			node = b
		}
		s, err := node.Login(ctx, "u", "pw", info)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := s.Quota()
			// A writer that waits for room nobody gives back fails the
			// test rather than hanging it.
			wctx, cancel := context.WithTimeout(WithWriter(ctx), time.Minute)
			defer cancel()
			for n := int64(1); ; n = n*3%(700<<10) + 1 {
				g, err := q.Reserve(wctx, n+int64(i))
				if errors.Is(err, ErrQuotaExceeded) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				w := g - int64(i)%2 // sometimes a byte short, as a short read
				if w < 0 {
					w = 0
				}
				if err := q.Commit(wctx, g, w); err != nil {
					t.Error(err)
					return
				}
				written.Add(w)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if f := over.Load(); f != nil {
		t.Fatalf("quota passed at some moment: %+v", f)
	}
	f, err := a.pg.figures(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if f.usedBytes != written.Load() || f.usedBytes != quota || f.reserved != 0 {
		t.Fatalf("usage %d, reserved %d; written %d, quota %d", f.usedBytes, f.reserved, written.Load(), quota)
	}
	if polls.Load() < 10 {
		t.Fatalf("only %d polls of the row", polls.Load())
	}
	// The file quota across nodes: Adjust is the same single decision.
	u, _ := a.GetUser(ctx, "u")
	u.QuotaFiles = 5
	if err := a.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int64
	var fw sync.WaitGroup
	for i := range 10 {
		node := a
		if i%2 == 1 {
			node = b
		}
		s, err := node.Login(ctx, "u", "pw", info)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fw.Add(1)
		go func() {
			defer fw.Done()
			if err := s.Quota().Adjust(ctx, 0, 1); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, ErrQuotaExceeded) {
				t.Error(err)
			}
		}()
	}
	fw.Wait()
	if f, _ := a.pg.figures(ctx, "u"); ok.Load() != 5 || f.usedFiles != 5 {
		t.Fatalf("%d files granted, %d counted; quota 5", ok.Load(), f.usedFiles)
	}
}

// A node that dies holding room (here: its store closed without settling,
// so nobody renews its rows) gives the room back once its lease ends: the
// other node's sweep frees it, and the other node's writer that waited
// for it gets it.
func TestClusterReservationOfDeadNodeExpires(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	const lease = 600 * time.Millisecond
	a := openNode(t, url, lease)
	dead, err := openPostgresLease(ctx, url, lease)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull, QuotaBytes: 1000}, "pw"); err != nil {
		t.Fatal(err)
	}
	g, _, err := dead.reserve(ctx, "u", 42, 1, 1000, 0, "")
	if err != nil || g != 1000 {
		t.Fatalf("reserve = %d, %v", g, err)
	}
	dead.renew(42)
	dead.Close() // dies: no settle, no more renewals
	s, err := a.Login(ctx, "u", "pw", LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// An unmarked caller cannot wait: refused while the room is held.
	if _, err := s.Quota().Reserve(ctx, 10); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("reserve while a dead node holds the room: %v", err)
	}
	// A marked writer waits, and gets the room once it is swept.
	start := time.Now()
	wctx, cancel := context.WithTimeout(WithWriter(ctx), 10*time.Second)
	defer cancel()
	if g, err := s.Quota().Reserve(wctx, 10); err != nil || g != 10 {
		t.Fatalf("reserve after the lease = %d, %v", g, err)
	}
	if d := time.Since(start); d > lease+lease/3+time.Second {
		t.Fatalf("room came back after %v; lease %v", d, lease)
	}
}

// A reserve and a settle sent twice (their first answers lost in an
// outage) count once.
func TestClusterSettleIsIdempotent(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	a := openNode(t, url, sessionLease)
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull, QuotaBytes: 1000}, "pw"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if g, _, err := a.pg.reserve(ctx, "u", 7, 1, 500, 0, ""); err != nil || g != 500 {
			t.Fatalf("reserve = %d, %v", g, err)
		}
	}
	for range 2 {
		if _, err := a.pg.settle(ctx, "u", 7, 2, 0, 300); err != nil {
			t.Fatal(err)
		}
	}
	f, err := a.pg.figures(ctx, "u")
	if err != nil || f.usedBytes != 300 || f.reserved != 0 {
		t.Fatalf("after a repeated settle: %+v, %v", f, err)
	}
}

// A user's rate is shared by the sessions on every node: with one session
// on each of two nodes each node's limiter runs at half the rate, and
// back at the whole rate once the other node's session closes. Before,
// each node gave the user the whole rate.
func TestClusterRateSharedAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	a, b := openNode(t, url, sessionLease), openNode(t, url, sessionLease)
	const rate = 1 << 20
	if err := a.AddUser(ctx, User{Name: "u", Home: t.TempDir(), Perms: PresetFull, RateUp: rate, RateDown: 2 * rate}, "pw"); err != nil {
		t.Fatal(err)
	}
	info := LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")}
	sa, err := a.Login(ctx, "u", "pw", info)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := b.Login(ctx, "u", "pw", info)
	if err != nil {
		t.Fatal(err)
	}
	waitLimit := func(s Session, up, down float64, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			u, d := s.Limits()
			if float64(u.Limit()) == up && float64(d.Limit()) == down {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: limits %v/%v, want %v/%v", what, u.Limit(), d.Limit(), up, down)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLimit(sa, rate/2, rate, "node a with a session on each node")
	waitLimit(sb, rate/2, rate, "node b with a session on each node")
	sb.Close()
	waitLimit(sa, rate, 2*rate, "node a alone")
}
