package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (issue 3: three concurrent curls of a user with --rate-down
// 1MiB/s got 1 MiB/s each): RateDown is the user's, so concurrent downloads
// of one user share it.
func TestBandwidthLimitIsPerUserNotPerSession(t *testing.T) {
	const (
		rate  = 256 << 10
		size  = 150 << 10
		n     = 3
		burst = rate / 8 // the limiter's burst at this rate
	)
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "r", Perms: accounts.PresetFull, RateDown: rate}, "pw")
	data := make([][]byte, n)
	for i := range data {
		data[i] = randomBytes(t, size)
		writeFile(t, filepath.Join(u.Home, fmt.Sprint("f", i)), data[i])
	}
	conns := make([]*jftp.ServerConn, n)
	for i := range conns {
		conns[i] = login(t, srv.Addr, "r", "pw")
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			r, err := conns[i].Retr(fmt.Sprint("f", i))
			if err != nil {
				errs[i] = err
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err == nil && !bytes.Equal(got, data[i]) {
				err = fmt.Errorf("f%d differs", i)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Only a lower bound: a slow machine may take longer. The shared
	// limiter lets one burst through at once; per-session limiters let
	// n bursts through and finish in a third of the time.
	// 20 ms spares the limiter's float arithmetic and timer rounding; a
	// per-session limit would take under a third of the floor.
	floor := time.Duration(float64(n*size-burst)/rate*float64(time.Second)) - 20*time.Millisecond
	t.Logf("%d concurrent downloads of %d KiB at %d KiB/s for the user: %v (floor %v)", n, size>>10, rate>>10, elapsed, floor)
	if elapsed < floor {
		t.Fatalf("%d concurrent downloads took %v, a user limit of %d KiB/s needs at least %v", n, elapsed, rate>>10, floor)
	}
}
