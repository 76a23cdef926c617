package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// The cluster's failures: the database restarted under load, a node
// killed mid-upload.
func TestClusterFailures(t *testing.T) {
	c := startCluster(t, 2, onSharedFolder)
	t.Run("PostgreSQLRestartUnderLoad", func(t *testing.T) { testPGRestart(t, c) })
	// Last: it leaves one node dead.
	t.Run("NodeKilledMidUpload", func(t *testing.T) { testNodeKilled(t, c) })
}

// Uploads run on both nodes while PostgreSQL restarts: each ends with a
// reply (done, or refused cleanly), a login during the outage gets 421,
// the nodes reconnect by themselves, and usage is exactly the bytes
// stored: no settle lost, none counted twice.
func testPGRestart(t *testing.T, c *cluster) {
	const size = 3 << 20
	// A rate per node keeps the uploads running across the outage.
	home := c.addUser("pgr", "--quota", strconv.Itoa(100<<20), "--rate-up", "3MiB/s")
	var sessions []*ftp.ServerConn
	for range 4 {
		sessions = append(sessions, dialFTP(t, c, "pgr", nil))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sessions))
	for i, sc := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sc.Stor(fmt.Sprintf("up%d.bin", i), bytes.NewReader(randomData(t, size)))
		}()
	}
	time.Sleep(700 * time.Millisecond)
	c.pg.Stop()
	// A login while the database is down is refused with 421 on the node
	// it reaches.
	r, err := c.rawFrom("127.0.0.21", true)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd("USER pgr")
	if code, msg, _ := r.cmd("PASS pw"); code != 421 {
		t.Errorf("login during the outage on %s: %d %s, want 421", r.node, code, msg)
	}
	r.Close()
	time.Sleep(300 * time.Millisecond)
	c.pg.Restart(0)
	wg.Wait()
	done := 0
	for i, err := range errs {
		if err == nil {
			done++
		} else {
			t.Logf("upload %d: %v", i, err)
		}
	}
	// The nodes reconnect by themselves: a login on each works again.
	seen := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for len(seen) < len(c.Nodes) {
		r, err := c.rawFrom("127.0.0.22", true)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd("USER pgr")
		if code, _, _ := r.cmd("PASS pw"); code == 230 {
			seen[r.node] = true
		} else if time.Now().After(deadline) {
			t.Fatalf("no login on %s 15 s after the database came back: %d", r.node, code)
		}
		r.Close()
		time.Sleep(20 * time.Millisecond)
	}
	conn := c.pgConn()
	used, _, _, err := c.row(context.Background(), conn, "pgr")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := duHome(home)
	if err != nil {
		t.Fatal(err)
	}
	if used != stored {
		t.Fatalf("after the restart usage is %d, stored %d (%d of %d uploads done)", used, stored, done, len(errs))
	}
	// Reserves and settles are retried through a short outage, so the
	// uploads carry on rather than fail.
	if done != len(errs) {
		t.Fatalf("%d of %d uploads completed across a short outage", done, len(errs))
	}
	t.Logf("%d of %d uploads completed across the restart; usage = stored = %d", done, len(errs), stored)
}

// A node killed (SIGKILL) in the middle of an upload: the client connects
// again through the balancer, reaches the other node, finds with SIZE what
// arrived (once the dead node's lease has ended, the other node settles
// its temporary file and counts it by what is stored), resumes with
// REST+STOR, and ends with the file it sent; usage is exactly the bytes
// stored, the last chunk the dead node never settled included.
func testNodeKilled(t *testing.T, c *cluster) {
	const size = 24 << 20
	home := c.addUser("kill", "--rate-up", "4MiB/s")
	data := randomData(t, size)
	var victim string
	var mu sync.Mutex
	sc := dialFTP(t, c, "kill", func(n string) { mu.Lock(); victim = n; mu.Unlock() })
	errc := make(chan error, 1)
	go func() { errc <- sc.Stor("big.bin", bytes.NewReader(data)) }()
	// Wait for a few MiB in the temporary file, then kill its node.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := duHome(home); n >= 5<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	name := victim
	mu.Unlock()
	var dead *node
	for _, nd := range c.Nodes {
		if nd.Name == name {
			dead = nd
		}
	}
	if dead == nil {
		t.Fatalf("no node for the upload's data connection (%q)", name)
	}
	c.kill(dead)
	if err := <-errc; err == nil {
		t.Fatal("the upload through a killed node succeeded")
	}
	// Through the balancer again: the dead node is skipped (health check,
	// redispatch). SIZE finds the partial file once the lease has ended.
	var off int64
	var sc2 *ftp.ServerConn
	deadline = time.Now().Add(3 * time.Minute)
	for {
		sc2 = dialFTP(t, c, "kill", nil)
		n, err := sc2.FileSize("big.bin")
		if err == nil {
			off = n
			break
		}
		sc2.Quit()
		if time.Now().After(deadline) {
			t.Fatalf("SIZE still fails: %v", err)
		}
		time.Sleep(time.Second)
	}
	if off <= 0 || off >= size {
		t.Fatalf("SIZE after the crash = %d of %d", off, size)
	}
	if err := sc2.StorFrom("big.bin", bytes.NewReader(data[off:]), uint64(off)); err != nil {
		t.Fatalf("resume from %d: %v", off, err)
	}
	got, err := os.ReadFile(filepath.Join(home, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("resumed file differs (%d bytes, want %d)", len(got), size)
	}
	used, _, _, err := c.row(context.Background(), c.pgConn(), "kill")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := duHome(home)
	if used != stored || stored != size {
		t.Fatalf("usage %d, stored %d, file %d", used, stored, size)
	}
}
