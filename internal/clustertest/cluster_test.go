package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/testenv"
)

// One cluster serves every subtest: starting PostgreSQL, two nodes and
// HAProxy is most of the cost. Subtests run one after the other, each with
// users of its own, so round-robin order is theirs alone.
func TestClusterThroughHAProxy(t *testing.T) {
	c := startCluster(t, 2, onSharedFolder, "--ban-after", "3", "--ban-time", "1m")
	t.Run("LoginsLandOnEveryNode", func(t *testing.T) { testLoginsSpread(t, c) })
	t.Run("PassiveAndExtendedPassive", func(t *testing.T) { testTransfers(t, c) })
	t.Run("CurlAndLftpOverTLSWithSessionReuse", func(t *testing.T) { testTLSClients(t, c) })
	t.Run("SessionLimitAcrossNodes", func(t *testing.T) { testSessionLimit(t, c) })
	t.Run("BanOnOneNodeHoldsOnTheOther", func(t *testing.T) { testBan(t, c) })
	t.Run("DisableCutsSessionsOnBothNodes", func(t *testing.T) { testDisable(t, c) })
	t.Run("PasswordChangeAndDeleteOnBothNodes", func(t *testing.T) { testPasswdAndDelete(t, c) })
	t.Run("QuotaRaceOverBothNodes", func(t *testing.T) { testQuotaRace(t, c) })
	t.Run("ReplacementsRaceOverBothNodes", func(t *testing.T) { testReplaceRace(t, c) })
	t.Run("RateSharedAcrossNodes", func(t *testing.T) { testRateShared(t, c) })
	t.Run("InPlaceWriteHoldsTheNameOnEveryNode", func(t *testing.T) { testInPlaceAcrossNodes(t, c) })
	t.Run("ReplacedFileRoomIsOneUploadsAcrossNodes", func(t *testing.T) { testCreditAcrossNodes(t, c) })
}

func testLoginsSpread(t *testing.T, c *cluster) {
	c.addUser("spread")
	seen := map[string]int{}
	for range 6 {
		r, err := c.rawFrom("", true)
		if err != nil {
			t.Fatal(err)
		}
		r.login(t, "spread", "pw")
		seen[r.node]++
		r.Close()
	}
	if len(seen) != len(c.Nodes) {
		t.Fatalf("six logins landed on %v, want every one of %d nodes", seen, len(c.Nodes))
	}
}

// dialFTP logs in with jlaffaye/ftp through the balancer and reports the
// node of each data connection (by its passive port) to seen.
func dialFTP(t *testing.T, c *cluster, user string, seen func(node string), opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	dial := func(network, address string) (net.Conn, error) {
		if _, p, err := net.SplitHostPort(address); err == nil && seen != nil {
			if port, _ := strconv.Atoi(p); port != c.ControlPort {
				seen(c.nodeOfPort(port))
			}
		}
		return net.DialTimeout(network, address, 5*time.Second)
	}
	sc, err := ftp.Dial(c.addr(), append([]ftp.DialOption{ftp.DialWithTimeout(10 * time.Second), ftp.DialWithDialFunc(dial)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Login(user, "pw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Quit() })
	return sc
}

func randomData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func testTransfers(t *testing.T, c *cluster) {
	home := c.addUser("xfer")
	for _, mode := range []struct {
		name string
		opts []ftp.DialOption
	}{{"EPSV", nil}, {"PASV", []ftp.DialOption{ftp.DialWithDisabledEPSV(true)}}} {
		var mu sync.Mutex
		nodes := map[string]bool{}
		for i := range 4 {
			sc := dialFTP(t, c, "xfer", func(n string) { mu.Lock(); nodes[n] = true; mu.Unlock() }, mode.opts...)
			data := randomData(t, 300_000+i)
			name := fmt.Sprintf("%s-%d.bin", mode.name, i)
			if err := sc.Stor(name, bytes.NewReader(data)); err != nil {
				t.Fatalf("%s STOR: %v", mode.name, err)
			}
			got, err := c.readStored(home, name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: stored file differs (%v)", mode.name, err)
			}
			resp, err := sc.Retr(name)
			if err != nil {
				t.Fatal(err)
			}
			var back bytes.Buffer
			back.ReadFrom(resp)
			resp.Close()
			if !bytes.Equal(back.Bytes(), data) {
				t.Fatalf("%s: downloaded file differs", mode.name)
			}
			sc.Quit()
		}
		if len(nodes) != len(c.Nodes) || nodes[""] {
			t.Fatalf("%s data connections reached %v, want each node's own range", mode.name, nodes)
		}
	}
}

func testTLSClients(t *testing.T, c *cluster) {
	curl := testenv.Tool(t, "curl")
	lftp := testenv.Tool(t, "lftp")
	home := c.addUser("tls", "--tls-required")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := randomData(t, 700_000)
	os.WriteFile(src, data, 0o644)
	url := "ftp://tls:pw@" + c.addr() + "/"
	// The nodes require data connections to resume the control
	// connection's TLS session (--tls-require-reuse, on by default), so
	// every transfer below proves the session was reused across the
	// balancer: control and data of one session reach the same node.
	for i, args := range [][]string{{}, {"--disable-epsv"}} {
		remote := fmt.Sprintf("curl-%d.bin", i)
		run := func(a ...string) {
			t.Helper()
			full := append([]string{"-sS", "--fail", "--max-time", "30", "--ssl-reqd", "-k"}, args...)
			if out, err := exec.Command(curl, append(full, a...)...).CombinedOutput(); err != nil {
				t.Fatalf("curl %v: %v\n%s", a, err, out)
			}
		}
		run("-T", src, url+remote)
		run("-o", filepath.Join(dir, remote), url+remote)
		if got, _ := os.ReadFile(filepath.Join(home, remote)); !bytes.Equal(got, data) {
			t.Fatalf("curl %v upload differs", args)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, remote)); !bytes.Equal(got, data) {
			t.Fatalf("curl %v download differs", args)
		}
	}
	for i := range 2 {
		script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ssl:ca-file %s; set ssl:check-hostname no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes;
open -u tls,pw -p %d %s; put %s -o /lftp-%d.bin; get /lftp-%d.bin -o %s/lftp-%d.bin; quit`, c.cert, c.ControlPort, balancerHost, src, i, i, dir, i)
		if out, err := exec.Command(lftp, "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("lftp: %v\n%s", err, out)
		}
		for _, p := range []string{filepath.Join(home, fmt.Sprintf("lftp-%d.bin", i)), filepath.Join(dir, fmt.Sprintf("lftp-%d.bin", i))} {
			if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
				t.Fatalf("lftp round trip %d differs at %s", i, p)
			}
		}
	}
}

func testSessionLimit(t *testing.T, c *cluster) {
	c.addUser("lim", "--max-sessions", "2")
	// Refused logins count towards a ban: from an address of their own.
	const limitSrc = "127.0.0.11"
	var open []*raw
	nodes := map[string]bool{}
	for range 2 {
		r, err := c.rawFrom(limitSrc, true)
		if err != nil {
			t.Fatal(err)
		}
		r.login(t, "lim", "pw")
		nodes[r.node] = true
		open = append(open, r)
	}
	if len(nodes) != 2 {
		t.Fatalf("the two sessions are both on %v; round-robin should spread them", nodes)
	}
	for range 2 { // the third session is refused on either node
		r, err := c.rawFrom(limitSrc, true)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd("USER lim")
		if code, msg, _ := r.cmd("PASS pw"); code == 230 {
			t.Fatalf("a third session of a user limited to 2 logged in on %s: %s", r.node, msg)
		}
		r.Close()
	}
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.rawFrom(limitSrc, true)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd("USER lim")
		code, _, _ := r.cmd("PASS pw")
		r.Close()
		if code == 230 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot 5 s after a session closed: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	open[1].Close()
}

func testBan(t *testing.T, c *cluster) {
	c.addUser("victim")
	const src = "127.0.0.9" // the failing client; others are not banned with it
	target := ""
	for failures := 0; failures < 3; {
		r, err := c.rawFrom(src, true)
		if err != nil {
			t.Fatalf("after %d failures: %v", failures, err)
		}
		if target == "" {
			target = r.node
		}
		if r.node == target {
			r.cmd("USER victim")
			// 530; the failure that bans answers 421 at once.
			if code, _, _ := r.cmd("PASS wrong"); code != 530 && !(code == 421 && failures == 2) {
				t.Fatalf("wrong password: %d", code)
			}
			failures++
		}
		r.Close()
	}
	// Every failure was on one node; every node now refuses the address.
	refused := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for len(refused) < len(c.Nodes) {
		r, err := c.rawFrom(src, false)
		if err == nil {
			if r.first == 220 {
				if time.Now().After(deadline) {
					t.Fatalf("node %s still greets %s after 3 failures on %s", r.node, src, target)
				}
			} else {
				refused[fmt.Sprint(len(refused))] = true
			}
			r.Close()
		} else {
			// Closed without a word counts as refused too.
			refused[fmt.Sprint(len(refused))] = true
		}
	}
	// Connections round-robin: the refusals above reached both nodes.
	r, err := c.rawFrom("127.0.0.10", true)
	if err != nil {
		t.Fatalf("another address is refused too: %v", err)
	}
	r.login(t, "victim", "pw")
	r.Close()
}

func testDisable(t *testing.T, c *cluster) {
	c.addUser("dis")
	const disableSrc = "127.0.0.12" // see testSessionLimit
	byNode := map[string]*raw{}
	for len(byNode) < len(c.Nodes) {
		r, err := c.rawFrom(disableSrc, true)
		if err != nil {
			t.Fatal(err)
		}
		if byNode[r.node] != nil {
			r.Close()
			continue
		}
		r.login(t, "dis", "pw")
		byNode[r.node] = r
	}
	c.wharf("user", "set", "dis", "--disable")
	start := time.Now()
	for node, r := range byNode {
		for {
			code, msg, err := r.cmd("NOOP")
			if code == 421 {
				break
			}
			if err != nil && code == 0 {
				t.Fatalf("node %s: %v", node, err)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("node %s still serves a disabled user after 1 s: %d %s", node, code, msg)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.conn.Close()
	}
	r, err := c.rawFrom(disableSrc, true)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd("USER dis")
	if code, _, _ := r.cmd("PASS pw"); code == 230 {
		t.Fatal("a disabled user logged in")
	}
	r.Close()
}

// duHome sums the regular files below dir (temporary upload files too:
// they are stored bytes).
func duHome(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // an upload renamed meanwhile
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

func testQuotaRace(t *testing.T, c *cluster) {
	const quota = 3<<20 + 12345
	home := c.addUser("race", "--quota", strconv.Itoa(quota))
	os.MkdirAll(home, 0o755)
	conn := c.pgConn()
	ctx := context.Background()
	var mu sync.Mutex
	perNode := map[string]int{}
	var sessions []*ftp.ServerConn
	for range 10 {
		sessions = append(sessions, dialFTP(t, c, "race", func(n string) { mu.Lock(); perNode[n]++; mu.Unlock() }))
	}
	stop := make(chan struct{})
	var worst atomic.Value
	var polls atomic.Int64
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			used, reserved, _, err := c.row(ctx, conn, "race")
			stored, derr := c.stored(home)
			if err == nil && derr == nil {
				polls.Add(1)
				if used > quota || used+reserved > quota || stored > quota {
					worst.Store(fmt.Sprintf("used %d, reserved %d, stored %d", used, reserved, stored))
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var refused atomic.Int64
	start := make(chan struct{})
	for i, sc := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := sc.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(randomData(t, 1<<20)))
			if err != nil {
				if !strings.Contains(err.Error(), "552") {
					t.Errorf("upload %d: %v", i, err)
				}
				refused.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	<-pollDone
	if w := worst.Load(); w != nil {
		t.Fatalf("quota %d passed at some moment: %s", quota, w)
	}
	if polls.Load() < 5 {
		t.Fatalf("only %d polls during the race", polls.Load())
	}
	if perNode[c.Nodes[0].Name] != 5 || perNode[c.Nodes[1].Name] != 5 {
		t.Fatalf("uploads per node: %v, want 5 and 5", perNode)
	}
	used, reserved, _, err := c.row(ctx, conn, "race")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.stored(home)
	if err != nil {
		t.Fatal(err)
	}
	if used != stored || reserved != 0 || used != quota || refused.Load() < 6 {
		t.Fatalf("usage %d, reserved %d, stored %d, quota %d, %d uploads refused", used, reserved, stored, quota, refused.Load())
	}
}

// Two uploads of one user with --rate-up, one on each node, share the
// rate: together they take about their total over the rate, where a limit
// per node let them finish in half that.
func testRateShared(t *testing.T, c *cluster) {
	const rate, size = 2 << 20, 2 << 20
	c.addUser("rate", "--rate-up", "2MiB/s")
	var mu sync.Mutex
	perNode := map[string]int{}
	var sessions []*ftp.ServerConn
	for range 2 {
		sessions = append(sessions, dialFTP(t, c, "rate", func(n string) { mu.Lock(); perNode[n]++; mu.Unlock() }))
	}
	// Let both nodes see both sessions (shares are refreshed every 250 ms).
	time.Sleep(600 * time.Millisecond)
	start := time.Now()
	var wg sync.WaitGroup
	for i, sc := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sc.Stor(fmt.Sprintf("r%d.bin", i), bytes.NewReader(randomData(t, size))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if len(perNode) != 2 {
		t.Fatalf("uploads per node %v, want one on each", perNode)
	}
	// 4 MiB at 2 MiB/s: 2 s, less a burst of an eighth of a second per
	// node; a limit per node would take about 1 s.
	if min := 1600 * time.Millisecond; took < min {
		t.Fatalf("two uploads of %d bytes at a shared %d B/s took %v, want at least %v", size, rate, took, min)
	}
	t.Logf("two uploads of %d bytes on two nodes at a shared %d B/s took %v", size, rate, took)
}

// Sessions on both nodes replace, delete and rename over the same few
// names at once: every commit, DELE and RNTO counts what it did to the
// name under a lock all nodes share, so usage ends equal to what is
// stored. With the locks of one process only, two nodes replacing one
// file at once each counted the same original as freed.
func testReplaceRace(t *testing.T, c *cluster) {
	home := c.addUser("repl")
	var sessions []*ftp.ServerConn
	var mu sync.Mutex
	perNode := map[string]int{}
	for range 8 {
		sessions = append(sessions, dialFTP(t, c, "repl", func(n string) { mu.Lock(); perNode[n]++; mu.Unlock() }))
	}
	var wg sync.WaitGroup
	for i, sc := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 12 {
				name := fmt.Sprintf("same%d.bin", round%2)
				switch (i + round) % 5 {
				case 3:
					sc.Delete(name)
				case 4:
					sc.Rename(name, fmt.Sprintf("same%d.bin", (round+1)%2))
				default:
					data := randomData(t, 50_000+((i*7919+round*104729)%400_000))
					if err := sc.Stor(name, bytes.NewReader(data)); err != nil {
						t.Errorf("session %d round %d: %v", i, round, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(perNode) != 2 {
		t.Fatalf("transfers per node %v, want both nodes", perNode)
	}
	used, _, _, err := c.row(context.Background(), c.pgConn(), "repl")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.stored(home)
	if err != nil {
		t.Fatal(err)
	}
	if used != stored {
		t.Fatalf("after racing replacements on both nodes usage is %d, stored %d", used, stored)
	}
}

// A password changed through `wharf user passwd` holds on every node at
// the next login, and `wharf user del` ends the user's open sessions on
// every node (421 at their next command) within a second.
func testPasswdAndDelete(t *testing.T, c *cluster) {
	const src = "127.0.0.13" // refused logins count towards a ban
	c.addUser("pwd")
	byNode := map[string]*raw{}
	for len(byNode) < len(c.Nodes) {
		r, err := c.rawFrom(src, true)
		if err != nil {
			t.Fatal(err)
		}
		if byNode[r.node] != nil {
			r.Close()
			continue
		}
		r.login(t, "pwd", "pw")
		byNode[r.node] = r
	}
	c.wharfIn("new-pw\n", "user", "passwd", "pwd", "--password-stdin")
	// Two logins in a row reach both nodes (round-robin).
	for i := range 2 {
		r, err := c.rawFrom("127.0.0.14", true)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd("USER pwd")
		if code, _, _ := r.cmd("PASS pw"); code == 230 {
			t.Fatalf("old password accepted on %s after the change", r.node)
		}
		r.Close()
		r, err = c.rawFrom("127.0.0.15", true)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd("USER pwd")
		if code, msg, _ := r.cmd("PASS new-pw"); code != 230 {
			t.Fatalf("login %d with the new password on %s: %d %s", i, r.node, code, msg)
		}
		r.Close()
	}
	c.wharf("user", "del", "pwd")
	start := time.Now()
	for node, r := range byNode {
		for {
			code, msg, err := r.cmd("PWD")
			if code == 421 {
				break
			}
			if err != nil && code == 0 {
				t.Fatalf("node %s: %v", node, err)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("node %s still serves a deleted user after 1 s: %d %s", node, code, msg)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.conn.Close()
	}
}

// A write in place (APPE) on one node holds the name on the other: STOR,
// DELE and RNFR/RNTO of it there are refused with 450 until it ends, then
// work.
func testInPlaceAcrossNodes(t *testing.T, c *cluster) {
	home := c.addUser("inpl", "--rate-up", "1MiB/s")
	var mu sync.Mutex
	var writer string
	sc := dialFTP(t, c, "inpl", func(n string) { mu.Lock(); writer = n; mu.Unlock() })
	if err := sc.Stor("f.bin", bytes.NewReader(randomData(t, 1000))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sc.Append("f.bin", bytes.NewReader(randomData(t, 2<<20))) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(filepath.Join(home, "f.bin")); err == nil && fi.Size() > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the append did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	wnode := writer
	mu.Unlock()
	var other *raw
	for other == nil {
		r, err := c.rawFrom("127.0.0.16", true)
		if err != nil {
			t.Fatal(err)
		}
		if r.node == wnode {
			r.Close()
			continue
		}
		other = r
	}
	defer other.Close()
	other.login(t, "inpl", "pw")
	other.cmd("TYPE I")
	for _, step := range [][]string{{"DELE f.bin"}, {"RNFR f.bin", "RNTO g.bin"}, {"PASV", "STOR f.bin"}} {
		var code int
		var msg string
		for _, cmd := range step {
			code, msg, _ = other.cmd("%s", cmd)
		}
		if code != 450 {
			t.Fatalf("%v on %s while %s appends: %d %s, want 450", step, other.node, wnode, code, msg)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("append: %v", err)
	}
	if code, msg, _ := other.cmd("DELE f.bin"); code != 250 {
		t.Fatalf("DELE after the append ended: %d %s", code, msg)
	}
}

// An upload replacing a file may use that file's room; when another node
// deletes the file meanwhile, the upload loses that room at once
// (the database ends its credit before the file's room is counted free),
// so it cannot go on to fill the freed room on top: the user's files
// never pass the quota. With credits held per node, the first upload went
// on and the user ended about one file's size over the quota.
func testCreditAcrossNodes(t *testing.T, c *cluster) {
	const quota, orig = 3 << 20, 1 << 20
	home := c.addUser("cred", "--quota", strconv.Itoa(quota), "--rate-up", "1MiB/s")
	var mu sync.Mutex
	nodes := map[int]string{}
	seen := func(i int) func(string) {
		return func(n string) { mu.Lock(); nodes[i] = n; mu.Unlock() }
	}
	sa := dialFTP(t, c, "cred", seen(0))
	sb := dialFTP(t, c, "cred", seen(1))
	// The node of sb is known from its first transfer (x.bin below).
	// Usage 10 KB under the quota: a filler and the file to replace.
	if err := sa.Stor("filler.bin", bytes.NewReader(randomData(t, quota-orig-10_000))); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stor("x.bin", bytes.NewReader(randomData(t, orig))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sa.Stor("x.bin", bytes.NewReader(randomData(t, 2<<20))) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The replacement's temporary file is the only hidden one.
		if ents, _ := os.ReadDir(home); len(ents) == 3 {
			if fi, err := ents[0].Info(); err == nil && strings.HasPrefix(ents[0].Name(), ".") && fi.Size() > 200_000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the big replacement did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The other node takes the file away: its room is free now, and the
	// big replacement may no longer use it.
	if err := sb.Delete("x.bin"); err != nil {
		t.Fatalf("DELE on the other node: %v", err)
	}
	err := <-done
	mu.Lock()
	if nodes[0] == nodes[1] {
		t.Fatalf("both sessions on %s", nodes[0])
	}
	mu.Unlock()
	stored, derr := c.stored(home)
	used, _, _, rerr := c.row(context.Background(), c.pgConn(), "cred")
	if derr != nil || rerr != nil {
		t.Fatal(derr, rerr)
	}
	if stored > quota || used != stored {
		t.Fatalf("stored %d, usage %d, quota %d (the big replacement ended with %v)", stored, used, quota, err)
	}
	if err == nil {
		t.Fatal("the big replacement completed past the quota")
	}
}
