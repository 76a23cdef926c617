package ftp_test

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// benchSession is a logged-in raw session on a fresh server.
func benchSession(b *testing.B) (*raw, string) {
	srv := ftptest.Start(b, ftptest.Options{})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	r := dialRaw(b, srv.Addr)
	r.c.SetDeadline(time.Time{})
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	return r, home
}

// BenchmarkRETR measures download throughput over loopback (sendfile).
func BenchmarkRETR(b *testing.B) {
	r, home := benchSession(b)
	const size = 256 << 20
	bigSparse(b, filepath.Join(home, "f"), size)
	b.SetBytes(size)
	for b.Loop() {
		dc := dataConn(b, r)
		r.must("RETR f", 150)
		if n, _ := io.Copy(io.Discard, dc); n != size {
			b.Fatalf("got %d bytes", n)
		}
		r.expect(226)
		dc.Close()
	}
}

// BenchmarkSTOR measures upload throughput over loopback (splice), temp
// file and rename included.
func BenchmarkSTOR(b *testing.B) {
	r, _ := benchSession(b)
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		dc := dataConn(b, r)
		r.must("STOR up", 150)
		for range size / len(buf) {
			if _, err := dc.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		dc.Close()
		r.expect(226)
	}
}
