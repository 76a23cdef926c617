package client

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// latencyLink models one TCP connection over a long link: every byte
// arrives delay after it was sent, and at most window bytes are in flight
// (unacknowledged, the ack taking delay to come back), so one connection
// moves at most window / (2 delay) per second, as a real one whose window
// does not grow does. (tc netem needs the sch_netem module, which CI
// machines lack; this runs anywhere.)
type latencyLink struct {
	delay  time.Duration
	window int
}

type timedChunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst through the modelled link until src ends.
func (l latencyLink) pipe(dst, src net.Conn) {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inflight := 0
	ch := make(chan timedChunk, 1024)
	go func() {
		defer close(ch)
		for {
			mu.Lock()
			for inflight >= l.window {
				cond.Wait()
			}
			room := min(l.window-inflight, 32<<10)
			mu.Unlock()
			b := make([]byte, room)
			n, err := src.Read(b)
			if n > 0 {
				mu.Lock()
				inflight += n
				mu.Unlock()
				ch <- timedChunk{b[:n], time.Now().Add(l.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
		n := len(c.b)
		time.AfterFunc(l.delay, func() { // the ack's way back
			mu.Lock()
			inflight -= n
			cond.Broadcast()
			mu.Unlock()
		})
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
	// Unblock the reader should it wait for room.
	time.AfterFunc(l.delay, func() { mu.Lock(); inflight = 0; cond.Broadcast(); mu.Unlock() })
}

func (l latencyLink) join(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pipe(a, b) }()
	go func() { defer wg.Done(); l.pipe(b, a) }()
	wg.Wait()
	a.Close()
	b.Close()
}

var epsvReply = regexp.MustCompile(`^229 (.*)\(\|\|\|(\d+)\|\)(.*)$`)

// latencyProxy puts the link between a client and an FTP server, data
// connections included: it answers EPSV with a port of its own that leads,
// through the link, to the server's.
func latencyProxy(t testing.TB, server string, l latencyLink) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				sc, err := net.Dial("tcp", server)
				if err != nil {
					cc.Close()
					return
				}
				// Replies are rewritten line by line before the link.
				pr, pw := net.Pipe()
				go func() {
					defer pw.Close()
					r := bufio.NewReader(sc)
					for {
						line, err := r.ReadString('\n')
						if m := epsvReply.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
							port, _ := strconv.Atoi(m[2])
							line = fmt.Sprintf("229 %s(|||%d|)%s\r\n", m[1], dataProxy(t, fmt.Sprintf("127.0.0.1:%d", port), l), m[3])
						}
						if _, werr := io.WriteString(pw, line); werr != nil || err != nil {
							return
						}
					}
				}()
				go l.pipe(sc, cc)
				l.pipe(cc, pr)
				cc.Close()
				sc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func dataProxy(t testing.TB, server string, l latencyLink) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Error(err)
		return 0
	}
	go func() {
		defer ln.Close()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		cc, err := ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial("tcp", server)
		if err != nil {
			cc.Close()
			return
		}
		l.join(cc, sc)
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func benchLink() latencyLink { return latencyLink{delay: 20 * time.Millisecond, window: 256 << 10} }

// BenchmarkGetOverLatency compares one connection (get, n=1) with
// segmented downloads (get -n 4, -n 8) of one 24 MiB file over the same
// modelled link: 20 ms each way (40 ms round trip), 256 KiB in flight per
// connection, so about 6 MiB/s for one connection. Logins, REST, ABOR and
// the final checksum cross the link too.
//
//	go test -run '^$' -bench GetOverLatency -benchtime 3x ./internal/client
func BenchmarkGetOverLatency(b *testing.B) {
	srv := ftptest.Start(b, ftptest.Options{})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	const size = 24 << 20
	buf := make([]byte, size)
	rand.Read(buf)
	if err := os.WriteFile(filepath.Join(home, "big.bin"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	proxy := latencyProxy(b, srv.Addr, benchLink())
	for _, n := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(size)
			for range b.N {
				runOverLatency(b, proxy, n)
			}
		})
	}
}

// runOverLatency downloads big.bin n ways through the proxy.
func runOverLatency(tb testing.TB, proxy string, n int) {
	host, port, _ := net.SplitHostPort(proxy)
	tg := &Target{Host: host, Port: port, User: "alice", Password: "secret", HasPassword: true}
	local := filepath.Join(tb.TempDir(), "big.bin")
	ctx := context.Background()
	c, err := Connect(ctx, tg, Options{}, tg.User, tg.Password)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Quit(ctx)
	res, err := GetSegmented(ctx, c, "big.bin", local, n, TransferOptions{Dial: dialer(tg)})
	if err != nil || res.Verified != "SHA-256" {
		tb.Fatal(res.Verified, err)
	}
	os.Remove(local)
}

// The modelled link holds one connection to about window / round trip:
// proof that the benchmark measures what it says.
func TestLatencyLinkLimitsOneConnection(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	os.WriteFile(filepath.Join(home, "big.bin"), make([]byte, 3<<20), 0o644)
	l := benchLink()
	proxy := latencyProxy(t, srv.Addr, l)
	start := time.Now()
	runOverLatency(t, proxy, 1)
	el := time.Since(start)
	// 3 MiB at 256 KiB per 40 ms is 480 ms of data, after ten round
	// trips of commands at least.
	if el < 880*time.Millisecond {
		t.Fatalf("3 MiB took %v: the link is not limiting", el)
	}
	t.Logf("3 MiB over one connection: %v", el)
}
