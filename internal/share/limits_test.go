package share

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialFrom connects from local to addr.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon reports whether the server closes c within a second without
// a word (HTTP) or after a 421 (FTP); first is what it read.
func closedSoon(c net.Conn) (closed bool, first string) {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b := make([]byte, 256)
	n, err := c.Read(b)
	first = string(b[:n])
	if err != nil {
		return !isTimeout(err), first
	}
	if strings.HasPrefix(first, "421") {
		return true, first
	}
	return false, first
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Issue 9: 4,500 silent FTP connections from one address exhausted the
// share's descriptors and both protocols stopped answering. Each listener
// now caps one address's connections; other addresses and the other
// protocol keep working.
func TestShareCapsConnectionsPerAddress(t *testing.T) {
	s := startShare(t, Options{Dir: t.TempDir()})
	ftpAddr, httpAddr := s.ftpAddr(), strings.TrimPrefix(s.httpURL(), "http://")
	refused := 0
	for range maxConnsPerAddr + 8 {
		c := dialFrom(t, "127.0.0.1", ftpAddr)
		if closed, first := closedSoon(c); closed {
			refused++
		} else if !strings.HasPrefix(first, "220") {
			t.Fatalf("ftp greeting %q", first)
		}
	}
	if refused < 8 {
		t.Errorf("%d of %d silent FTP connections from one address refused, want at least 8", refused, maxConnsPerAddr+8)
	}
	refused = 0
	var silent []net.Conn
	for range maxConnsPerAddr + 8 {
		silent = append(silent, dialFrom(t, "127.0.0.1", httpAddr))
	}
	// All at once: one by one, the last would outlive the server's
	// header timeout and count as refused.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range silent {
		wg.Go(func() {
			if closed, _ := closedSoon(c); closed {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if refused < 8 {
		t.Errorf("%d of %d silent HTTP connections from one address closed, want at least 8", refused, maxConnsPerAddr+8)
	}
	// Another address gets both protocols.
	if c := dialFrom(t, "127.0.0.2", ftpAddr); true {
		if closed, first := closedSoon(c); closed || !strings.HasPrefix(first, "220") {
			t.Errorf("FTP from another address: %q", first)
		}
	}
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(s.httpURL() + "/")
	if err != nil {
		t.Fatalf("the web page from another address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the web page from another address: %d", resp.StatusCode)
	}
}

// The connections admitted fit in the descriptor limit with room to spare.
func TestConnBudgetFitsTheDescriptorLimit(t *testing.T) {
	for _, n := range []uint64{256, 1024, 4096, 65536, 1 << 20} {
		f, h := connBudget(n)
		if used := f*fdsPerFTPSession + h*fdsPerHTTPConn + fdReserve; uint64(used) > n || f < 1 || h < 1 {
			t.Errorf("limit %d: %d FTP sessions and %d HTTP connections need %d descriptors", n, f, h, used)
		}
	}
	if raiseFileLimit() == 0 {
		t.Error("raiseFileLimit could not read the descriptor limit")
	}
}

// At the HTTP total, silent connections make room for a newcomer (the
// oldest goes); when every place serves a request, the newcomer reads a
// 503 in words, not a reset.
func TestHTTPTotalEvictsSilentConnectionsAndRefusesInWords(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capl := newCapListener(ln, 2, 2, true)
	release := make(chan struct{})
	var inHandler sync.WaitGroup
	srv := &http.Server{ConnState: capl.ConnState, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inHandler.Done()
			<-release
		}
		io.WriteString(w, "served")
	})}
	go srv.Serve(capl)
	defer srv.Close()
	addr := ln.Addr().String()
	get := func(from, path string) (int, string, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	// Two silent connections fill the total.
	dialFrom(t, "127.0.0.3", addr)
	dialFrom(t, "127.0.0.4", addr)
	if code, body, err := get("127.0.0.5", "/"); err != nil || code != 200 || body != "served" {
		t.Fatalf("a newcomer with the total held by silent connections: %d %q %v", code, body, err)
	}
	// Two requests being served hold both places.
	inHandler.Add(2)
	var wg sync.WaitGroup
	for _, from := range []string{"127.0.0.6", "127.0.0.7"} {
		wg.Go(func() {
			if code, _, err := get(from, "/slow"); err != nil || code != 200 {
				t.Errorf("a slow request: %d %v", code, err)
			}
		})
	}
	inHandler.Wait()
	code, body, err := get("127.0.0.8", "/")
	close(release)
	wg.Wait()
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections") {
		t.Errorf("a newcomer with every place busy: %d %q %v; want 503 in words", code, body, err)
	}
}
