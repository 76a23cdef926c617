package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// stalledReader hands out the first half of its data, waits until every
// upload of the test has sent its first half, then the rest: all uploads
// are in flight at once, each holding a quota reservation.
type stalledReader struct {
	half, rest *bytes.Reader
	arrived    *sync.WaitGroup
	once       sync.Once
	all        <-chan struct{}
}

func (r *stalledReader) Read(p []byte) (int, error) {
	if r.half.Len() > 0 {
		return r.half.Read(p)
	}
	r.once.Do(func() {
		r.arrived.Done()
		select {
		case <-r.all:
		case <-time.After(10 * time.Second):
		}
	})
	return r.rest.Read(p)
}

// walkHome sums the sizes of the regular files under home.
func walkHome(t *testing.T, home string) (bytes, files int64) {
	t.Helper()
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes += fi.Size()
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bytes, files
}

// concurrentStors runs n sessions of user q, each storing size bytes as
// f<i> at the same moment, while a watcher checks the usage never passes
// the quota. It returns the replies' errors.
func concurrentStors(t *testing.T, srv *ftptest.Server, n, size int, quota int64) []error {
	t.Helper()
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()

	var passed atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s, err := srv.Auth.Login(context.Background(), "q", "pw", accounts.LoginInfo{})
		if err != nil {
			return
		}
		defer s.Close()
		for {
			if u, _ := s.Quota().Usage(context.Background()); u.UsedBytes > quota {
				passed.Store(u.UsedBytes)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := login(t, srv.Addr, "q", "pw")
		data := randomBytes(t, size)
		wg.Go(func() {
			r := &stalledReader{half: bytes.NewReader(data[:size/2]), rest: bytes.NewReader(data[size/2:]), arrived: &arrived, all: all}
			errs[i] = c.Stor(fmt.Sprint("f", i), r)
			// An upload refused before its first half was read never
			// reaches the barrier; do not hold the others.
			r.once.Do(arrived.Done)
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	if p := passed.Load(); p > 0 {
		t.Errorf("usage reached %d during the uploads, quota %d", p, quota)
	}
	return errs
}

// Regression (issue 3: "10 sessions of one user uploading at once must all
// succeed while within quota"): each upload's first 256 KiB reservation
// counted as used, so with a 1 MiB quota the fifth concurrent upload got a
// 552 with nothing stored, and left a 0-byte file.
func TestTenConcurrentSessionsWithinQuotaAllSucceed(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	const quota = 1 << 20
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: quota}, "pw")
	errs := concurrentStors(t, srv, 10, 60_000, quota)
	for i, err := range errs {
		if err != nil {
			t.Errorf("STOR f%d of 60000 bytes, 600000 of %d in all: %v", i, quota, err)
		}
	}
	onDisk, files := walkHome(t, u.Home)
	if onDisk != 600_000 || files != 10 {
		t.Fatalf("home holds %d bytes in %d files, want 600000 in 10", onDisk, files)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != onDisk || got.UsedFiles != files {
		t.Fatalf("usage %d bytes %d files, a walk of the home finds %d and %d", got.UsedBytes, got.UsedFiles, onDisk, files)
	}
}

// When the uploads together exceed the quota, some are refused with 552,
// but what is stored never passes it and usage matches the disk.
func TestConcurrentUploadsOverTheQuotaStopAtItExactly(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	const quota = 1 << 20
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, QuotaBytes: quota}, "pw")
	errs := concurrentStors(t, srv, 10, 150_000, quota)
	refused := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "552"):
			refused++
		default:
			t.Errorf("STOR f%d: %v, want success or 552", i, err)
		}
	}
	if refused == 0 {
		t.Errorf("1500000 bytes into a %d quota: no upload was refused", quota)
	}
	onDisk, files := walkHome(t, u.Home)
	if onDisk > quota {
		t.Fatalf("home holds %d bytes, quota %d", onDisk, quota)
	}
	if onDisk != quota {
		t.Errorf("home holds %d bytes: uploads were refused before the quota %d was full", onDisk, quota)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != onDisk || got.UsedFiles != files {
		t.Fatalf("usage %d bytes %d files, a walk of the home finds %d and %d", got.UsedBytes, got.UsedFiles, onDisk, files)
	}
}
