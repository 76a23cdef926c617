package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"golang.org/x/sys/unix"

	"github.com/wharfftp/wharf/internal/testenv"
)

// shareNofile is the descriptor limit (soft and hard) the share of
// TestShareSurvivesRunningOutOfDescriptors runs under: its budget
// (share's connBudget) is then 24 FTP sessions and 96 HTTP connections.
const shareNofile = 256

// Issue 9: 4,500 silent FTP connections from one address exhausted a
// share's 4,096 descriptors; new FTP visitors and the web page both timed
// out. Here `wharf share --write` runs in a child process whose limit
// cannot be raised (soft = hard = 256), one address opens four times that
// many silent connections to each protocol, then nine more addresses fill
// both protocols' totals; a new visitor must still be served on FTP and on
// the web, or refused in words (FTP 421, HTTP 503), and the share must
// stop normally at Ctrl-C afterwards.
func TestShareSurvivesRunningOutOfDescriptors(t *testing.T) {
	if os.Getenv("WHARF_TEST_SHARE_NOFILE") != "" {
		shareWithFewDescriptors(t)
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, visitor"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := testenv.Self("TestShareSurvivesRunningOutOfDescriptors", []string{
		"WHARF_TEST_SHARE_NOFILE=" + strconv.Itoa(shareNofile), "WHARF_TEST_SHARE_DIR=" + dir})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var out syncBuffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(&out, sc.Text())
			if strings.Contains(sc.Text(), "Press Ctrl-C to stop.") {
				once.Do(func() { close(ready) })
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
	})
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("share ended early: %v\n%s\n%s", err, out.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("share printed no addresses:\n%s\n%s", out.String(), stderr.String())
	}
	port := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no %s in:\n%s", re, out.String())
		}
		return m[1]
	}
	ftpAddr := "127.0.0.1:" + port(`ftp://127\.0\.0\.1:(\d+)/`)
	httpAddr := "127.0.0.1:" + port(`http://127\.0\.0\.1:(\d+)/`)

	// Silent connections: they never say a word. Each one the share
	// accepted holds a descriptor there until it is closed.
	var silent []net.Conn
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	flood := func(from string, n int) (dialed int) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		for range n {
			for _, addr := range []string{ftpAddr, httpAddr} {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					continue // the backlog is full: refused before accept
				}
				silent = append(silent, c)
				dialed++
			}
		}
		return dialed
	}
	n := flood("127.0.0.1", 4*shareNofile)
	t.Logf("one address: %d silent connections opened", n)
	visit(t, "127.0.0.2", ftpAddr, httpAddr, "after one address's flood")

	for i := 3; i <= 11; i++ {
		n += flood(fmt.Sprintf("127.0.0.%d", i), 2*32)
	}
	t.Logf("ten addresses: %d silent connections opened", n)
	visit(t, "127.0.0.12", ftpAddr, httpAddr, "after ten addresses' flood")

	for _, c := range silent {
		c.Close()
	}
	silent = nil
	// Once the flood is gone, everyone is served again.
	visitServed(t, "127.0.0.13", ftpAddr, httpAddr)

	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("share after Ctrl-C: %v\n%s\n%s", err, out.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("share did not stop within 30 s of Ctrl-C")
	}
	if !strings.Contains(out.String(), "Stopped.") || strings.Contains(out.String()+stderr.String(), "panic") {
		t.Errorf("share's output:\n%s\n%s", out.String(), stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Logf("share's stderr:\n%s", s)
	}
}

// shareWithFewDescriptors is the child: wharf share --write under a
// descriptor limit it cannot raise.
func shareWithFewDescriptors(t *testing.T) {
	n, err := strconv.ParseUint(os.Getenv("WHARF_TEST_SHARE_NOFILE"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}); err != nil {
		t.Fatal(err)
	}
	code := Main([]string{"share", os.Getenv("WHARF_TEST_SHARE_DIR"), "--write", "--listen", "127.0.0.1",
		"--ftp-port", "0", "--http-port", "0", "--no-qr"},
		&Env{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("wharf share: exit %d", code)
	}
}

// visit is a new visitor from the address from: on each protocol it is
// served or refused in words, never left hanging or cut without a word.
func visit(t *testing.T, from, ftpAddr, httpAddr, when string) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := ftp.Dial(ftpAddr, ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
		return d.Dial(network, addr)
	}), ftp.DialWithTimeout(30*time.Second))
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "421"):
		t.Logf("%s: FTP refused in words: %v", when, err)
	case err != nil:
		t.Errorf("%s: a new FTP visitor: %v (want served or 421)", when, err)
	default:
		ftpServed(t, c, when)
	}
	code, body, err := httpGet(&d, "http://"+httpAddr+"/hello.txt")
	switch {
	case err != nil:
		t.Errorf("%s: a new web visitor: %v (want served or 503)", when, err)
	case code == http.StatusServiceUnavailable:
		t.Logf("%s: web refused in words: %d %q", when, code, body)
	case code != http.StatusOK || body != "hello, visitor":
		t.Errorf("%s: a new web visitor: %d %q", when, code, body)
	}
}

// visitServed is a visitor who must be served on both protocols.
func visitServed(t *testing.T, from, ftpAddr, httpAddr string) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := ftp.Dial(ftpAddr, ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
		return d.Dial(network, addr)
	}), ftp.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatalf("after the flood: FTP: %v", err)
	}
	ftpServed(t, c, "after the flood")
	if code, body, err := httpGet(&d, "http://"+httpAddr+"/hello.txt"); err != nil || code != http.StatusOK || body != "hello, visitor" {
		t.Errorf("after the flood: web: %d %q %v", code, body, err)
	}
}

// ftpServed logs in anonymously, downloads hello.txt and uploads a file.
func ftpServed(t *testing.T, c *ftp.ServerConn, when string) {
	t.Helper()
	defer c.Quit()
	if err := c.Login("anonymous", "visitor@example.com"); err != nil {
		t.Errorf("%s: FTP login: %v", when, err)
		return
	}
	r, err := c.Retr("/hello.txt")
	if err != nil {
		t.Errorf("%s: FTP RETR: %v", when, err)
		return
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != "hello, visitor" {
		t.Errorf("%s: FTP RETR: %q %v", when, b, err)
	}
	name := "/from-" + strings.NewReplacer(" ", "-", "'", "").Replace(when) + ".txt"
	if err := c.Stor(name, bytes.NewReader([]byte("a visitor's upload"))); err != nil {
		t.Errorf("%s: FTP STOR: %v", when, err)
	}
}

// httpGet fetches u on a connection of its own from d.
func httpGet(d *net.Dialer, u string) (int, string, error) {
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
