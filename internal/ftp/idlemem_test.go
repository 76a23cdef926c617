package ftp_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// The idle-memory tests count only the server's memory: the clients run in
// a child process (this test binary again, TestIdleClientsHelper), so their
// buffers and TLS state are not in this process's heap.

const (
	idleClientsEnv = "WHARF_TEST_IDLE_CLIENTS" // "ADDR N TLS"
	// idleSessionBudget is the bound for an idle session, TLS or
	// not: heap plus goroutine stack.
	idleSessionBudget = 32 << 10
)

// idleSessionBytes opens n logged-in idle sessions from a child process
// and returns the growth of this process's heap and stack memory per
// session.
func idleSessionBytes(t testing.TB, useTLS bool, n int) (heap, stack int64) {
	t.Helper()
	// WHARF_IDLE_HEAPPROF=FILE writes a heap profile of every allocation
	// the sessions still hold (go tool pprof -sample_index=inuse_space).
	prof := os.Getenv("WHARF_IDLE_HEAPPROF")
	if prof != "" {
		runtime.MemProfileRate = 1
	}
	// Logs go nowhere: the fixture's log buffer would grow with the
	// sessions and be counted as theirs.
	srv := ftptest.Start(t, ftptest.Options{TLS: useTLS, Configure: func(c *ftp.Config) {
		c.Logger = slog.New(slog.DiscardHandler)
	}})
	srv.Users.Add("alice", "secret", accounts.PresetFull)
	// Warm the pools, the login cache and the fixture with a first batch.
	spawnIdleClients(t, srv.Addr, 5, useTLS)
	before := settledMem()
	spawnIdleClients(t, srv.Addr, n, useTLS)
	after := settledMem()
	if prof != "" {
		w, err := os.Create(prof)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(w, 0)
		w.Close()
	}
	return (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n),
		(int64(after.StackInuse) - int64(before.StackInuse)) / int64(n)
}

// settledMem reads memory after the garbage collector has run enough
// times to shrink the stacks that a TLS handshake grew (each GC halves a
// stack that uses less than a quarter of it).
func settledMem() runtime.MemStats {
	time.Sleep(200 * time.Millisecond) // let the last replies go out
	for range 8 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// spawnIdleClients starts a child process holding n logged-in sessions
// and returns once all are logged in and idle; the child ends with the
// test.
func spawnIdleClients(t testing.TB, addr string, n int, useTLS bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %t", idleClientsEnv, addr, n, useTLS))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the child's signal to quit
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "IDLE-READY" {
			go io.Copy(io.Discard, stdout)
			return cmd
		}
	}
	t.Fatalf("idle clients ended before they were ready: %v", sc.Err())
	return nil
}

// TestIdleClientsHelper is the child process of spawnIdleClients; it does
// nothing in a normal run.
func TestIdleClientsHelper(t *testing.T) {
	spec := os.Getenv(idleClientsEnv)
	if spec == "" {
		t.Skip("helper process for the idle-memory tests")
	}
	var addr, tlsArg string
	var n int
	if _, err := fmt.Sscan(spec, &addr, &n, &tlsArg); err != nil {
		t.Fatalf("bad %s=%q: %v", idleClientsEnv, spec, err)
	}
	useTLS, _ := strconv.ParseBool(tlsArg)
	conf := &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1", NextProtos: []string{"ftp"},
		ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	for range n {
		r := dialRaw(t, addr)
		if useTLS {
			r.must("AUTH TLS", 234)
			tc := tls.Client(r.c, conf)
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			r = newRaw(t, tc)
			r.must("PBSZ 0", 200)
			r.must("PROT P", 200)
		}
		r.login("alice", "secret")
		r.must("PWD", 257)
		r.c.SetDeadline(time.Time{})
	}
	fmt.Println("IDLE-READY")
	io.Copy(io.Discard, os.Stdin)
}

func TestIdleSessionMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			heap, stack := idleSessionBytes(t, tc.tls, 200)
			t.Logf("idle %s session: %d bytes of heap + %d bytes of stack", tc.name, heap, stack)
			if heap+stack > idleSessionBudget {
				t.Fatalf("an idle %s session holds %d bytes (heap %d, stack %d), budget %d",
					tc.name, heap+stack, heap, stack, idleSessionBudget)
			}
		})
	}
}

// BenchmarkIdleSessionMemory reports the server's bytes per idle
// logged-in session (heap and goroutine stack), plain and TLS.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		b.Run(name, func(b *testing.B) {
			var heap, stack int64
			for b.Loop() {
				heap, stack = idleSessionBytes(b, useTLS, 200)
			}
			b.ReportMetric(float64(heap), "heap-B/session")
			b.ReportMetric(float64(stack), "stack-B/session")
			b.ReportMetric(float64(heap+stack), "B/session")
		})
	}
}
