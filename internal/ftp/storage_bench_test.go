package ftp_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// The same engine on two storages, one workload: STOR and RETR of a
// 64 MiB file over loopback, on the local disk (splice, sendfile) and on
// a versitygw bucket on the same machine (multipart upload from part
// buffers, ranged GET). Besides throughput each reports the time from
// the end of the data to the 226 (commit-ms/op: the rename, or the
// CompleteMultipartUpload) and the server's peak heap above its idle
// level while an upload runs (peak-heap-MiB: the part buffers).
// Compare the backends as ratios within one run.

const storageBenchSize = 64 << 20

func storageBenchSession(b *testing.B, backend string) *raw {
	r, _ := storageBenchHome(b, backend)
	return r
}

// storageBenchHome is storageBenchSession that also returns the folder
// on disk behind the user's home: the home itself, or the folder of
// versitygw's posix backend that holds the home's objects.
func storageBenchHome(b *testing.B, backend string) (*raw, string) {
	var open func(u accounts.User) (vfs.Storage, error)
	var objects string
	if backend == "s3" {
		e := s3test.Start(b)
		objects = filepath.Join(e.Dir, e.Bucket, "bench", "alice")
		bk, err := s3vfs.New(e.NewClient(b), e.Bucket, "bench", s3vfs.Options{})
		if err != nil {
			b.Fatal(err)
		}
		open = func(u accounts.User) (vfs.Storage, error) { return bk.Home(u.Name) }
	}
	srv := ftptest.Start(b, ftptest.Options{Configure: func(c *ftp.Config) {
		if open != nil {
			c.OpenStorage = open
		}
	}})
	u := srv.Users.Set(accounts.User{Name: "alice", Perms: accounts.PresetFull}, "secret")
	if objects == "" {
		objects = u.Home
	}
	r := dialRaw(b, srv.Addr)
	r.c.SetDeadline(time.Time{})
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	return r, objects
}

// heapPeak samples the heap in use until stop, and reports the highest
// value above the level at its start.
func heapPeak() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func storeFile(b *testing.B, r *raw, name string, buf []byte) (commit time.Duration) {
	dc := dataConn(b, r)
	r.must("STOR "+name, 150)
	for range storageBenchSize / len(buf) {
		if _, err := dc.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	dc.Close()
	t0 := time.Now()
	r.expect(226)
	return time.Since(t0)
}

func BenchmarkStorageSTOR(b *testing.B) {
	for _, backend := range []string{"file", "s3"} {
		b.Run(backend, func(b *testing.B) {
			r := storageBenchSession(b, backend)
			buf := make([]byte, 1<<20)
			b.SetBytes(storageBenchSize)
			var commit time.Duration
			var peak uint64
			for b.Loop() {
				stop := heapPeak()
				commit += storeFile(b, r, "up", buf)
				peak = max(peak, stop())
			}
			b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

func BenchmarkStorageRETR(b *testing.B) {
	for _, backend := range []string{"file", "s3"} {
		b.Run(backend, func(b *testing.B) {
			r := storageBenchSession(b, backend)
			storeFile(b, r, "f", make([]byte, 1<<20))
			b.SetBytes(storageBenchSize)
			for b.Loop() {
				dc := dataConn(b, r)
				r.must("RETR f", 150)
				if n, _ := io.Copy(io.Discard, dc); n != storageBenchSize {
					b.Fatalf("got %d bytes", n)
				}
				r.expect(226)
				dc.Close()
			}
		})
	}
}

// BenchmarkStorageList is MLSD of a folder of 10,000 empty files on both
// storages. The objects are written as files into versitygw's posix
// folder (what its posix backend serves), not PUT one by one.
func BenchmarkStorageList(b *testing.B) {
	for _, backend := range []string{"file", "s3"} {
		b.Run(backend, func(b *testing.B) {
			r, home := storageBenchHome(b, backend)
			dir := filepath.Join(home, "dir10k")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			for i := range 10000 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%05d.txt", i)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 256<<10)
			for b.Loop() {
				dc := dataConn(b, r)
				r.must("MLSD dir10k", 150)
				lines := countLines(dc, buf)
				dc.Close()
				r.expect(226)
				if lines != 10000 {
					b.Fatalf("%d lines", lines)
				}
			}
		})
	}
}
