package s3vfs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// A download that races a commit of the same name (the object replaced
// between OpenRead's look and its GET) opens the new object whole, as a
// reader of a local file opened a moment later would; it once failed
// with ErrExist (the GET's If-Match answered 412), a 550 to the client.
// The race is made certain: a middleware replaces the object just before
// the first GET.
func TestS3OpenReadOfAnObjectReplacedMeanwhileReadsTheNewOne(t *testing.T) {
	e := s3test.Start(t)
	key := "pre/alice/f.txt"
	put := func(body string) {
		t.Helper()
		if _, err := e.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("old contents")
	var armed, puts atomic.Int32
	var last atomic.Value // the body of the last put
	hooked := s3.New(e.Client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("replace-before-get",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*s3.GetObjectInput); ok && armed.Add(-1) >= 0 {
						body := fmt.Sprintf("new contents, version %d", puts.Add(1))
						put(body)
						last.Store(body)
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	})
	b, err := s3vfs.New(hooked, e.Bucket, "pre", s3vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.Home("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{1, 2} { // once, and twice in a row
		armed.Store(n)
		r, err := h.OpenRead(context.Background(), "f.txt", 0)
		if err != nil {
			t.Fatalf("OpenRead of an object replaced %d times meanwhile: %v", n, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != last.Load().(string) || r.Info().Size() != int64(len(got)) {
			t.Fatalf("read %q (size %d), %v; want the new object whole", got, r.Info().Size(), err)
		}
	}
	// Replaced on every try: a transient refusal (451), never ErrExist's 550 alone.
	armed.Store(100)
	_, err = h.OpenRead(context.Background(), "f.txt", 0)
	if err == nil || !errors.Is(err, vfs.ErrTransient) {
		t.Fatalf("OpenRead of an object replaced on every try: %v, want ErrTransient", err)
	}
}
