package ftp_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// benchSession is a logged-in raw session on a fresh server.
func benchSession(b *testing.B) (*raw, string) {
	return benchSessionAs(b, accounts.User{Name: "alice", Perms: accounts.PresetFull})
}

// benchSessionAs is benchSession for a user with the given limits.
func benchSessionAs(b *testing.B, u accounts.User) (*raw, string) {
	srv := ftptest.Start(b, ftptest.Options{})
	home := srv.Users.Set(u, "secret").Home
	r := dialRaw(b, srv.Addr)
	r.c.SetDeadline(time.Time{})
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	return r, home
}

// BenchmarkRETR measures download throughput over loopback (sendfile).
func BenchmarkRETR(b *testing.B) {
	r, home := benchSession(b)
	benchRETR(b, r, home)
}

// BenchmarkRETRRateLimited is BenchmarkRETR for a user with a download
// rate far above what loopback reaches: the limiter is in the path, and
// sendfile must stay (one LimitedReader per burst).
func BenchmarkRETRRateLimited(b *testing.B) {
	r, home := benchSessionAs(b, accounts.User{Name: "alice", Perms: accounts.PresetFull, RateDown: 64 << 30})
	benchRETR(b, r, home)
}

func benchRETR(b *testing.B, r *raw, home string) {
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
	benchSTOR(b, r)
}

// BenchmarkSTORQuotaAndRateLimited is BenchmarkSTOR for a user with a byte
// quota and an upload rate far above what the test uses: reservations,
// commits and the limiter are in the path, and splice must stay.
func BenchmarkSTORQuotaAndRateLimited(b *testing.B) {
	r, _ := benchSessionAs(b, accounts.User{Name: "alice", Perms: accounts.PresetFull,
		QuotaBytes: 1 << 50, RateUp: 64 << 30})
	benchSTOR(b, r)
}

func benchSTOR(b *testing.B, r *raw) {
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

// tlsBenchSession is a logged-in session with TLS on the control and data
// connections (PROT P), and the client configuration that resumes its TLS
// session on data connections.
func tlsBenchSession(b *testing.B) (*raw, *tls.Config, string) {
	srv := ftptest.Start(b, ftptest.Options{TLS: true})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	conf := srv.ClientTLS()
	r := upgrade(b, dialRaw(b, srv.Addr), srv)
	r.c.SetDeadline(time.Time{})
	r.must("PBSZ 0", 200)
	r.must("PROT P", 200)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	return r, conf, home
}

func tlsDataConn(b *testing.B, r *raw, conf *tls.Config) *tls.Conn {
	return tls.Client(dataConn(b, r), conf)
}

// BenchmarkRETRTLS is BenchmarkRETR over FTPS (AES-GCM, TLS 1.3): the
// file goes through a pooled buffer and crypto/tls instead of sendfile.
func BenchmarkRETRTLS(b *testing.B) {
	r, conf, home := tlsBenchSession(b)
	const size = 256 << 20
	bigSparse(b, filepath.Join(home, "f"), size)
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		dc := tlsDataConn(b, r, conf)
		r.must("RETR f", 150)
		var n int64
		for {
			m, err := dc.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		if n != size {
			b.Fatalf("got %d bytes", n)
		}
		r.expect(226)
		dc.Close()
	}
}

// BenchmarkSTORTLS is BenchmarkSTOR over FTPS.
func BenchmarkSTORTLS(b *testing.B) {
	r, conf, _ := tlsBenchSession(b)
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		dc := tlsDataConn(b, r, conf)
		r.must("STOR up", 150)
		for range size / len(buf) {
			if _, err := dc.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		dc.Close() // sends close_notify: a complete upload
		r.expect(226)
	}
}

// BenchmarkList10kTLS is the harness's list-10k+tls workload: MLSD of a
// folder of 10,000 empty files over a PROT P data connection that resumes
// the control connection's TLS session.
func BenchmarkList10kTLS(b *testing.B) {
	r, conf, home := tlsBenchSession(b)
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
	buf := make([]byte, 256<<10)
	for b.Loop() {
		dc := tlsDataConn(b, r, conf)
		r.must("MLSD dir10k", 150)
		lines := countLines(dc, buf)
		dc.Close()
		r.expect(226)
		if lines != 10000 {
			b.Fatalf("%d lines", lines)
		}
	}
}

// BenchmarkSmallFilesTLS is the harness's small-files+tls workload: EPSV
// and STOR of a 4 KiB file per iteration, each data connection a resumed
// TLS handshake.
func BenchmarkSmallFilesTLS(b *testing.B) {
	r, conf, _ := tlsBenchSession(b)
	r.must("MKD small", 257)
	data := make([]byte, 4096)
	i := 0
	for b.Loop() {
		dc := tlsDataConn(b, r, conf)
		r.must(fmt.Sprintf("STOR small/f%07d", i), 150)
		if _, err := dc.Write(data); err != nil {
			b.Fatal(err)
		}
		dc.Close()
		r.expect(226)
		i++
	}
}

// countLines reads r in buf-sized reads until an error (io.EOF at the
// end of a listing) and returns how many newlines it read.
func countLines(r io.Reader, buf []byte) int {
	lines := 0
	for {
		n, err := r.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err != nil {
			return lines
		}
	}
}
