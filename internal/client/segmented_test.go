package client

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// retrCount counts the file downloads a wharf server finished or cut.
type retrCount struct {
	mu sync.Mutex
	n  int
}

func (r *retrCount) add(ev ftp.Event) {
	if ev.Kind == ftp.TransferDone && !ev.Upload && !ev.Listing {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
	}
}

func (r *retrCount) get() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func dialer(tg *Target) func(context.Context) (*Conn, error) {
	return func(ctx context.Context) (*Conn, error) { return Connect(ctx, tg, Options{}, tg.User, tg.Password) }
}

func TestSegmentedGetIsIdenticalAndUsesNRanges(t *testing.T) {
	var retr retrCount
	_, tg, home := wharfServer(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Events = retr.add }})
	c := login(t, tg, Options{})
	want := randomFile(t, filepath.Join(home, "big.bin"), 9<<20+12345)
	local := filepath.Join(t.TempDir(), "big.bin")
	res, err := GetSegmented(context.Background(), c, "big.bin", local, 4, TransferOptions{Dial: dialer(tg)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(local)
	if sha(got) != sha(want) || res.Verified != "SHA-256" || res.Moved != int64(len(want)) {
		t.Fatalf("segmented get: identical %v, verified %q, moved %d of %d", sha(got) == sha(want), res.Verified, res.Moved, len(want))
	}
	for deadline := time.Now().Add(3 * time.Second); retr.get() < 4 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if retr.get() != 4 {
		t.Errorf("the server saw %d downloads, want 4 ranges", retr.get())
	}
	if _, err := os.Stat(StateFile(local)); err == nil {
		t.Error("the state file outlived the finished download")
	}
	// The file exists now: without -f or -c it is refused, with -c it is
	// found identical.
	if _, err := GetSegmented(context.Background(), c, "big.bin", local, 4, TransferOptions{Dial: dialer(tg)}); err != nil {
		t.Errorf("an identical file is skipped, got %v", err)
	}
	os.WriteFile(local, []byte("other"), 0o644)
	if _, err := GetSegmented(context.Background(), c, "big.bin", local, 4, TransferOptions{Dial: dialer(tg)}); !errors.Is(err, ErrExists) {
		t.Errorf("an existing other file: got %v, want ErrExists", err)
	}
}

func TestSegmentedGetAgainstPyftpdlib(t *testing.T) {
	home := t.TempDir()
	tg := pyftpd(t, home)
	c := login(t, tg, Options{})
	want := randomFile(t, filepath.Join(home, "big.bin"), 5<<20+7)
	local := filepath.Join(t.TempDir(), "big.bin")
	res, err := GetSegmented(context.Background(), c, "big.bin", local, 3, TransferOptions{Dial: dialer(tg)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(local)
	if sha(got) != sha(want) || res.Verified != "size" {
		t.Fatalf("identical %v, verified %q", sha(got) == sha(want), res.Verified)
	}
	if err := c.Noop(context.Background()); err != nil {
		t.Fatalf("the control connection did not survive the range's ABOR: %v", err)
	}
}

func readState(t *testing.T, local string) (st segState, done int64) {
	t.Helper()
	b, err := os.ReadFile(StateFile(local))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Segments {
		done += s.Done
	}
	return st, done
}

// An interrupted segmented download, resumed, moves exactly the bytes its
// state file says are missing, and only for the ranges not finished.
func TestSegmentedGetResumesOnlyMissingRanges(t *testing.T) {
	var retr retrCount
	srv, tg, _ := wharfServer(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Events = retr.add }})
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 4 << 20}, "pw")
	tg.User, tg.Password = "slow", "pw"
	// Uneven ranges finish at different times: the last is the longest.
	want := randomFile(t, filepath.Join(u.Home, "big.bin"), 6<<20+5000)
	c := login(t, tg, Options{})
	local := filepath.Join(t.TempDir(), "big.bin")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(local + ".part"); err == nil && fi.Size() > 5<<20 {
				if _, done := readStateQuiet(local); done > 2<<20 {
					cancel()
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := GetSegmented(ctx, c, "big.bin", local, 3, TransferOptions{Dial: dialer(tg)})
	cancel()
	var pe *PartialError
	if !errors.As(err, &pe) || pe.Part != local+".part" {
		t.Fatalf("interrupted: %v, want a PartialError naming the .part", err)
	}
	st, done := readState(t, local)
	missing := 0
	for _, s := range st.Segments {
		if s.Done < s.End-s.Start {
			missing++
		}
	}
	t.Logf("stopped with %d of %d bytes, %d ranges unfinished: %+v", done, len(want), missing, st.Segments)
	if done == 0 || done == int64(len(want)) {
		t.Fatalf("the stop came at %d bytes: nothing to prove", done)
	}
	c = login(t, tg, Options{})
	before := retr.get()
	res, err := GetSegmented(context.Background(), c, "big.bin", local, 3, TransferOptions{Continue: true, Dial: dialer(tg)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != int64(len(want))-done {
		t.Errorf("the resume moved %d bytes, want only the missing %d", res.Moved, int64(len(want))-done)
	}
	got, _ := os.ReadFile(local)
	if sha(got) != sha(want) || res.Verified != "SHA-256" {
		t.Fatalf("after the resume: identical %v, verified %q", sha(got) == sha(want), res.Verified)
	}
	for deadline := time.Now().Add(3 * time.Second); retr.get()-before < missing && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	time.Sleep(50 * time.Millisecond)
	if n := retr.get() - before; n != missing {
		t.Errorf("the resume made %d downloads, want one per unfinished range (%d)", n, missing)
	}
}

func readStateQuiet(local string) (segState, int64) {
	var st segState
	b, _ := os.ReadFile(StateFile(local))
	if json.Unmarshal(b, &st) != nil {
		return st, 0
	}
	var done int64
	for _, s := range st.Segments {
		done += s.Done
	}
	return st, done
}

// A state file that does not tile the file, or names another size, is
// not believed: the download starts over and still arrives whole.
func TestSegmentedGetIgnoresABadStateFile(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	want := randomFile(t, filepath.Join(home, "big.bin"), 3<<20)
	local := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(local+".part", make([]byte, 3<<20), 0o644)
	for _, bad := range []string{
		`{"size":3145728,"segments":[{"start":0,"end":3145728,"done":3145728}]}`, // claims all of a file of zeros... with another time
		`{"size":3145728,"segments":[{"start":0,"end":100,"done":100},{"start":200,"end":3145728,"done":0}]}`,
		`{"size":1,"segments":[{"start":0,"end":1,"done":1}]}`,
		`not json`,
	} {
		os.WriteFile(StateFile(local), []byte(bad), 0o644)
		if _, ok := loadState(StateFile(local), 3<<20, time.Unix(1, 0)); ok {
			t.Errorf("state %s was believed", bad)
		}
	}
	// The zero-filled .part has the full size: -c takes it as complete, the
	// checksum refuses it and removes it, and the next run fetches it all.
	_, err := GetSegmented(context.Background(), c, "big.bin", local, 3, TransferOptions{Continue: true, Dial: dialer(tg)})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("a wrong full-size .part: %v, want a checksum mismatch", err)
	}
	if _, err := GetSegmented(context.Background(), c, "big.bin", local, 3, TransferOptions{Continue: true, Dial: dialer(tg)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(local); sha(got) != sha(want) {
		t.Fatal("differs")
	}
}

// A server that allows fewer sessions than ranges: the connections it
// refuses leave their ranges to the others, and the file still arrives.
func TestSegmentedGetWithinASessionLimit(t *testing.T) {
	srv, tg, _ := wharfServer(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "two", Perms: accounts.PresetFull, MaxSessions: 2}, "pw")
	tg.User, tg.Password = "two", "pw"
	want := randomFile(t, filepath.Join(u.Home, "big.bin"), 6<<20)
	c := login(t, tg, Options{})
	local := filepath.Join(t.TempDir(), "big.bin")
	var mu sync.Mutex
	refused := 0
	dial := func(ctx context.Context) (*Conn, error) {
		nc, err := dialer(tg)(ctx)
		if err != nil {
			mu.Lock()
			refused++
			mu.Unlock()
		}
		return nc, err
	}
	res, err := GetSegmented(context.Background(), c, "big.bin", local, 6, TransferOptions{Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(local)
	if sha(got) != sha(want) || res.Verified != "SHA-256" {
		t.Fatalf("identical %v, verified %q", sha(got) == sha(want), res.Verified)
	}
	if refused == 0 {
		t.Error("the session limit refused no connection: the test proves nothing")
	}
}
