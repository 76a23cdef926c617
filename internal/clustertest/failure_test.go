package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// The cluster's failures: the database restarted under load, a node
// killed mid-upload.
func TestClusterFailures(t *testing.T) {
	c := startCluster(t, 2)
	t.Run("PostgreSQLRestartUnderLoad", func(t *testing.T) { testPGRestart(t, c) })
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
