package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jlaffaye/ftp"
)

// The cluster on one S3 bucket (versitygw): every node runs with
// --storage s3://BUCKET/PREFIX, so what one node stores the others read
// from the bucket, and the quota's figures are compared with the objects
// listed through the S3 API.
func TestClusterOnS3(t *testing.T) {
	c := startCluster(t, 2, onS3)
	t.Run("UploadOnOneNodeReadOnTheOther", func(t *testing.T) { testS3CrossNode(t, c) })
	t.Run("PassiveAndExtendedPassive", func(t *testing.T) { testTransfers(t, c) })
	t.Run("RenameAndDeleteSeenOnTheOther", func(t *testing.T) { testS3RenameDelete(t, c) })
	t.Run("QuotaRaceOverBothNodes", func(t *testing.T) { testQuotaRace(t, c) })
	t.Run("NodeRestartKeepsTheOthersUploads", func(t *testing.T) { testS3Restart(t, c) })
	// Last: it leaves one node dead.
	t.Run("NodeKilledMidUpload", func(t *testing.T) { testS3NodeKilled(t, c) })
}

// sessionsOnEveryNode logs user in through the balancer until it has one
// session on each node (told by a listing's data connection).
func sessionsOnEveryNode(t *testing.T, c *cluster, user string) map[string]*ftp.ServerConn {
	t.Helper()
	got := map[string]*ftp.ServerConn{}
	for try := 0; len(got) < len(c.Nodes); try++ {
		if try > 10 {
			t.Fatalf("sessions reached only %v", got)
		}
		var mu sync.Mutex
		var node string
		sc := dialFTP(t, c, user, func(n string) { mu.Lock(); node = n; mu.Unlock() })
		if _, err := sc.List("/"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := node
		mu.Unlock()
		if got[n] != nil || n == "" {
			sc.Quit()
			continue
		}
		got[n] = sc
	}
	return got
}

func retr(t *testing.T, sc *ftp.ServerConn, name string) []byte {
	t.Helper()
	r, err := sc.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

// checkUsage compares the user's usage with the objects under the home:
// equal, and nothing reserved.
func checkUsage(t *testing.T, c *cluster, user, home string) int64 {
	t.Helper()
	used, reserved, _, err := c.row(context.Background(), c.pgConn(), user)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.stored(home)
	if err != nil {
		t.Fatal(err)
	}
	if used != stored || reserved != 0 {
		t.Fatalf("%s: usage %d, reserved %d, objects under %s hold %d", user, used, reserved, c.homeKey(home), stored)
	}
	return stored
}

// A file uploaded through one node is read back through the other, both
// ways, small (one PutObject) and past the first part (a multipart
// upload), SHA-256 identical, and the object in the bucket is the same.
func testS3CrossNode(t *testing.T, c *cluster) {
	home := c.addUser("cross")
	s := sessionsOnEveryNode(t, c, "cross")
	a, b := s[c.Nodes[0].Name], s[c.Nodes[1].Name]
	for i, size := range []int{100_000, 20 << 20} {
		for dir, pair := range [][2]*ftp.ServerConn{{a, b}, {b, a}} {
			name := fmt.Sprintf("f%d-%d.bin", i, dir)
			data := randomData(t, size)
			if err := pair[0].Stor(name, bytes.NewReader(data)); err != nil {
				t.Fatalf("STOR %s: %v", name, err)
			}
			if got := retr(t, pair[1], name); sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("%s read through the other node differs (%d bytes of %d)", name, len(got), size)
			}
			if got, err := c.readStored(home, name); err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("object of %s differs (%v)", name, err)
			}
		}
	}
	checkUsage(t, c, "cross", home)
	if ups, err := c.multipartUploads(); err != nil || len(ups) != 0 {
		t.Fatalf("multipart uploads left after complete uploads: %d (%v)", len(ups), err)
	}
}

// A rename and a delete of a file, and a rename of a folder, on one node
// are seen at once by the other (they are the bucket's), and usage stays
// the objects' sum.
func testS3RenameDelete(t *testing.T, c *cluster) {
	home := c.addUser("mv")
	s := sessionsOnEveryNode(t, c, "mv")
	a, b := s[c.Nodes[0].Name], s[c.Nodes[1].Name]
	data := randomData(t, 300_000)
	if err := a.Stor("a.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := b.Rename("a.bin", "b.bin"); err != nil {
		t.Fatalf("RNFR/RNTO on the other node: %v", err)
	}
	if _, err := a.FileSize("a.bin"); err == nil {
		t.Fatal("the renamed file is still there for the first node")
	}
	if n, err := a.FileSize("b.bin"); err != nil || n != int64(len(data)) {
		t.Fatalf("SIZE of the new name on the first node: %d, %v", n, err)
	}
	if got := retr(t, a, "b.bin"); !bytes.Equal(got, data) {
		t.Fatal("renamed file differs")
	}
	if err := a.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	if err := a.Stor("d/x.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := b.Rename("d", "e"); err != nil {
		t.Fatalf("folder rename on the other node: %v", err)
	}
	if got := retr(t, a, "e/x.bin"); !bytes.Equal(got, data) {
		t.Fatal("file of the renamed folder differs")
	}
	if err := a.Delete("b.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FileSize("b.bin"); err == nil {
		t.Fatal("the deleted file is still there for the other node")
	}
	names, err := b.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "e" {
		t.Fatalf("listing on the other node after the changes: %v", names)
	}
	checkUsage(t, c, "mv", home)
}

// waitUsed waits until the user's usage reaches n bytes: an upload on S3
// is no object until it completes, so the database says how far it got.
func waitUsed(t *testing.T, c *cluster, user string, n int64) {
	t.Helper()
	conn := c.pgConn()
	deadline := time.Now().Add(20 * time.Second)
	for {
		used, _, _, err := c.row(context.Background(), conn, user)
		if err == nil && used >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: usage %d after 20 s, waiting for %d (%v)", user, used, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) nodeNamed(name string) *node {
	for _, nd := range c.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	c.t.Fatalf("no node %q", name)
	return nil
}

// restart stops nd (SIGTERM) and starts it again.
func (c *cluster) restart(nd *node) {
	c.t.Helper()
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	<-done
	c.start(nd)
	c.waitNode(nd)
}

// A node that starts while another node uploads into the bucket (a
// restart, a node added) leaves that upload alone, and its first login of
// the uploading user does not recount the home under it: the upload
// completes, identical, and usage is the objects' sum.
func testS3Restart(t *testing.T, c *cluster) {
	const size = 24 << 20
	home := c.addUser("rst", "--rate-up", "4MiB/s")
	var mu sync.Mutex
	var uploader string
	sc := dialFTP(t, c, "rst", func(n string) { mu.Lock(); uploader = n; mu.Unlock() })
	data := randomData(t, size)
	errc := make(chan error, 1)
	go func() { errc <- sc.Stor("big.bin", bytes.NewReader(data)) }()
	// Past the first part: the multipart upload exists.
	waitUsed(t, c, "rst", 9<<20)
	mu.Lock()
	up := uploader
	mu.Unlock()
	var other *node
	for _, nd := range c.Nodes {
		if nd.Name != up {
			other = nd
		}
	}
	c.restart(other)
	// The restarted node's first session of the user, while the upload
	// runs on the other node.
	for {
		r, err := c.rawFrom("127.0.0.31", true)
		if err != nil {
			t.Fatal(err)
		}
		if r.node == other.Name {
			r.login(t, "rst", "pw")
			r.Close()
			break
		}
		r.Close()
	}
	select {
	case err := <-errc:
		t.Fatalf("the upload ended before the restarted node's login: %v", err)
	default:
	}
	if err := <-errc; err != nil {
		t.Fatalf("upload on %s while %s restarted: %v", up, other.Name, err)
	}
	if got, err := c.readStored(home, "big.bin"); err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("object differs after the restart (%d bytes, %v)", len(got), err)
	}
	checkUsage(t, c, "rst", home)
}

// A node killed (SIGKILL) mid-upload on S3: what it was sending is in a
// multipart upload, no object, so the client finds nothing with SIZE and
// uploads again through the other node. Once the dead node's lease has
// ended, the other node gives back what the dead upload had counted and
// aborts its multipart upload: usage is the objects' sum and no multipart
// upload is left.
func testS3NodeKilled(t *testing.T, c *cluster) {
	const size = 24 << 20
	home := c.addUser("kill", "--rate-up", "4MiB/s")
	// Both nodes have settled the home at a first login: what the dead
	// upload counted is the sweep's to give back, not a recount's.
	sessionsOnEveryNode(t, c, "kill")
	data := randomData(t, size)
	var victim string
	var mu sync.Mutex
	sc := dialFTP(t, c, "kill", func(n string) { mu.Lock(); victim = n; mu.Unlock() })
	errc := make(chan error, 1)
	go func() { errc <- sc.Stor("big.bin", bytes.NewReader(data)) }()
	waitUsed(t, c, "kill", 9<<20)
	ups, err := c.multipartUploads()
	if err != nil || len(ups) != 1 {
		t.Fatalf("multipart uploads during the upload: %d (%v)", len(ups), err)
	}
	// The sweep's grace for young uploads needs the store to say when an
	// upload began (versitygw does).
	if age := time.Since(aws.ToTime(ups[0].Initiated)); ups[0].Initiated == nil || age < -2*time.Second || age > time.Minute {
		t.Fatalf("the multipart upload's start: %v (%v ago)", ups[0].Initiated, age)
	}
	mu.Lock()
	dead := c.nodeNamed(victim)
	mu.Unlock()
	c.kill(dead)
	if err := <-errc; err == nil {
		t.Fatal("the upload through a killed node succeeded")
	}
	// The client connects again (the balancer skips the dead node) and
	// resumes from what SIZE says, or uploads again when there is nothing.
	sc2 := dialFTP(t, c, "kill", nil)
	off, err := sc2.FileSize("big.bin")
	if err != nil {
		off = 0
	}
	t.Logf("SIZE after the kill: %d (%v)", off, err)
	if err := sc2.StorFrom("big.bin", bytes.NewReader(data[off:]), uint64(off)); err != nil {
		t.Fatalf("upload again from %d: %v", off, err)
	}
	if got, err := c.readStored(home, "big.bin"); err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("object differs after the upload again (%d bytes, %v)", len(got), err)
	}
	if got := retr(t, sc2, "big.bin"); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("download differs")
	}
	// The dead node's lease ends within 30 s; then usage is exact and its
	// multipart upload is gone.
	conn := c.pgConn()
	deadline := time.Now().Add(60 * time.Second)
	for {
		used, reserved, _, err := c.row(context.Background(), conn, "kill")
		stored, serr := c.stored(home)
		ups, uerr := c.multipartUploads()
		if err == nil && serr == nil && uerr == nil && used == stored && reserved == 0 && len(ups) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var keys []string
			for _, u := range ups {
				keys = append(keys, aws.ToString(u.Key))
			}
			t.Fatalf("60 s after the kill: usage %d, reserved %d, stored %d, multipart uploads %v (%v %v %v)", used, reserved, stored, keys, err, serr, uerr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if stored, _ := c.stored(home); stored != size {
		t.Fatalf("stored %d, want %d", stored, size)
	}
}
