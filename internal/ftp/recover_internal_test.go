package ftp

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// A first login whose session ends mid-walk leaves the recovery to the next
// login. The walk's end closed the home's channel after deleting it (close
// of nil: a panic with the recovery's lock held), so every later login of
// every home waited on that lock forever, holding its address's turn.
func TestRecoveryCutByTheSessionsEndLetsTheNextLoginRecover(t *testing.T) {
	home := t.TempDir()
	fsys, err := vfs.OpenLocal(home)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	cut := listCut{fsys}
	r := newRecovery(false)
	u := accounts.User{Name: "q", Home: home}
	log := slog.New(slog.DiscardHandler)
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the session ended before its walk
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the cut walk panicked: %v", p)
			}
		}()
		r.once(gone, u, cut, nil, log)
	}()
	done := make(chan struct{})
	go func() {
		r.once(context.Background(), u, cut, nil, log)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang, not a speed claim
		t.Fatal("the next login's recovery never ended")
	}
	r.mu.Lock()
	_, settled := r.done[home]
	r.mu.Unlock()
	if !settled {
		t.Error("the next login's walk did not settle the home")
	}
}

// listCut is a Storage whose listings end with their context, as a remote
// store's do.
type listCut struct{ vfs.Storage }

func (l listCut) List(ctx context.Context, name string) (vfs.Lister, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.Storage.List(ctx, name)
}
