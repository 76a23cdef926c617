package s3vfs_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharfftp/wharf/internal/vfs"

	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
	"github.com/wharfftp/wharf/internal/vfs/vfstest"
)

func newHome(t *testing.T, e *s3test.Engine, prefix, home string) *s3vfs.FS {
	t.Helper()
	b, err := s3vfs.New(e.Client, e.Bucket, prefix, s3vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.Home(home)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestS3Conformance(t *testing.T) {
	e := s3test.Start(t)
	vfstest.RunStorage(t, newHome(t, e, "pre/fix", "alice"))
}

func TestS3KeysAreThePrefixHomeAndTheClientsNames(t *testing.T) {
	e := s3test.Start(t)
	h := newHome(t, e, "pre", "bob")
	ctx := context.Background()
	if err := h.Mkdir(ctx, "docs", 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, h, "docs/report 1.txt", vfs.CreateOptions{}, []byte("hi"))
	out, err := e.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bucket, Prefix: aws.String("pre/bob/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if want := []string{"pre/bob/docs/", "pre/bob/docs/report 1.txt"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	// A file another tool wrote shows in listings.
	if _, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.Bucket, Key: aws.String("pre/bob/docs/other.bin"), Body: strings.NewReader("xyz")}); err != nil {
		t.Fatal(err)
	}
	l, err := h.List(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := l.Next(100)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if want := []string{"other.bin", "report 1.txt"}; !slices.Equal(names, want) {
		t.Fatalf("listing %v, want %v", names, want)
	}
	// Another home is out of reach.
	other := newHome(t, e, "pre", "carol")
	if _, err := other.Stat(ctx, "docs"); !errors.Is(err, vfs.ErrNotExist) {
		t.Fatalf("carol sees bob's folder: %v", err)
	}
	for _, bad := range []string{"../bob/docs", "/docs", "a//b", "docs/"} {
		if _, err := other.Stat(ctx, bad); err == nil || errors.Is(err, vfs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want a refusal of the name", bad, err)
		}
	}
	if _, err := s3vfs.New(e.Client, e.Bucket, "pre", s3vfs.Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := s3vfs.New(e.Client, e.Bucket, "pre", s3vfs.Options{})
	for _, bad := range []string{"..", ".wharf", "a/../b", ""} {
		if _, err := b.Home(bad); err == nil {
			t.Errorf("Home(%q) accepted", bad)
		}
	}
	if n, files, err := b.Usage(ctx, "bob"); err != nil || n != 5 || files != 2 {
		t.Fatalf("Usage = %d bytes %d files %v, want 5 and 2", n, files, err)
	}
}

func put(t *testing.T, h vfs.Storage, name string, o vfs.CreateOptions, data []byte) {
	t.Helper()
	ctx := context.Background()
	u, err := h.Create(ctx, name, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two big uploads creating one name at once: the conditional complete
// lets exactly one of them create it.
func TestS3ConcurrentMultipartCreatesOneWinner(t *testing.T) {
	e := s3test.Start(t)
	h := newHome(t, e, "", "dave")
	ctx := context.Background()
	data := [2][]byte{bytes.Repeat([]byte{'a'}, 9<<20), bytes.Repeat([]byte{'b'}, 9<<20)}
	var ups [2]vfs.Upload
	for i := range ups {
		u, err := h.Create(ctx, "same", vfs.CreateOptions{NoReplace: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(data[i]); err != nil {
			t.Fatal(err)
		}
		ups[i] = u
	}
	var errs [2]error
	var wg sync.WaitGroup
	for i := range ups {
		wg.Go(func() { _, errs[i] = ups[i].Commit(ctx) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, vfs.ErrExist):
			ups[i].Abandon(ctx)
		default:
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d uploads created the file, want 1 (%v)", won, errs)
	}
	up, err := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left open", len(up.Uploads))
	}
}

func TestS3SweepAbortsUploadsADeadServerLeft(t *testing.T) {
	e := s3test.Start(t)
	h := newHome(t, e, "p", "erin")
	ctx := context.Background()
	u, err := h.Create(ctx, "orphan", vfs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write(make([]byte, 9<<20)) // a part sent: a multipart upload exists
	time.Sleep(1100 * time.Millisecond)
	// The process "dies" here: u is never committed nor abandoned.
	b, _ := s3vfs.New(e.Client, e.Bucket, "p", s3vfs.Options{})
	n, err := b.Sweep(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 upload aborted", n, err)
	}
	up, _ := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket})
	if len(up.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left after the sweep", len(up.Uploads))
	}
	if _, err := h.Stat(ctx, "orphan"); !errors.Is(err, vfs.ErrNotExist) {
		t.Fatalf("an unfinished upload became visible: %v", err)
	}
}

// A store that stops answering is a transient error, in bounded time.
func TestS3OutageIsTransient(t *testing.T) {
	e := s3test.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := s3vfs.NewClient(context.Background(), s3vfs.ClientOptions{Endpoint: "http://" + addr, PathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3test.Access, s3test.Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s3vfs.New(c, e.Bucket, "", s3vfs.Options{})
	h, _ := b.Home("frank")
	start := time.Now()
	_, err = h.Stat(context.Background(), "x")
	if !errors.Is(err, vfs.ErrTransient) {
		t.Fatalf("Stat with the store down: %v, want ErrTransient", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}
