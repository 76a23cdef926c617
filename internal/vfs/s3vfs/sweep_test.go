package s3vfs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// Regression: the start-up sweep aborted every multipart upload under the
// prefix started before it, so a node (re)starting beside another one on
// the same bucket (the nodes of a cluster, or two servers sharing a
// prefix) killed the other's uploads in flight: their commit failed and
// the client's file was lost. A node's sweep now aborts only the uploads
// its own predecessor recorded (and any upload past StaleUploadAge).
func TestS3SweepOfOneNodeLeavesAnotherNodesUploadsInFlight(t *testing.T) {
	e := s3test.Start(t)
	ctx := context.Background()
	bucket := func(node string) *s3vfs.Bucket {
		b, err := s3vfs.New(e.Client, e.Bucket, "p", s3vfs.Options{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n1 := bucket("n1")
	h1, _ := n1.Home("alice")
	live, err := h1.Create(ctx, "live.bin", vfs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 9<<20)
	if _, err := live.Write(data); err != nil { // a part sent: a multipart upload exists
		t.Fatal(err)
	}
	// n1 also had an upload when it "died" (never committed nor
	// abandoned): its next process, same node, must abort it.
	dead, err := h1.Create(ctx, "dead.bin", vfs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dead.Write(data)
	time.Sleep(1100 * time.Millisecond) // past the engine's second-granular upload times

	// Node n2 starts beside n1: none of n1's uploads is its to abort.
	if n, err := bucket("n2").Sweep(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("n2's sweep = %d, %v; want nothing aborted", n, err)
	}
	if _, err := live.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Commit(ctx); err != nil {
		t.Fatalf("n1's upload after n2's start: %v", err)
	}
	if fi, err := h1.Stat(ctx, "live.bin"); err != nil || fi.Size() != int64(len(data)+1000) {
		t.Fatalf("live.bin: %v", err)
	}
	// n1 restarted: what its predecessor left is aborted.
	if n, err := bucket("n1").Sweep(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("n1's sweep = %d, %v; want the 1 upload it left", n, err)
	}
	up, err := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left", len(up.Uploads))
	}
	if _, err := h1.Stat(ctx, "dead.bin"); !errors.Is(err, vfs.ErrNotExist) {
		t.Fatalf("dead.bin: %v", err)
	}
	// Nothing of the bookkeeping is left either.
	out, err := e.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bucket, Prefix: aws.String("p/.wharf/uploads/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Fatalf("%d upload records left", len(out.Contents))
	}
}
