package accounts

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// testArgon2 keeps the suite fast; the hash format and code path are the
// production ones.
var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

var local = LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")}

func TestMemoryLoginChecksPasswordAndRefusesUnknownAlike(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "alice", Home: "/h", Perms: PresetFull}, Password: "s3cret"})
	s, err := m.Login(ctx, "alice", "s3cret", local)
	if err != nil {
		t.Fatalf("good login: %v", err)
	}
	defer s.Close()
	if got := s.User(); got.Name != "alice" || got.Home != "/h" || got.Perms != PresetFull {
		t.Fatalf("User() = %+v", got)
	}
	for _, c := range []struct{ name, pw string }{{"alice", "wrong"}, {"bob", "s3cret"}, {"alice", ""}, {"ftp", "x"}, {"anonymous", "x"}} {
		if _, err := m.Login(ctx, c.name, c.pw, local); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrBadCredentials", c.name, c.pw, err)
		}
	}
}

func TestMemoryUserWithoutPasswordCannotLogIn(t *testing.T) {
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "nopw"}})
	if _, err := m.Login(context.Background(), "nopw", "", local); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("empty password login = %v, want ErrBadCredentials", err)
	}
	m2 := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "any"}, AnyPassword: true})
	s, err := m2.Login(context.Background(), "any", "whatever", local)
	if err != nil {
		t.Fatalf("AnyPassword login: %v", err)
	}
	s.Close()
}

func TestMemoryAnonymousTakesAnyPasswordUnderBothNames(t *testing.T) {
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "anonymous", Home: "/pub", Perms: PresetReadOnly}})
	for _, name := range []string{"anonymous", "ftp", "FTP", "Anonymous"} {
		s, err := m.Login(context.Background(), name, "me@example.com", local)
		if err != nil {
			t.Fatalf("Login(%q): %v", name, err)
		}
		if u := s.User(); u.Name != "anonymous" || u.Perms != PresetReadOnly {
			t.Fatalf("anonymous session user = %+v", u)
		}
		s.Close()
	}
}

func TestLoginRulesApplyInOrder(t *testing.T) {
	ctx := context.Background()
	base := User{Name: "u", Home: "/h", Perms: PresetFull}
	m := NewMemoryWith(testArgon2, MemoryUser{User: base, Password: "pw"})
	remote := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		name string
		edit func(*User)
		info LoginInfo
		want error
	}{
		{"disabled beats everything", func(u *User) {
			u.Disabled, u.Expires, u.TLSRequired = true, time.Now().Add(-time.Hour), true
			u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}, LoginInfo{Remote: remote}, ErrDisabled},
		{"expired before address", func(u *User) {
			u.Expires, u.TLSRequired = time.Now().Add(-time.Minute), true
			u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}, LoginInfo{Remote: remote}, ErrExpired},
		{"address before TLS", func(u *User) {
			u.TLSRequired = true
			u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}, LoginInfo{Remote: remote}, ErrAddressRefused},
		{"no address at all is refused when restricted", func(u *User) {
			u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		}, LoginInfo{}, ErrAddressRefused},
		{"TLS", func(u *User) { u.TLSRequired = true }, LoginInfo{Remote: remote}, ErrTLSRequired},
		{"TLS given", func(u *User) { u.TLSRequired = true }, LoginInfo{Remote: remote, TLS: true}, nil},
		{"allowed v4-mapped address", func(u *User) {
			u.AllowFrom = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		}, LoginInfo{Remote: netip.MustParseAddr("::ffff:192.0.2.7")}, nil},
		{"future expiry", func(u *User) { u.Expires = time.Now().Add(time.Hour) }, LoginInfo{Remote: remote}, nil},
	}
	for _, c := range cases {
		u := base
		c.edit(&u)
		m.SetUser(u)
		s, err := m.Login(ctx, "u", "pw", c.info)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: Login = %v, want %v", c.name, err, c.want)
		}
		if s != nil {
			s.Close()
		}
		// A wrong password never reveals the account's state.
		if _, err := m.Login(ctx, "u", "bad", c.info); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: wrong password = %v, want ErrBadCredentials", c.name, err)
		}
	}
}

func TestMaxSessionsCountsAcrossSessionsAndCloseReleases(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u", MaxSessions: 2}, Password: "pw"})
	s1, err1 := m.Login(ctx, "u", "pw", local)
	s2, err2 := m.Login(ctx, "u", "pw", local)
	if err1 != nil || err2 != nil {
		t.Fatalf("first two logins: %v, %v", err1, err2)
	}
	if _, err := m.Login(ctx, "u", "pw", local); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third login = %v, want ErrTooManySessions", err)
	}
	s1.Close()
	s1.Close() // a double close must not free a second slot
	s3, err := m.Login(ctx, "u", "pw", local)
	if err != nil {
		t.Fatalf("login after close: %v", err)
	}
	if _, err := m.Login(ctx, "u", "pw", local); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("login after double close = %v, want ErrTooManySessions", err)
	}
	s2.Close()
	s3.Close()
}

func TestMemoryQuotaSharedAndNeverPassedByConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	const limit = 100_000
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u", QuotaBytes: limit}, AnyPassword: true})
	testQuotaConcurrent(t, func() Session {
		s, err := m.Login(ctx, "u", "", local)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, limit)
}

// testQuotaConcurrent runs 10 writers, each in its own session, reserving
// and committing until the quota is full, and checks the limit held at every
// moment and the usage equals what they say they wrote.
func testQuotaConcurrent(t *testing.T, login func() Session, limit int64) int64 {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var failures []string
	for i := range 10 {
		s := login()
		defer s.Close()
		wg.Go(func() {
			q := s.Quota()
			ctx := WithWriter(ctx)
			for n := 0; ; n++ {
				want := int64(777 + i*13)
				g, err := q.Reserve(ctx, want)
				if errors.Is(err, ErrQuotaExceeded) {
					return
				}
				if err != nil || g <= 0 || g > want {
					mu.Lock()
					failures = append(failures, "bad reservation")
					mu.Unlock()
					return
				}
				u, _ := q.Usage(ctx)
				if u.UsedBytes > limit {
					mu.Lock()
					failures = append(failures, "usage passed the limit")
					mu.Unlock()
				}
				written := g
				if n%3 == 0 {
					written = g / 2 // a short upload returns the rest
				}
				if err := q.Commit(ctx, g, written); err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				mu.Lock()
				total += written
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("concurrent quota: %v", failures[:min(5, len(failures))])
	}
	s := login()
	defer s.Close()
	u, err := s.Quota().Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedBytes != total || total > limit || u.QuotaBytes != limit {
		t.Fatalf("usage %d, quota %d; writers wrote %d of limit %d", u.UsedBytes, u.QuotaBytes, total, limit)
	}
	if total != limit {
		t.Fatalf("writers stopped at %d before filling the quota %d", total, limit)
	}
	return total
}

func TestQuotaReserveGrantsLessAtTheLimitAndAdjustChecksFiles(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u", QuotaBytes: 1000, QuotaFiles: 2}, AnyPassword: true})
	s, _ := m.Login(ctx, "u", "", local)
	defer s.Close()
	q := s.Quota()
	g, err := q.Reserve(ctx, 600)
	if g != 600 || err != nil {
		t.Fatalf("Reserve(600) = %d, %v", g, err)
	}
	g2, err := q.Reserve(ctx, 600)
	if g2 != 400 || err != nil {
		t.Fatalf("Reserve(600) at the limit = %d, %v; want 400", g2, err)
	}
	if u, _ := q.Usage(ctx); u.UsedBytes != 0 {
		t.Fatalf("Usage with 1000 bytes reserved, none committed = %d; reservations are not usage", u.UsedBytes)
	}
	if g0, err := q.Reserve(ctx, 0); g0 != 0 || err != nil {
		t.Fatalf("Reserve(0) when full = %d, %v; asking for nothing is never refused", g0, err)
	}
	q.Commit(ctx, 0, 0)
	q.Commit(ctx, 600, 100)
	q.Commit(ctx, 400, 0)
	if u, _ := q.Usage(ctx); u.UsedBytes != 100 {
		t.Fatalf("usage after commits = %d, want 100", u.UsedBytes)
	}
	g3, _ := q.Reserve(ctx, 900)
	q.Commit(ctx, g3, g3)
	if g, err := q.Reserve(ctx, 1); g != 0 || !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Reserve when committed usage is at the limit = %d, %v", g, err)
	}
	q.Adjust(ctx, -900, 0)
	if err := q.Adjust(ctx, 0, 2); err != nil {
		t.Fatalf("Adjust files to the limit: %v", err)
	}
	if err := q.Adjust(ctx, 50, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Adjust past the file limit = %v", err)
	}
	if u, _ := q.Usage(ctx); u.UsedBytes != 100 || u.UsedFiles != 2 {
		t.Fatalf("a refused Adjust changed usage: %+v", u)
	}
	if err := q.Adjust(ctx, -500, -5); err != nil {
		t.Fatal(err)
	}
	if u, _ := q.Usage(ctx); u.UsedBytes != 0 || u.UsedFiles != 0 {
		t.Fatalf("usage must not go negative: %+v", u)
	}
}

func TestMemorySetUserChangesLiveSessions(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u", Perms: PresetFull, QuotaBytes: 10}, AnyPassword: true})
	s, _ := m.Login(ctx, "u", "", local)
	defer s.Close()
	if _, err := s.Quota().Reserve(ctx, 11); err != nil {
		t.Fatal(err)
	}
	s.Quota().Commit(ctx, 10, 10)
	if _, err := s.Quota().Reserve(ctx, 1); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Reserve over quota = %v", err)
	}
	m.SetUser(User{Name: "u", Perms: PresetReadOnly, QuotaBytes: 20, UsedBytes: 999})
	if u := s.User(); u.Perms != PresetReadOnly || u.QuotaBytes != 20 || u.UsedBytes != 10 {
		t.Fatalf("after SetUser, User() = %+v", u)
	}
	if g, err := s.Quota().Reserve(ctx, 100); g != 10 || err != nil {
		t.Fatalf("Reserve after raising quota = %d, %v", g, err)
	}
}

func TestLoginCacheSkipsHashOnlyForRepeatedSuccess(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u"}, Password: "pw"})
	login := func(pw string) error {
		s, err := m.Login(ctx, "u", pw, local)
		if s != nil {
			s.Close()
		}
		return err
	}
	start := m.fullChecks()
	if err := login("pw"); err != nil {
		t.Fatal(err)
	}
	if got := m.fullChecks() - start; got != 1 {
		t.Fatalf("first login did %d full checks, want 1", got)
	}
	login("pw")
	if got := m.fullChecks() - start; got != 1 {
		t.Fatalf("second login did %d full checks in all, want the cached path", got)
	}
	login("bad")
	login("bad")
	if got := m.fullChecks() - start; got != 3 {
		t.Fatalf("failed logins must each pay full cost: %d checks, want 3", got)
	}
	if err := m.SetPassword("u", "new"); err != nil {
		t.Fatal(err)
	}
	if err := login("pw"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after change = %v", err)
	}
	if err := login("new"); err != nil {
		t.Fatal(err)
	}
}

func TestPermsForPicksDeepestFolder(t *testing.T) {
	u := User{Perms: PresetReadOnly, PathPerms: []PathPerm{
		{Dir: "/incoming", Perms: PresetUploadOnly},
		{Dir: "/incoming/open", Perms: PresetFull},
	}}
	for p, want := range map[string]Perm{
		"/":                  PresetReadOnly,
		"/readme.txt":        PresetReadOnly,
		"/incoming":          PresetUploadOnly,
		"/incoming/a.bin":    PresetUploadOnly,
		"/incomingx":         PresetReadOnly,
		"/incoming/open/x":   PresetFull,
		"/incoming/../x":     PresetReadOnly,
		"incoming/new-dir/f": PresetUploadOnly,
	} {
		if got := u.PermsFor(p); got != want {
			t.Errorf("PermsFor(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestParsePermRoundTrips(t *testing.T) {
	for _, s := range []string{"full", "read-only", "upload-only", "none", "list,upload,rename", "settime"} {
		p, err := ParsePerm(s)
		if err != nil {
			t.Fatalf("ParsePerm(%q): %v", s, err)
		}
		if p.String() != s {
			t.Errorf("ParsePerm(%q).String() = %q", s, p.String())
		}
	}
	if p, _ := ParsePerm("list, download"); p != PresetReadOnly {
		t.Errorf("list,download = %v, want read-only", p)
	}
	if _, err := ParsePerm("list,fly"); err == nil {
		t.Error("ParsePerm accepted an unknown name")
	}
}

// Regression (issue 3, false 552 far below the quota): a Reserve that found
// the room held by other sessions' reservations failed at once, although
// committed usage left plenty. It must wait for them and then grant only
// what is truly free.
func TestQuotaReserveWaitsForOthersReservationsInsteadOfRefusing(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryWith(testArgon2, MemoryUser{User: User{Name: "u", QuotaBytes: 1000}, AnyPassword: true})
	s1, _ := m.Login(ctx, "u", "", local)
	defer s1.Close()
	s2, _ := m.Login(ctx, "u", "", local)
	defer s2.Close()
	g1, err := s1.Quota().Reserve(ctx, 1000)
	if g1 != 1000 || err != nil {
		t.Fatalf("Reserve(1000) = %d, %v", g1, err)
	}
	type result struct {
		g   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		g, err := s2.Quota().Reserve(WithWriter(ctx), 800)
		done <- result{g, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Reserve while another session holds the room returned %d, %v; want it to wait", r.g, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	// The first upload ends after 300 bytes: 700 are truly free.
	s1.Quota().Commit(ctx, g1, 300)
	r := <-done
	if r.g != 700 || r.err != nil {
		t.Fatalf("Reserve after the holder committed 300 of 1000 = %d, %v; want 700", r.g, r.err)
	}
	if u, _ := s1.Quota().Usage(ctx); u.UsedBytes != 300 {
		t.Fatalf("Usage = %d, want the 300 committed bytes", u.UsedBytes)
	}

	// Waiting follows the context (ABOR, QUIT, shutdown).
	cctx, cancel := context.WithTimeout(WithWriter(ctx), 30*time.Millisecond)
	defer cancel()
	if g, err := s1.Quota().Reserve(cctx, 1); g != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reserve with the room held and a context ending = %d, %v", g, err)
	}
	s2.Quota().Commit(ctx, r.g, r.g)
	if g, err := s1.Quota().Reserve(WithWriter(ctx), 1); g != 0 || !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Reserve with committed usage at the limit = %d, %v; want ErrQuotaExceeded at once", g, err)
	}
}

// A writer that asks again while holding the only reservation would wait
// for itself; it is refused at once, as is a caller that is no marked
// writer and so cannot be told from the holders.
func TestQuotaReserveNeverWaitsForItsOwnReservation(t *testing.T) {
	ctx := context.Background()
	a := &account{}
	a.setLimits(100, 0)
	w := WithWriter(ctx)
	g, _ := a.Reserve(w, 60)
	g2, _ := a.Reserve(w, 60)
	if g+g2 != 100 {
		t.Fatalf("grants %d + %d, want the 100 of the limit", g, g2)
	}
	if g3, err := a.Reserve(w, 1); g3 != 0 || !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("Reserve while holding every reservation = %d, %v", g3, err)
	}
	if g3, err := a.Reserve(ctx, 1); g3 != 0 || !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("unmarked Reserve with the room held = %d, %v", g3, err)
	}
	// Commits through a derived context still count for the writer.
	a.Commit(context.WithoutCancel(w), g, 0)
	a.Commit(context.WithoutCancel(w), g2, 0)
	if len(a.held) != 0 || a.reserved != 0 {
		t.Fatalf("after commits: held %v, reserved %d", a.held, a.reserved)
	}
	if g, err := a.Reserve(ctx, 100); g != 100 || err != nil {
		t.Fatalf("Reserve after the commits = %d, %v", g, err)
	}
}

// Regression (issue 3): the rate limiters are the user's, shared by every
// session, and an admin's change of rate applies to them in place.
func TestRateLimitersAreSharedByTheUsersSessionsAndFollowChanges(t *testing.T) {
	ctx := context.Background()
	u := User{Name: "r", Home: t.TempDir(), Perms: PresetFull, RateUp: 1 << 20, RateDown: 2 << 20}
	m := NewMemoryWith(Argon2Params{Memory: 64, Time: 1, Threads: 1}, MemoryUser{User: u, Password: "pw"})
	a, err := m.Login(ctx, "r", "pw", LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := m.Login(ctx, "r", "pw", LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	upA, downA := a.Limits()
	upB, downB := b.Limits()
	if upA == nil || upA != upB || downA != downB || upA == downA {
		t.Fatalf("sessions got limiters up %p/%p down %p/%p, want one pair shared", upA, upB, downA, downB)
	}
	if upA.Limit() != 1<<20 || downA.Limit() != 2<<20 {
		t.Fatalf("limits %v/%v, want the user's rates", upA.Limit(), downA.Limit())
	}
	u.RateUp, u.RateDown = 4<<20, 0
	m.SetUser(u)
	up, down := b.Limits()
	if up != upA || up.Limit() != 4<<20 || up.Burst() != (4<<20)/8 {
		t.Fatalf("after a rate change: limiter %p (was %p) at %v burst %d, want the same one at 4 MiB/s", up, upA, up.Limit(), up.Burst())
	}
	if down != nil {
		t.Fatal("an unlimited direction has a limiter")
	}
	if downA.Limit() != rate.Inf {
		t.Fatalf("a download already running keeps %v after the limit was lifted", downA.Limit())
	}
	u.RateDown = 1 << 20
	m.SetUser(u)
	if _, down := a.Limits(); down != downA || down.Limit() != 1<<20 {
		t.Fatalf("a limit set again: limiter %p (was %p) at %v", down, downA, down.Limit())
	}
}
