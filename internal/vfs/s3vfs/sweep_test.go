package s3vfs_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

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

// A folder rename cut after its copies (here the store refuses the first
// delete; a killed server stops at the same place) leaves every file at
// its old name and some at the new one; the node's next start-up Sweep
// finishes it from the journal: every file under the new name only, with
// its stored checksum, and no journal left.
func TestS3FolderRenameCutPartWayIsFinishedBySweep(t *testing.T) {
	e := s3test.Start(t)
	ctx := context.Background()
	var failDeletes atomic.Int32
	hooked := s3.New(e.Client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-delete",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if d, ok := in.Parameters.(*s3.DeleteObjectInput); ok && !strings.Contains(aws.ToString(d.Key), "/.wharf/") && failDeletes.Add(-1) >= 0 {
						return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: the server dies here")
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	})
	b, err := s3vfs.New(hooked, e.Bucket, "p", s3vfs.Options{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := b.Home("alice")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Mkdir(ctx, "d", 0o755))
	must(h.Mkdir(ctx, "d/sub", 0o755))
	files := map[string]string{"d/a": "aaa", "d/b": "bbbb", "d/sub/c": "cc"}
	for name, body := range files {
		put(t, h, name, vfs.CreateOptions{}, []byte(body))
	}
	failDeletes.Store(1)
	if err := h.Rename(ctx, "d", "e"); err == nil {
		t.Fatal("the cut rename succeeded")
	}
	for name := range files {
		if _, err := h.Stat(ctx, name); err != nil {
			t.Fatalf("%s after the cut rename: %v (want it still at its old name)", name, err)
		}
	}
	// The node starts again.
	b2, _ := s3vfs.New(e.Client, e.Bucket, "p", s3vfs.Options{Node: "n1"})
	if _, err := b2.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	h2, _ := b2.Home("alice")
	for name, body := range files {
		moved := "e" + strings.TrimPrefix(name, "d")
		r, err := h2.OpenRead(ctx, moved, 0)
		if err != nil {
			t.Fatalf("%s after the sweep: %v", moved, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != body {
			t.Fatalf("%s = %q, want %q", moved, got, body)
		}
		if sum, ok, err := h2.Checksum(ctx, moved, "SHA-256"); err != nil || !ok || sum != fmt.Sprintf("%x", sha256.Sum256([]byte(body))) {
			t.Errorf("%s: stored checksum %q %v %v", moved, sum, ok, err)
		}
		if _, err := h2.Stat(ctx, name); !errors.Is(err, vfs.ErrNotExist) {
			t.Errorf("%s still there after the sweep: %v", name, err)
		}
	}
	if _, err := h2.Stat(ctx, "d"); !errors.Is(err, vfs.ErrNotExist) {
		t.Errorf("the old folder is still there: %v", err)
	}
	out, err := e.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bucket, Prefix: aws.String("p/.wharf/renames/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Fatalf("%d rename journals left", len(out.Contents))
	}
	// A rename that is not cut leaves no journal either.
	must(h2.Rename(ctx, "e", "f"))
	out, _ = e.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bucket, Prefix: aws.String("p/.wharf/renames/")})
	if len(out.Contents) != 0 {
		t.Fatalf("%d rename journals left by a rename that finished", len(out.Contents))
	}
}
