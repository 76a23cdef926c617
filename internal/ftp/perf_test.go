package ftp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
)

// These benchmarks reproduce the shared harness's workloads (see
// BENCHMARKS.md) against the production account store: SQLite in a temp
// data directory, default argon2id cost, a warn-level text logger (the
// benchmark configuration: errors and warnings only, like the peers). They
// exist to be profiled (go test -bench X -cpuprofile) without the harness.

// dbServer runs a server on the SQLite account store with user "bench".
func dbServer(b *testing.B, configure func(*ftp.Config)) (addr, home string) {
	b.Helper()
	ctx := context.Background()
	db, err := accounts.Open(ctx, b.TempDir(), accounts.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.AddUser(ctx, accounts.User{Name: "bench", Perms: accounts.PresetFull}, "benchpw"); err != nil {
		b.Fatal(err)
	}
	u, err := db.GetUser(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := ftp.Config{
		Auth:   db,
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := ftp.NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		db.Close()
	})
	return ln.Addr().String(), u.Home
}

func dbSession(b *testing.B, addr string) *raw {
	b.Helper()
	r := dialRaw(b, addr)
	r.c.SetDeadline(time.Time{})
	r.login("bench", "benchpw")
	r.must("TYPE I", 200)
	return r
}

// BenchmarkSmallFilesDB is the harness's small-files workload: one session,
// PASV + STOR of a 4 KiB file, per iteration.
func BenchmarkSmallFilesDB(b *testing.B) {
	addr, _ := dbServer(b, nil)
	r := dbSession(b, addr)
	r.must("MKD small", 257)
	buf := make([]byte, 4096)
	i := 0
	for b.Loop() {
		dc := dataConn(b, r)
		r.must(fmt.Sprintf("STOR small/f%06d.dat", i), 150)
		if _, err := dc.Write(buf); err != nil {
			b.Fatal(err)
		}
		dc.Close()
		r.expect(226)
		i++
	}
}

// BenchmarkList10kDB is the harness's list-10k workload: MLSD of a folder
// of 10,000 empty files.
func BenchmarkList10kDB(b *testing.B) {
	addr, home := dbServer(b, nil)
	dir := filepath.Join(home, "dir10k")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("file%05d.txt", i)))
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	r := dbSession(b, addr)
	buf := make([]byte, 256<<10)
	for b.Loop() {
		dc := dataConn(b, r)
		r.must("MLSD dir10k", 150)
		lines := 0
		for {
			n, err := dc.Read(buf)
			for _, c := range buf[:n] {
				if c == '\n' {
					lines++
				}
			}
			if err != nil {
				break
			}
		}
		dc.Close()
		r.expect(226)
		if lines != 10000 {
			b.Fatalf("%d lines", lines)
		}
	}
}

// BenchmarkLoginWarmDB is the harness's logins workload after its first
// login: connect, 220, USER, PASS, QUIT, 221, 50 at a time, same password.
func BenchmarkLoginWarmDB(b *testing.B) {
	addr, _ := dbServer(b, func(c *ftp.Config) { c.MaxSessionsPerIP = 0 })
	dbSession(b, addr).c.Close() // pays the one argon2id verification
	const conc = 50
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := net.Dial("tcp4", addr)
				if err != nil {
					b.Error(err)
					return
				}
				r := newRaw(b, c)
				r.expect(220)
				r.login("bench", "benchpw")
				r.must("QUIT", 221)
				c.Close()
			}
		}()
	}
	for b.Loop() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
}
