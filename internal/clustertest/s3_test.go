package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

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
