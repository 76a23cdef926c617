package client

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// A batch whose sessions the server drops in the middle of a file (as an
// admin's kick or a NAT timeout does) reopens them and finishes: every
// file identical, the interrupted one resumed, not started over.
func TestRecursiveGetReconnectsAfterTheServerDropsTheSession(t *testing.T) {
	srv, tg, _ := wharfServer(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 4 << 20}, "pw")
	tg.User, tg.Password = "slow", "pw"
	want := map[string]string{}
	for _, n := range []string{"a.bin", "b.bin", "sub/c.bin"} {
		os.MkdirAll(filepath.Join(u.Home, "tree", "sub"), 0o755)
		want["tree/"+n] = sha(randomFile(t, filepath.Join(u.Home, "tree", filepath.FromSlash(n)), 2<<20))
	}
	c := login(t, tg, Options{})
	local := t.TempDir()
	var mu sync.Mutex
	var notes []string
	kicked := make(chan int64, 1)
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			fi, err := os.Stat(filepath.Join(local, "tree", "b.bin.part"))
			if err == nil && fi.Size() > 512<<10 {
				for _, s := range srv.Engine.Sessions() {
					srv.Engine.Kick(s.ID)
				}
				kicked <- fi.Size()
				return
			}
		}
		close(kicked)
	}()
	res, err := Get(context.Background(), c, "tree", local, TransferOptions{Recursive: true, Reconnect: true, OnReconnect: func(m string) {
		mu.Lock()
		notes = append(notes, m)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("get -r across a dropped session: %v (notes %q)", err, notes)
	}
	at, ok := <-kicked
	if !ok {
		t.Fatal("the session was never dropped mid-file")
	}
	got := tree(t, local)
	for n, s := range want {
		if got[n] != s {
			t.Errorf("%s differs or is missing", n)
		}
	}
	var moved int64
	for _, r := range res {
		moved += r.Moved
	}
	// b.bin's first attempt counts its bytes up to the cut; its resume
	// counts the rest, so all together the three files once, not more.
	if moved > 6<<20+1<<20 {
		t.Errorf("%d bytes moved for 6 MiB of files: the cut file started over (cut at %d)", moved, at)
	}
	if len(notes) < 2 || !strings.HasPrefix(notes[0], "connection lost") || !strings.HasPrefix(notes[len(notes)-1], "reconnected") {
		t.Errorf("notes: %q", notes)
	}
	if err := c.Noop(context.Background()); err != nil {
		t.Errorf("the caller's connection is not the live one after the batch: %v", err)
	}
}

// Without Reconnect the same drop fails the batch: the test above proves
// the reconnection, not a server that never dropped anything.
func TestRecursiveGetWithoutReconnectFailsOnADrop(t *testing.T) {
	srv, tg, home := wharfServer(t, ftptest.Options{})
	os.MkdirAll(filepath.Join(home, "tree"), 0o755)
	randomFile(t, filepath.Join(home, "tree", "a.bin"), 100)
	c := login(t, tg, Options{})
	for _, s := range srv.Engine.Sessions() {
		srv.Engine.Kick(s.ID)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := Get(context.Background(), c, "tree", t.TempDir(), TransferOptions{Recursive: true}); err == nil {
		t.Fatal("a dropped session went unnoticed")
	}
	c = login(t, tg, Options{})
	c.Cwd(context.Background(), "tree")
	for _, s := range srv.Engine.Sessions() {
		srv.Engine.Kick(s.ID)
	}
	time.Sleep(50 * time.Millisecond)
	// Reconnect comes back to the folder CWD had reached.
	local := t.TempDir()
	if _, err := Get(context.Background(), c, "a.bin", local, TransferOptions{Reconnect: true}); err != nil {
		t.Fatalf("reconnected get in the folder: %v", err)
	}
}
