package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// restartServer stops srv as a restart does (Shutdown lets the running
// transfer finish) and, once it is down, starts a new engine on the same
// address with the same accounts.
func restartServer(t *testing.T, srv *ftptest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := srv.Engine.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", srv.Addr, err)
	}
	eng, err := ftp.NewServer(ftp.Config{Auth: srv.Auth, LoginFailDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); eng.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eng.Shutdown(ctx)
		<-done
	})
}

// Regression (issue 10): a server restarted while wharf get downloaded let
// the transfer finish (226), then answered the checksum with 421; the
// client exited 3 and left the complete file as NAME.part. The server now
// lets a just-finished transfer be verified during its shutdown grace, and
// the client, refused anyway (here: a server without that grace),
// reconnects to the restarted server and verifies there. (On loopback the
// client's checksum usually beats the server's idle close, so the server
// half's regression test is internal/ftp's
// TestShutdownLetsAFinishedTransferBeVerified, with a client that waits.)
func TestTransferAcrossAServerRestartIsVerified(t *testing.T) {
	bin := binary(t)
	const size = 3 << 20
	for _, tc := range []struct {
		name, dir string
		grace     time.Duration // the first server's CloseGrace
		restart   bool          // a new server comes up after the first stops
	}{
		{"server grace", "get", 0, false}, // verified before the server goes
		{"server grace", "put", 0, false},
		{"client reconnects", "get", -1, true}, // 421 after the 226: verified on the new server
		{"client reconnects", "put", -1, true},
	} {
		dir := tc.dir
		t.Run(tc.name+"/"+dir, func(t *testing.T) {
			srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.CloseGrace = tc.grace }})
			u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 1 << 20, RateUp: 1 << 20}, "pw")
			e := newClientEnv(t)
			base := "ftp://slow:pw@" + srv.Addr + "/"
			work := t.TempDir()
			var cmd *exec.Cmd
			var want, grows, final string
			if dir == "get" {
				want = sum(writeRandom(t, filepath.Join(u.Home, "big.bin"), size))
				final = filepath.Join(work, "big.bin")
				grows = final + ".part"
				cmd = exec.Command(bin, "get", "-q", base+"big.bin", final)
			} else {
				src := filepath.Join(work, "big.bin")
				want = sum(writeRandom(t, src, size))
				final = filepath.Join(u.Home, "big.bin")
				cmd = exec.Command(bin, "put", "-q", src, base)
			}
			var stderr strings.Builder
			cmd.Env, cmd.Stderr = e.environ(), &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if dir == "get" {
				waitForSize(t, grows, 3<<19)
			} else {
				// The server receives into a temporary dot name.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if tmp, _ := filepath.Glob(filepath.Join(u.Home, ".*")); len(tmp) == 1 {
						waitForSize(t, tmp[0], 3<<19)
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the upload never started")
					}
				}
			}
			if tc.restart {
				restartServer(t, srv)
			} else {
				go srv.Engine.Shutdown(context.WithoutCancel(t.Context()))
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("%s never ended; stderr:\n%s", dir, stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("%s across a restart exited %d, want 0; stderr:\n%s", dir, code, stderr.String())
			}
			if got := fileSum(t, final); got != want {
				t.Fatalf("%s: content differs after the restart", final)
			}
			if grows != "" {
				if _, err := os.Stat(grows); err == nil {
					t.Fatalf("%s left behind though verified", grows)
				}
			}
		})
	}
}
