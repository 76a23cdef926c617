package accounts

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/pgtest"
)

// An upload's row is tracked while its node renews it and for its lease
// after; once the node is dead, SettleVanished gives back what the upload
// had counted (bytes and the file it took), once, in one transaction.
// The storage's sweep relies on it where a dead upload leaves no file to
// settle (S3): without it usage kept a dead node's bytes for good.
func TestClusterSettleVanishedUploadOfDeadNode(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDB(t)
	const lease = 600 * time.Millisecond
	a := openNode(t, url, lease)
	home := t.TempDir()
	if err := a.AddUser(ctx, User{Name: "u", Home: home, Perms: PresetFull, QuotaBytes: 10_000}, "pw"); err != nil {
		t.Fatal(err)
	}
	s, err := a.Login(ctx, "u", "pw", LoginInfo{Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lu, ok := s.Quota().(LiveUploads)
	if !ok {
		t.Fatal("a cluster's Quota is no LiveUploads")
	}
	dead, err := openPostgresLease(ctx, url, lease)
	if err != nil {
		t.Fatal(err)
	}
	const label = "d/.wharf-upload-0123456789abcdef-n-f.bin"
	// The dead node's upload of a new file: one file and 600 bytes counted.
	if err := a.pg.SetUsage(ctx, "u", 0, 1); err != nil {
		t.Fatal(err)
	}
	if g, _, err := dead.reserve(ctx, "u", 42, 1, 1000, 0, label); err != nil || g != 1000 {
		t.Fatalf("reserve = %d, %v", g, err)
	}
	if _, err := dead.settle(ctx, "u", 42, 2, 400, 600); err != nil {
		t.Fatal(err)
	}
	dead.renew(42)
	up, err := a.TrackedUploads(ctx)
	if err != nil || len(up) != 1 || up[0] != (TrackedUpload{User: "u", Home: home, Label: label, Live: true}) {
		t.Fatalf("tracked while its node lives: %+v, %v", up, err)
	}
	if live, err := lu.UploadsLive(ctx); err != nil || !live {
		t.Fatalf("UploadsLive while the node lives = %v, %v", live, err)
	}
	if done, err := a.SettleVanished(ctx, "u", label, 1); err != nil || done {
		t.Fatalf("SettleVanished of a live upload = %v, %v", done, err)
	}
	dead.Close() // dies: no more renewals
	deadline := time.Now().Add(10 * time.Second)
	for {
		up, err = a.TrackedUploads(ctx)
		if err == nil && len(up) == 1 && !up[0].Live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracked after the lease: %+v, %v", up, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if live, err := lu.UploadsLive(ctx); err != nil || live {
		t.Fatalf("UploadsLive once the node is dead = %v, %v", live, err)
	}
	for i, want := range []bool{true, false} {
		if done, err := a.SettleVanished(ctx, "u", label, 1); err != nil || done != want {
			t.Fatalf("SettleVanished %d = %v, %v; want %v", i, done, err, want)
		}
	}
	f, err := a.pg.figures(ctx, "u")
	if err != nil || f.usedBytes != 0 || f.usedFiles != 0 || f.reserved != 0 {
		t.Fatalf("after settling the vanished upload: %+v, %v", f, err)
	}
	if up, err := a.TrackedUploads(ctx); err != nil || len(up) != 0 {
		t.Fatalf("tracked after settling: %+v, %v", up, err)
	}
}
