package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
)

// loopbackThird is the host a hostile server aims data at in the plain
// tests: on Linux all of 127/8 is loopback, so 127.0.0.2 is a different
// host address on this machine. netnsThird is a routable (TEST-NET-1)
// address that TestPASVToARoutableThirdHost gives the loopback of its own
// network namespace.
const (
	loopbackThird = "127.0.0.2"
	netnsThird    = "192.0.2.7"
)

// hostileServer is a control connection that logs anyone in, refuses EPSV
// (so the client falls back to PASV) and names thirdHost in its PASV reply,
// while it really listens on its own address at the same port. It stores
// what STOR sends to its own data port.
type hostileServer struct {
	addr   string
	host   string            // the third host
	third  *countingListener // on thirdHost: must never see a byte
	own    net.Listener      // on 127.0.0.1, same port
	mu     sync.Mutex
	stored []byte

	// active: EPRT/PORT are accepted and, before the server connects back,
	// thirdHost connects to the client's port first.
	thirdActive chan []byte // what thirdHost read from the client's port
}

// countingListener accepts every connection and counts what arrives.
type countingListener struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	bytes int
}

func (l *countingListener) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		l.conns++
		l.mu.Unlock()
		go func() {
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			l.mu.Lock()
			l.bytes += int(n)
			l.mu.Unlock()
		}()
	}
}

func (l *countingListener) seen() (conns, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns, l.bytes
}

// listenPair listens on thirdHost and 127.0.0.1 at one port.
func listenPair(t *testing.T, thirdHost string) (third, own net.Listener) {
	t.Helper()
	for range 20 {
		a, err := net.Listen("tcp4", thirdHost+":0")
		if err != nil {
			t.Fatalf("cannot listen on %s: %v", thirdHost, err)
		}
		port := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			return a, b
		}
		a.Close()
	}
	t.Fatal("no port free on both addresses")
	return nil, nil
}

func startHostile(t *testing.T, thirdHost string) *hostileServer {
	t.Helper()
	ctrl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	third, own := listenPair(t, thirdHost)
	h := &hostileServer{addr: ctrl.Addr().String(), host: thirdHost, third: &countingListener{ln: third}, own: own, thirdActive: make(chan []byte, 1)}
	go h.third.serve()
	t.Cleanup(func() { ctrl.Close(); third.Close(); own.Close() })
	go func() {
		for {
			c, err := ctrl.Accept()
			if err != nil {
				return
			}
			go h.session(c)
		}
	}()
	return h
}

func (h *hostileServer) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 hostile")
	port := h.own.Addr().(*net.TCPAddr).Port
	var active string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "USER":
			say("331 password")
		case "PASS":
			say("230 in")
		case "TYPE":
			say("200 ok")
		case "EPSV":
			say("500 EPSV not understood") // push the client to PASV
		case "PASV":
			a := net.ParseIP(h.host).To4()
			say(fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff))
		case "EPRT":
			f := strings.Split(arg, "|")
			if len(f) != 5 {
				say("501 bad EPRT")
				continue
			}
			active = net.JoinHostPort(f[2], f[3])
			say("200 EPRT ok")
		case "STOR":
			if active != "" {
				h.storActive(c, say, active)
				active = ""
				continue
			}
			say("150 send it")
			dc, err := h.own.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(dc)
			dc.Close()
			h.mu.Lock()
			h.stored = b
			h.mu.Unlock()
			say("226 stored")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not here")
		}
	}
}

// storActive has thirdHost connect to the client's active port first, then
// connects itself from the server's address and stores what comes.
func (h *hostileServer) storActive(c net.Conn, say func(string), target string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(h.host)}, Timeout: 5 * time.Second}
	tc, err := d.Dial("tcp4", target)
	if err != nil {
		say("425 third host cannot connect")
		return
	}
	say("150 send it")
	go func() {
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(tc)
		h.thirdActive <- b
	}()
	time.Sleep(100 * time.Millisecond) // the client meets the third host's connection first
	dc, err := net.DialTimeout("tcp4", target, 5*time.Second)
	if err != nil {
		say("425 cannot connect")
		return
	}
	b, _ := io.ReadAll(dc)
	dc.Close()
	h.mu.Lock()
	h.stored = b
	h.mu.Unlock()
	say("226 stored")
}

func (h *hostileServer) connect(t *testing.T, opts Options) *Conn {
	t.Helper()
	host, port, _ := net.SplitHostPort(h.addr)
	opts.TLS, opts.Timeout = TLSOff, 10*time.Second
	c, err := Connect(context.Background(), &Target{Host: host, Port: port}, opts, "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Regression (issue 9): a server answering EPSV with 500 and PASV with a
// third host made the client send the file's bytes there. By default the
// PASV address is ignored and the data goes to the control peer.
func TestPASVToAThirdHostSendsItNothing(t *testing.T) {
	testPASVToThirdHost(t, loopbackThird)
}

// The same with a routable third host: the client used to ignore only
// private and loopback addresses (as a NAT fix), so the attack needs a
// public one. The test re-runs itself in a network namespace whose loopback
// also holds netnsThird, so nothing outside it is touched.
func TestPASVToARoutableThirdHostSendsItNothing(t *testing.T) {
	if os.Getenv("WHARF_TEST_IN_NETNS") == "1" {
		testPASVToThirdHost(t, netnsThird)
		return
	}
	ip := testenv.Tool(t, "ip")
	ns := fmt.Sprintf("wharf-client-test-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		testenv.Missing(t, "a network namespace (ip netns add: root or CAP_SYS_ADMIN)", fmt.Errorf("%v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() })
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", netnsThird + "/32", "dev", "lo"}} {
		if out, err := exec.Command(ip, append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %v: %v: %s", ns, args, err, out)
		}
	}
	cmd := testenv.Self("TestPASVToARoutableThirdHostSendsItNothing", []string{"WHARF_TEST_IN_NETNS=1"}, ip, "netns", "exec", ns)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in the network namespace: %v\n%s", err, out)
	}
}

func testPASVToThirdHost(t *testing.T, third string) {
	h := startHostile(t, third)
	c := h.connect(t, Options{})
	data := bytes.Repeat([]byte("secret upload "), 1000)
	if _, err := c.Stor(context.Background(), "f", 0, bytes.NewReader(data)); err != nil {
		t.Fatalf("Stor: %v", err)
	}
	h.mu.Lock()
	got := h.stored
	h.mu.Unlock()
	if !bytes.Equal(got, data) {
		t.Fatalf("the server's own data port got %d bytes, want %d", len(got), len(data))
	}
	time.Sleep(100 * time.Millisecond)
	if conns, n := h.third.seen(); conns != 0 || n != 0 {
		t.Fatalf("%s got %d connection(s) and %d bytes", third, conns, n)
	}
}

// --pasv-address is the user's explicit choice to follow the reply.
func TestPASVAddressOptionFollowsTheReply(t *testing.T) {
	h := startHostile(t, loopbackThird)
	c := h.connect(t, Options{PasvAddress: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// The hostile server never answers that upload: cancel it and wait for
	// it before the cleanup closes the connection under it.
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		c.Stor(ctx, "f", 0, strings.NewReader("to the named host"))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if conns, _ := h.third.seen(); conns > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("with PasvAddress the client did not connect to %s", loopbackThird)
}

// Active mode: whoever reaches the client's listening port first got the
// upload (port theft). Only the control peer's connection is taken.
func TestActiveModeTakesOnlyTheServersConnection(t *testing.T) {
	h := startHostile(t, loopbackThird)
	c := h.connect(t, Options{Active: true})
	data := bytes.Repeat([]byte("active upload "), 1000)
	if _, err := c.Stor(context.Background(), "f", 0, bytes.NewReader(data)); err != nil {
		t.Fatalf("Stor: %v", err)
	}
	select {
	case b := <-h.thirdActive:
		if len(b) != 0 {
			t.Fatalf("the third host read %d bytes of the upload", len(b))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third host's connection was neither served nor closed")
	}
	h.mu.Lock()
	got := h.stored
	h.mu.Unlock()
	if !bytes.Equal(got, data) {
		t.Fatalf("the server got %d bytes, want %d", len(got), len(data))
	}
}

// The client side of the bare-LF class (issue 9): a name holding a line
// break must never reach the server as two commands, whatever the server
// does with a bare LF. The command is refused before anything is sent and
// the connection stays usable.
func TestNamesWithLineBreaksAreNeverSent(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	victim := filepath.Join(home, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := login(t, tg, Options{})
	ctx := context.Background()
	for _, name := range []string{"a\nDELE victim", "a\rDELE victim", "a\r\nDELE victim"} {
		if _, err := c.Size(ctx, name); err == nil {
			t.Errorf("Size(%q) was sent", name)
		}
		if err := c.Cwd(ctx, name); err == nil {
			t.Errorf("Cwd(%q) was sent", name)
		}
		if _, err := c.Stor(ctx, name, 0, strings.NewReader("x")); err == nil {
			t.Errorf("Stor(%q) was sent", name)
		}
		if _, _, err := c.Quote(ctx, "NOOP "+name); err == nil {
			t.Errorf("Quote(%q) was sent", name)
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection unusable after the refusals: %v", err)
	}
	if _, err := c.Pwd(ctx); err != nil {
		t.Fatalf("Pwd after the refusals: %v", err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("victim: %v", err)
	}
}
