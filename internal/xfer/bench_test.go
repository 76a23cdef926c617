package xfer

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/time/rate"
)

// benchSize is one transfer: big enough that per-transfer setup is noise.
const benchSize = 16 << 20

// unthrottled is a limiter that never waits but still forces the chunked
// path, so its cost shows up against the plain copy.
func unthrottled() *rate.Limiter { return rate.NewLimiter(rate.Limit(1<<40), 1<<20) }

// discardConn reads c until it fails, like a client saving to /dev/null.
func discardConn(c net.Conn) {
	buf := make([]byte, 1<<20) // before the timer starts, not during it
	go func() {
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
}

// BenchmarkSend compares Send's zero-copy download, with and without a
// limiter, against a deliberately buffered io.CopyBuffer in the same run.
func BenchmarkSend(b *testing.B) {
	f := tempFile(b, b.TempDir(), randomBytes(benchSize, 30))
	run := func(b *testing.B, copyFn func(dst *net.TCPConn, src *os.File) (int64, error)) {
		srv, cli := tcpPair(b)
		discardConn(cli)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			if n, err := copyFn(srv, f); err != nil || n != benchSize {
				b.Fatalf("copied %d, %v", n, err)
			}
		}
	}
	b.Run("sendfile", func(b *testing.B) {
		run(b, func(dst *net.TCPConn, src *os.File) (int64, error) {
			return Send(context.Background(), dst, src, nil)
		})
	})
	b.Run("sendfile+limiter", func(b *testing.B) {
		lim := unthrottled()
		run(b, func(dst *net.TCPConn, src *os.File) (int64, error) {
			return Send(context.Background(), dst, src, lim)
		})
	})
	b.Run("buffered-peer", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(dst *net.TCPConn, src *os.File) (int64, error) {
			return io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, buf)
		})
	})
}

// BenchmarkReceive compares Receive's spliced upload, with quota and limiter,
// against a deliberately buffered copy in the same run. Each iteration is one
// upload on a fresh connection, sent with sendfile so the sender costs little.
func BenchmarkReceive(b *testing.B) {
	dir := b.TempDir()
	src := tempFile(b, dir, randomBytes(benchSize, 31))
	dst := createFile(b, dir, "up")
	run := func(b *testing.B, copyFn func(dst *os.File, src *net.TCPConn) (int64, error)) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			srv, cli := tcpPair(b)
			if _, err := src.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			go func() {
				io.Copy(cli, src) // sendfile
				cli.CloseWrite()
			}()
			if err := dst.Truncate(0); err != nil {
				b.Fatal(err)
			}
			if _, err := dst.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			if n, err := copyFn(dst, srv); err != nil || n != benchSize {
				b.Fatalf("copied %d, %v", n, err)
			}
			srv.Close()
			cli.Close()
		}
	}
	b.Run("splice", func(b *testing.B) {
		run(b, func(dst *os.File, src *net.TCPConn) (int64, error) {
			return Receive(context.Background(), dst, src, nil, nil)
		})
	})
	b.Run("splice+quota+limiter", func(b *testing.B) {
		q, lim := quotaOf(b, 1<<50), unthrottled()
		run(b, func(dst *os.File, src *net.TCPConn) (int64, error) {
			return Receive(context.Background(), dst, src, q, lim)
		})
	})
	b.Run("buffered-peer", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(dst *os.File, src *net.TCPConn) (int64, error) {
			return io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, buf)
		})
	})
}

func BenchmarkToCRLF(b *testing.B) {
	line := []byte("a typical line of a text file, some sixty bytes long.....\n")
	text := bytes.Repeat(line, (4<<20)/len(line))
	p := make([]byte, 32<<10)
	for name, conv := range map[string]func(io.Reader) io.Reader{"ToCRLF": ToCRLF, "FromCRLF": FromCRLF} {
		in := text
		if name == "FromCRLF" {
			in = refToCRLF(text)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r := conv(bytes.NewReader(in))
				for {
					if _, err := r.Read(p); err != nil {
						break
					}
				}
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	f := tempFile(b, b.TempDir(), randomBytes(benchSize, 32))
	for _, algo := range Algorithms() {
		b.Run(algo, func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Hash(context.Background(), algo, f, 0, -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTLS measures the pooled-buffer paths: no zero copy is possible
// under TLS, but a transfer should cost no allocation beyond crypto/tls's.
// Both ends run in this process, so the reported allocations include the
// peer's: a memory profile shows them in crypto/tls's record reader (and, for
// Receive, the handshake of each fresh connection), none in this package.
func BenchmarkTLS(b *testing.B) {
	dir := b.TempDir()
	f := tempFile(b, dir, randomBytes(benchSize, 33))
	srvConf, cliConf := tlsConfigs(b)
	b.Run("Send", func(b *testing.B) {
		rs, rc := tcpPair(b)
		srv, cli := tls.Server(rs, srvConf), tls.Client(rc, cliConf)
		discardConn(cli)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			f.Seek(0, io.SeekStart)
			if n, err := Send(context.Background(), srv, f, nil); err != nil || n != benchSize {
				b.Fatalf("Send = %d, %v", n, err)
			}
		}
	})
	b.Run("Receive", func(b *testing.B) {
		dst := createFile(b, dir, "up")
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			rs, rc := tcpPair(b)
			srv, cli := tls.Server(GuardEOF(rs), srvConf), tls.Client(rc, cliConf)
			f.Seek(0, io.SeekStart)
			go func() {
				io.Copy(cli, f)
				cli.Close()
			}()
			dst.Truncate(0)
			dst.Seek(0, io.SeekStart)
			if n, err := Receive(context.Background(), dst, srv, nil, nil); err != nil || n != benchSize {
				b.Fatalf("Receive = %d, %v", n, err)
			}
			srv.Close()
		}
	})
}
