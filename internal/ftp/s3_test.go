package ftp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// The engine on a real bucket (versitygw), with the S3 client wharf uses
// wrapped by a middleware that sees every request: what the protocol
// promises on object storage that a client cannot see (no read of the
// object, pages fetched as the listing goes) is checked on the requests
// themselves.

// s3Hook sees each S3 request of the server before it is sent.
type s3Hook func(ctx context.Context, in any)

func startS3(t *testing.T, hook s3Hook) (*ftptest.Server, *s3test.Engine) {
	t.Helper()
	e := s3test.Start(t)
	hooked := s3.New(e.Client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("test-hook",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					hook(ctx, in.Parameters)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	})
	b, err := s3vfs.New(hooked, e.Bucket, "pfx", s3vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.OpenStorage = func(u accounts.User) (vfs.Storage, error) { return b.Home(u.Name) }
	}})
	srv.Users.Set(accounts.User{Name: "alice", Perms: accounts.PresetFull}, "secret")
	return srv, e
}

func rawStore(t *testing.T, r *raw, cmd string, data []byte) {
	t.Helper()
	dc := dataConn(t, r)
	r.must(cmd, 150)
	if _, err := dc.Write(data); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	r.expect(226)
}

// HASH of a whole file answers from the SHA-256 stored when it was
// uploaded, without a GET of the object; APPE and REST+STOR at the end
// continue the stored hash state (and copy the kept bytes server-side),
// so neither reads the object either. A file written by another tool has
// no stored sum: HASH reads it.
func TestS3HashAnswersFromTheStoredSumAndResumesContinueIt(t *testing.T) {
	var objectGets atomic.Int32
	srv, e := startS3(t, func(_ context.Context, in any) {
		if g, ok := in.(*s3.GetObjectInput); ok && !strings.Contains(aws.ToString(g.Key), "/.wharf/") {
			objectGets.Add(1)
		}
	})
	r := dialRaw(t, srv.Addr)
	r.c.SetDeadline(time.Now().Add(2 * time.Minute))
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	hash := func(name string, data []byte) {
		t.Helper()
		if msg, want := r.must("HASH "+name, 213), fmt.Sprintf("SHA-256 0-%d %s %s", len(data)-1, sum(data), name); msg != want {
			t.Fatalf("HASH = %q, want %q", msg, want)
		}
	}
	noGets := func(what string) {
		t.Helper()
		if n := objectGets.Swap(0); n != 0 {
			t.Errorf("%s: %d GETs of the object, want none", what, n)
		}
	}
	data := randomBytes(t, 9<<20+4321) // a multipart upload
	rawStore(t, r, "STOR big.bin", data)
	noGets("STOR")
	hash("big.bin", data)
	noGets("HASH after STOR")

	more := randomBytes(t, 1<<20)
	rawStore(t, r, "APPE big.bin", more)
	data = append(data, more...)
	noGets("APPE")
	hash("big.bin", data)
	noGets("HASH after APPE")

	more = randomBytes(t, 300_000)
	r.must(fmt.Sprintf("REST %d", len(data)), 350)
	rawStore(t, r, "STOR big.bin", more)
	data = append(data, more...)
	noGets("REST+STOR at the end")
	hash("big.bin", data)
	noGets("HASH after the resume")

	// Renamed, the file keeps its stored sum.
	r.must("RNFR big.bin", 350)
	r.must("RNTO moved.bin", 250)
	hash("moved.bin", data)
	noGets("HASH after RNTO")
	// MFMT copies the object onto itself with new metadata: still known.
	r.must("MFMT 20200102030405 moved.bin", 213)
	if msg := r.must("MDTM moved.bin", 213); msg != "20200102030405" {
		t.Errorf("MDTM after MFMT = %q, want the time kept in the object's metadata", msg)
	}
	if msg := r.must("SIZE moved.bin", 213); msg != fmt.Sprint(len(data)) {
		t.Errorf("SIZE = %q, want %d", msg, len(data))
	}
	hash("moved.bin", data)
	noGets("HASH after MFMT")

	// A range, or a file another tool wrote, is read.
	r.must("RANG 0 99", 350)
	if msg, want := r.must("HASH moved.bin", 213), fmt.Sprintf("SHA-256 0-99 %s moved.bin", sum(data[:100])); msg != want {
		t.Fatalf("HASH of a range = %q, want %q", msg, want)
	}
	if objectGets.Swap(0) == 0 {
		t.Error("HASH of a range answered without reading the object")
	}
	other := randomBytes(t, 100_000)
	if _, err := e.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.Bucket),
		Key: aws.String("pfx/alice/other.bin"), Body: strings.NewReader(string(other))}); err != nil {
		t.Fatal(err)
	}
	hash("other.bin", other)
	if objectGets.Swap(0) == 0 {
		t.Error("HASH of a file wharf did not upload answered without reading it")
	}
	// Replaced behind wharf's back, the stored sum no longer holds.
	if _, err := e.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.Bucket),
		Key: aws.String("pfx/alice/moved.bin"), Body: strings.NewReader(string(other))}); err != nil {
		t.Fatal(err)
	}
	hash("moved.bin", other)
}

// A listing of a folder past one ListObjectsV2 page (1,000 keys) streams:
// the client has the first entries before the server asks for the next
// page, and gets every entry exactly once. Renaming that folder, past the
// documented bound of 1,000 objects, is refused with a clear 550 before
// anything is copied: every file stays under its old name, none appears
// under the new one.
func TestS3ListingStreamsPagesAndABigFolderRenameIsRefused(t *testing.T) {
	const n = s3vfs.MaxFolderRenameObjects + 100
	release := make(chan struct{})
	var armed, waited, gaveUp atomic.Bool
	srv, e := startS3(t, func(_ context.Context, in any) {
		l, ok := in.(*s3.ListObjectsV2Input)
		if !ok || l.ContinuationToken == nil || aws.ToString(l.Delimiter) != "/" || !armed.Load() {
			return
		}
		// The second page of the armed listing waits for the client
		// to have entries of the first (a fail-safe ends the wait).
		waited.Store(true)
		select {
		case <-release:
		case <-time.After(60 * time.Second):
			gaveUp.Store(true)
		}
	})
	ctx := context.Background()
	// The folder's files, put by another tool (long names: the first
	// page alone is past the engine's 64 KiB write buffer).
	name := func(i int) string { return fmt.Sprintf("file-with-a-rather-long-name-so-lines-are-wide-%05d.dat", i) }
	if _, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String("pfx/alice/big/"),
		Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := atomic.Int32{}
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Bucket),
					Key: aws.String("pfx/alice/big/" + name(i)), Body: strings.NewReader("x")}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	r := dialRaw(t, srv.Addr)
	r.c.SetDeadline(time.Now().Add(3 * time.Minute))
	r.login("alice", "secret")
	armed.Store(true)
	dc := dataConn(t, r)
	r.must("MLSD big", 150)
	br := bufio.NewReader(dc)
	first, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("first MLSD line: %v", err)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	r.expect(226)
	armed.Store(false)
	if !waited.Load() {
		t.Fatal("the listing did not need a second page")
	}
	if gaveUp.Load() {
		t.Fatal("the client had no entry before the server fetched the second page: the listing was collected, not streamed")
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(first+string(rest)), "\r\n") {
		_, nm, _ := strings.Cut(line, " ")
		seen[nm]++
	}
	for i := range n {
		if seen[name(i)] != 1 {
			t.Fatalf("MLSD: %s listed %d times (%d names)", name(i), seen[name(i)], len(seen))
		}
	}
	if len(seen) != n {
		t.Fatalf("MLSD listed %d names, want %d", len(seen), n)
	}
	for _, cmd := range []string{"NLST big", "LIST big"} {
		dc = dataConn(t, r)
		r.must(cmd, 150)
		b, _ := io.ReadAll(dc)
		r.expect(226)
		if got := strings.Count(string(b), "\r\n"); got != n {
			t.Fatalf("%s: %d lines, want %d", cmd, got, n)
		}
	}
	// STAT of a folder lists it on the control connection.
	if msg := r.must("STAT big", 212); strings.Count(msg, ".dat") != n {
		t.Fatalf("STAT big: %d entries, want %d", strings.Count(msg, ".dat"), n)
	}
	if msg := r.must("MLST big/"+name(7), 250); !strings.Contains(msg, "size=1;") || !strings.Contains(msg, "type=file;") {
		t.Fatalf("MLST of a file another tool put: %q", msg)
	}
	// No free space to report on a bucket: AVBL is the quota's room.
	srv.Users.Set(accounts.User{Name: "bob", Perms: accounts.PresetFull, QuotaBytes: 5000}, "pw")
	rb := dialRaw(t, srv.Addr)
	rb.login("bob", "pw")
	if msg := rb.must("AVBL", 213); msg != "5000" {
		t.Fatalf("AVBL of a user with a 5000-byte quota on S3: %q", msg)
	}

	r.must("RNFR big", 350)
	if code, msg := r.send("RNTO big2"); code != 550 || !strings.Contains(strings.ToLower(msg), "too large") {
		t.Fatalf("RNTO of a folder of %d files: %d %q, want 550 saying it is too large", n, code, msg)
	}
	count := func(prefix string) int {
		t.Helper()
		total := 0
		p := s3.NewListObjectsV2Paginator(e.Client, &s3.ListObjectsV2Input{Bucket: aws.String(e.Bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			total += len(out.Contents)
		}
		return total
	}
	if got := count("pfx/alice/big/"); got != n+1 {
		t.Errorf("%d objects under the old name after the refused rename, want %d", got, n+1)
	}
	if got := count("pfx/alice/big2"); got != 0 {
		t.Errorf("%d objects under the new name after the refused rename, want none", got)
	}
	// The session goes on; the folder is still there.
	r.must("CWD big", 250)
}
