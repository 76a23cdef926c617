package xfer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/wharfftp/wharf/internal/accounts"
)

func TestSendFileOverTCPDeliversEveryByte(t *testing.T) {
	data := randomBytes(3<<20+17, 1)
	f := tempFile(t, t.TempDir(), data)
	srv, cli := tcpPair(t)
	got := drain(cli)
	n, err := Send(context.Background(), srv, f, nil)
	srv.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Send = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(<-got, data) {
		t.Fatal("received bytes differ from the file")
	}
}

func TestSendHonoursLimitedReaderUnderLimiter(t *testing.T) {
	// A REST offset plus a length cap, as the engine builds for a partial
	// download: the limiter's chunks must stay inside the caller's window
	// and keep its N up to date.
	data := randomBytes(1<<20, 2)
	f := tempFile(t, t.TempDir(), data)
	if _, err := f.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	lr := &io.LimitedReader{R: f, N: 300_001}
	srv, cli := tcpPair(t)
	got := drain(cli)
	lim := rate.NewLimiter(rate.Limit(1<<30), 64<<10)
	n, err := Send(context.Background(), srv, lr, lim)
	srv.Close()
	if err != nil || n != 300_001 {
		t.Fatalf("Send = %d, %v; want 300001, nil", n, err)
	}
	if lr.N != 0 {
		t.Fatalf("caller's LimitedReader N = %d after the copy, want 0", lr.N)
	}
	if !bytes.Equal(<-got, data[1000:301_001]) {
		t.Fatal("received bytes differ from the file window")
	}
}

func TestSendRateLimitIsRespected(t *testing.T) {
	const size, rateBps, burst = 384 << 10, 1 << 20, 32 << 10
	data := randomBytes(size, 3)
	f := tempFile(t, t.TempDir(), data)
	srv, cli := tcpPair(t)
	got := drain(cli)
	start := time.Now()
	n, err := Send(context.Background(), srv, f, rate.NewLimiter(rateBps, burst))
	elapsed := time.Since(start)
	srv.Close()
	if err != nil || n != size {
		t.Fatalf("Send = %d, %v", n, err)
	}
	// Lower bound only: a loaded machine may always be slower.
	if min := time.Duration(float64(size-burst) / rateBps * float64(time.Second)); elapsed < min {
		t.Fatalf("sent %d bytes at %d B/s in %v, faster than the minimum %v", size, rateBps, elapsed, min)
	}
	if !bytes.Equal(<-got, data) {
		t.Fatal("received bytes differ")
	}
}

func TestSendOverTLSWithTypeA(t *testing.T) {
	text := bytes.Repeat([]byte("line one\nline two\r\n\n"), 20000)
	f := tempFile(t, t.TempDir(), text)
	srvConf, cliConf := tlsConfigs(t)
	rs, rc := tcpPair(t)
	srv, cli := tls.Server(rs, srvConf), tls.Client(rc, cliConf)
	got := drain(cli)
	n, err := Send(context.Background(), srv, ToCRLF(f), rate.NewLimiter(rate.Limit(1<<30), 100_000))
	srv.Close()
	want := bytes.ReplaceAll(text, []byte("two\r\n\n"), []byte("two\r\n\r\n"))
	want = bytes.ReplaceAll(want, []byte("one\n"), []byte("one\r\n"))
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Send = %d, %v; want %d", n, err, len(want))
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("TYPE A download over TLS differs")
	}
}

func TestSendStopsWhenContextCancelled(t *testing.T) {
	data := randomBytes(1<<20, 4)
	f := tempFile(t, t.TempDir(), data)
	srv, cli := tcpPair(t)
	drain(cli)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	// 64 KiB/s: the whole file would take 16 s.
	n, err := Send(ctx, srv, f, rate.NewLimiter(64<<10, 16<<10))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %d, %v; want context.Canceled", n, err)
	}
	if n >= int64(len(data)) {
		t.Fatalf("sent everything (%d) despite cancellation", n)
	}
}

func TestLimiterWithZeroBurstIsRefused(t *testing.T) {
	f := tempFile(t, t.TempDir(), []byte("x"))
	srv, _ := tcpPair(t)
	if _, err := Send(context.Background(), srv, f, rate.NewLimiter(10, 0)); !errors.Is(err, ErrBadLimiter) {
		t.Fatalf("Send = %v, want ErrBadLimiter", err)
	}
	dst := createFile(t, t.TempDir(), "up")
	if _, err := Receive(context.Background(), dst, srv, nil, rate.NewLimiter(10, 0)); !errors.Is(err, ErrBadLimiter) {
		t.Fatalf("Receive = %v, want ErrBadLimiter", err)
	}
}

// upload writes data to c in the background and half-closes it, as a client
// ends a STOR. Write errors are expected once the server stops reading.
func upload(c *net.TCPConn, data []byte) {
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
}

func fileBytes(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiveWithoutQuotaStoresEverything(t *testing.T) {
	data := randomBytes(5<<20+3, 5)
	srv, cli := tcpPair(t)
	upload(cli, data)
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(context.Background(), dst, srv, nil, nil)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Receive = %d, %v", n, err)
	}
	if !bytes.Equal(fileBytes(t, dst), data) {
		t.Fatal("stored bytes differ")
	}
}

func TestReceiveQuotaStopsExactly(t *testing.T) {
	for _, tc := range []struct {
		name         string
		quota, sent  int
		wantExceeded bool
	}{
		{"upload larger than quota", 100_003, 300_000, true},
		{"upload larger than several reservations", maxChunk*2 + 5, maxChunk*2 + 6, true},
		{"upload exactly the quota", 250_000, 250_000, false},
		{"upload below the quota", 250_000, 249_999, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := quotaOf(t, int64(tc.quota))
			data := randomBytes(tc.sent, 6)
			srv, cli := tcpPair(t)
			upload(cli, data)
			dst := createFile(t, t.TempDir(), "up")
			n, err := Receive(context.Background(), dst, srv, q, nil)
			stored := min(tc.quota, tc.sent)
			if tc.wantExceeded && !errors.Is(err, accounts.ErrQuotaExceeded) {
				t.Fatalf("Receive error = %v, want ErrQuotaExceeded", err)
			}
			if !tc.wantExceeded && err != nil {
				t.Fatalf("Receive error = %v, want nil", err)
			}
			if n != int64(stored) {
				t.Fatalf("Receive count = %d, want %d", n, stored)
			}
			if got := fileBytes(t, dst); !bytes.Equal(got, data[:stored]) {
				t.Fatalf("file holds %d bytes, want exactly the first %d sent", len(got), stored)
			}
			u, err := q.Usage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if u.UsedBytes != int64(stored) {
				t.Fatalf("quota usage %d, want %d (a reservation leaked or bytes went uncounted)", u.UsedBytes, stored)
			}
		})
	}
}

func TestConcurrentReceivesNeverPassSharedQuota(t *testing.T) {
	const quota, each, uploads = 1<<20 + 12345, 600 << 10, 4
	q := quotaOf(t, quota)
	dir := t.TempDir()
	var wg sync.WaitGroup
	sizes := make([]int64, uploads)
	errs := make([]error, uploads)
	for i := range uploads {
		srv, cli := tcpPair(t)
		dst := createFile(t, dir, string(rune('a'+i)))
		upload(cli, randomBytes(each, uint64(i)))
		// A small burst makes the uploads take turns at many small
		// reservations instead of one grabbing the whole quota.
		lim := rate.NewLimiter(rate.Limit(1<<30), 16<<10)
		wg.Go(func() {
			_, errs[i] = Receive(context.Background(), dst, srv, q, lim)
			fi, err := dst.Stat()
			if err != nil {
				errs[i] = err
				return
			}
			sizes[i] = fi.Size()
		})
	}
	wg.Wait()
	var total int64
	exceeded := 0
	for i := range uploads {
		total += sizes[i]
		switch {
		case errors.Is(errs[i], accounts.ErrQuotaExceeded):
			exceeded++
		case errs[i] != nil:
			t.Fatalf("upload %d: %v", i, errs[i])
		}
	}
	if total > quota {
		t.Fatalf("uploads stored %d bytes together, quota is %d", total, quota)
	}
	if exceeded == 0 {
		t.Fatalf("%d bytes offered against a %d quota and nobody was refused", each*uploads, quota)
	}
	u, _ := q.Usage(context.Background())
	if u.UsedBytes != total {
		t.Fatalf("quota usage %d, files hold %d", u.UsedBytes, total)
	}
}

func TestReceiveRateLimitIsRespected(t *testing.T) {
	const size, rateBps, burst = 256 << 10, 1 << 20, 32 << 10
	data := randomBytes(size, 7)
	srv, cli := tcpPair(t)
	upload(cli, data)
	dst := createFile(t, t.TempDir(), "up")
	start := time.Now()
	n, err := Receive(context.Background(), dst, srv, quotaOf(t, 1<<30), rate.NewLimiter(rateBps, burst))
	elapsed := time.Since(start)
	if err != nil || n != size {
		t.Fatalf("Receive = %d, %v", n, err)
	}
	if min := time.Duration(float64(size-burst) / rateBps * float64(time.Second)); elapsed < min {
		t.Fatalf("received %d bytes at %d B/s in %v, faster than the minimum %v", size, rateBps, elapsed, min)
	}
	if !bytes.Equal(fileBytes(t, dst), data) {
		t.Fatal("stored bytes differ")
	}
}

// tlsUpload sets up a TLS data connection the way the engine must: the
// server's tls.Conn is built on GuardEOF of the raw connection.
func tlsUpload(t *testing.T) (srv *tls.Conn, cli *tls.Conn, rawCli *net.TCPConn) {
	t.Helper()
	srvConf, cliConf := tlsConfigs(t)
	rs, rc := tcpPair(t)
	return tls.Server(GuardEOF(rs), srvConf), tls.Client(rc, cliConf), rc
}

func TestReceiveTLSWithCloseNotifyIsComplete(t *testing.T) {
	data := randomBytes(700_000, 8)
	srv, cli, raw := tlsUpload(t)
	go func() {
		cli.Write(data)
		cli.CloseWrite() // close_notify
		raw.CloseWrite() // then the FIN, as every client follows it
	}()
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(context.Background(), dst, srv, quotaOf(t, 1<<30), nil)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Receive = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(fileBytes(t, dst), data) {
		t.Fatal("stored bytes differ")
	}
}

// Regression: crypto/tls reports a TCP FIN that falls on a record boundary as
// a clean io.EOF, so a forged FIN would end an upload early and look
// complete. GuardEOF exposes it.
func TestReceiveTLSForgedFINAtRecordBoundaryIsTruncated(t *testing.T) {
	data := randomBytes(100_000, 9)
	srv, cli, raw := tlsUpload(t)
	go func() {
		cli.Write(data)
		raw.CloseWrite() // FIN without close_notify
	}()
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(context.Background(), dst, srv, nil, nil)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("Receive = %d, %v; want ErrTruncated", n, err)
	}
}

// cutConn forwards writes until cut is set, then sends only half of the next
// write and reports it whole: a TLS record cut in the middle by a FIN.
type cutConn struct {
	*net.TCPConn
	cut bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.cut {
		if _, err := c.TCPConn.Write(p[:len(p)/2]); err != nil {
			return 0, err
		}
		c.TCPConn.CloseWrite()
		return len(p), nil
	}
	return c.TCPConn.Write(p)
}

func TestReceiveTLSFINInsideRecordIsTruncated(t *testing.T) {
	srvConf, cliConf := tlsConfigs(t)
	rs, rc := tcpPair(t)
	srv := tls.Server(GuardEOF(rs), srvConf)
	cc := &cutConn{TCPConn: rc}
	cli := tls.Client(cc, cliConf)
	go func() {
		if err := cli.Handshake(); err != nil {
			return
		}
		cli.Write([]byte("a complete first record"))
		cc.cut = true
		cli.Write(bytes.Repeat([]byte("x"), 4000))
	}()
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(context.Background(), dst, srv, nil, nil)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("Receive = %d, %v; want ErrTruncated", n, err)
	}
}

func TestReceiveTLSTypeAForgedFINIsTruncated(t *testing.T) {
	srv, cli, raw := tlsUpload(t)
	go func() {
		cli.Write([]byte("one\r\ntwo\r\n"))
		raw.CloseWrite()
	}()
	dst := createFile(t, t.TempDir(), "up")
	if _, err := Receive(context.Background(), dst, FromCRLF(srv), nil, nil); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Receive = %v; want ErrTruncated", err)
	}
}

func TestReceiveTLSTypeAWithCloseNotify(t *testing.T) {
	srv, cli, raw := tlsUpload(t)
	go func() {
		cli.Write([]byte("one\r\ntwo\r\nlone\rcr\r"))
		cli.CloseWrite()
		raw.CloseWrite()
	}()
	dst := createFile(t, t.TempDir(), "up")
	if _, err := Receive(context.Background(), dst, FromCRLF(srv), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := string(fileBytes(t, dst)); got != "one\ntwo\nlone\rcr\r" {
		t.Fatalf("stored %q", got)
	}
}

func TestReceiveRefusesUnguardedTLS(t *testing.T) {
	srvConf, _ := tlsConfigs(t)
	rs, _ := tcpPair(t)
	dst := createFile(t, t.TempDir(), "up")
	if _, err := Receive(context.Background(), dst, tls.Server(rs, srvConf), nil, nil); !errors.Is(err, ErrUnguardedTLS) {
		t.Fatalf("Receive = %v; want ErrUnguardedTLS", err)
	}
}

func TestReceiveTLSQuotaStopsExactly(t *testing.T) {
	const quota = 123_457
	data := randomBytes(400_000, 10)
	srv, cli, raw := tlsUpload(t)
	go func() {
		cli.Write(data)
		cli.CloseWrite()
		raw.CloseWrite()
	}()
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(context.Background(), dst, srv, quotaOf(t, quota), nil)
	if !errors.Is(err, accounts.ErrQuotaExceeded) || n != quota {
		t.Fatalf("Receive = %d, %v; want %d, ErrQuotaExceeded", n, err, quota)
	}
	if !bytes.Equal(fileBytes(t, dst), data[:quota]) {
		t.Fatal("file does not hold exactly the quota")
	}
}

func TestReceiveStopsWhenContextCancelled(t *testing.T) {
	srv, cli := tcpPair(t)
	go func() {
		// An endless slow upload.
		for {
			if _, err := cli.Write(make([]byte, 4096)); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	q := quotaOf(t, 0)
	dst := createFile(t, t.TempDir(), "up")
	n, err := Receive(ctx, dst, srv, q, rate.NewLimiter(64<<10, 8<<10))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive = %d, %v; want context.Canceled", n, err)
	}
	u, _ := q.Usage(context.Background())
	if fi, _ := dst.Stat(); u.UsedBytes != fi.Size() || n != fi.Size() {
		t.Fatalf("after cancel: usage %d, returned %d, file %d; all must agree", u.UsedBytes, n, fi.Size())
	}
}

// Regression: reservations of a fixed 8 MiB let a small upload still in
// progress hold all the room left, and a parallel upload of the same user
// that fitted was refused.
func TestSmallUploadInProgressLeavesRoomForAnother(t *testing.T) {
	q := quotaOf(t, 1<<20)
	dir := t.TempDir()

	srvA, cliA := tcpPair(t)
	dstA := createFile(t, dir, "a")
	cliA.Write(make([]byte, 10_000)) // and keeps the connection open
	doneA := make(chan error, 1)
	go func() {
		_, err := Receive(context.Background(), dstA, srvA, q, nil)
		doneA <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if fi, _ := dstA.Stat(); fi.Size() == 10_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first upload never reached the disk")
		}
		time.Sleep(5 * time.Millisecond)
	}

	srvB, cliB := tcpPair(t)
	dataB := randomBytes(500_000, 14)
	upload(cliB, dataB)
	dstB := createFile(t, dir, "b")
	n, err := Receive(context.Background(), dstB, srvB, q, nil)
	if err != nil || n != int64(len(dataB)) {
		t.Fatalf("second upload = %d, %v; it fits the quota beside the first", n, err)
	}

	cliA.CloseWrite()
	if err := <-doneA; err != nil {
		t.Fatalf("first upload: %v", err)
	}
	if u, _ := q.Usage(context.Background()); u.UsedBytes != 510_000 {
		t.Fatalf("usage %d, want 510000", u.UsedBytes)
	}
}

// A user's limiter is shared and resized in place when an admin changes the
// rate: a transfer that sized its chunks by the old burst must carry on
// when the burst shrinks (WaitN refuses more than the burst at once).
func TestTransfersSurviveTheirLimiterShrinking(t *testing.T) {
	const size = 1 << 20
	shrink := func(lim *rate.Limiter) {
		time.Sleep(50 * time.Millisecond) // past the first burst, paying for a chunk
		lim.SetBurst(1 << 10)
		lim.SetLimit(64 << 20)
	}
	t.Run("send", func(t *testing.T) {
		data := randomBytes(size, 11)
		f := tempFile(t, t.TempDir(), data)
		srv, cli := tcpPair(t)
		got := drain(cli)
		lim := rate.NewLimiter(256<<10, 64<<10)
		go shrink(lim)
		n, err := Send(context.Background(), srv, f, lim)
		srv.Close()
		if err != nil || n != size {
			t.Fatalf("Send = %d, %v", n, err)
		}
		if !bytes.Equal(<-got, data) {
			t.Fatal("received bytes differ")
		}
	})
	t.Run("receive", func(t *testing.T) {
		data := randomBytes(size, 12)
		srv, cli := tcpPair(t)
		upload(cli, data)
		dst := createFile(t, t.TempDir(), "up")
		lim := rate.NewLimiter(256<<10, 64<<10)
		go shrink(lim)
		n, err := Receive(context.Background(), dst, srv, nil, lim)
		if err != nil || n != size {
			t.Fatalf("Receive = %d, %v", n, err)
		}
		if !bytes.Equal(fileBytes(t, dst), data) {
			t.Fatal("stored bytes differ")
		}
	})
}
