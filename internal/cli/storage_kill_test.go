package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// killableServe runs `wharf serve ARGS...` and returns its address once it
// serves, with a kill that SIGKILLs it (a crash: nothing is cleaned up)
// and waits for it to be gone.
func killableServe(t *testing.T, environ []string, args ...string) (addr string, logs *syncBuffer, kill func()) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	logs = &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr, cmd.Stdout = pw, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := scanLines(pr, regexp.MustCompile(`msg="serving ftp" listen=(\S+)`), func(line string) { logs.Write([]byte(line + "\n")) })
	exited := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(exited) }()
	kill = func() { cmd.Process.Kill(); <-exited }
	t.Cleanup(kill)
	select {
	case m, ok := <-ready:
		if !ok {
			t.Fatalf("wharf serve ended before it was ready; log:\n%s", logs)
		}
		return m[1], logs, kill
	case <-time.After(30 * time.Second):
		t.Fatalf("wharf serve not ready; log:\n%s", logs)
	}
	return "", nil, nil
}

// `wharf serve` on S3 SIGKILLed in the middle of uploads of every kind (a
// new file past a part, a replacement, an APPE): the bucket holds their
// multipart uploads, which nothing would ever complete or abort. The
// restarted server's start-up sweep aborts them all before it serves,
// the files stay as they were before the uploads began (what the killed
// server was uploading is dropped, as the README says), and the user's
// usage, counted at the first login after the restart, is what the
// bucket holds; a rescan agrees.
func TestServeS3KilledMidUploadLeavesNoMultipartUploadAndCountsWhatIsStored(t *testing.T) {
	e := s3test.Start(t)
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s := &storageServer{backend: "s3", data: filepath.Join(t.TempDir(), "data"), s3: e,
		st: []string{"--storage", e.URL("pfx"), "--s3-endpoint", e.Endpoint}}
	env := newClientEnv(t)
	if code, _, errs := env.run("alicepw\n", append([]string{"user", "add", "alice", "--data", s.data, "--password-stdin", "--quota", "1GiB"}, s.st...)...); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	args := append([]string{"--data", s.data, "--listen", "127.0.0.1:0", "--data-timeout", "10s"}, s.st...)
	var kill func()
	s.addr, s.logs, kill = killableServe(t, e.Env(), args...)

	r := s.dialCtl(t, "alice")
	store := func(cmd string, data []byte) {
		t.Helper()
		dc := r.data()
		r.must(cmd, 150)
		if _, err := dc.Write(data); err != nil {
			t.Fatal(err)
		}
		dc.Close()
		r.expect(226)
	}
	small, big := randBytes(3<<20), randBytes(10<<20+5)
	store("STOR small.bin", small)
	store("STOR big.bin", big)

	// Uploads in flight, each with a multipart upload in the bucket: a
	// new file past its first part, a replacement past its first part, an
	// APPE (its kept bytes are copied server-side at once).
	for _, cmd := range []string{"STOR new.bin", "STOR small.bin", "APPE big.bin"} {
		c := s.dialCtl(t, "alice")
		dc := c.data()
		c.must(cmd, 150)
		if _, err := dc.Write(randBytes(9 << 20)); err != nil {
			t.Fatal(err)
		}
		// Left open: the server is killed in the middle.
	}
	ctx := context.Background()
	open := func() int {
		t.Helper()
		out, err := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.Bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	for deadline := time.Now().Add(30 * time.Second); open() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d multipart uploads started, want 3; log:\n%s", open(), s.logs)
		}
	}
	kill()
	if n := open(); n != 3 {
		t.Fatalf("%d multipart uploads after the kill, want the 3 it cut", n)
	}

	s.addr, s.logs, _ = killableServe(t, e.Env(), args...)
	if n := open(); n != 0 {
		t.Fatalf("%d multipart uploads left once the restarted server serves, want none; log:\n%s", n, s.logs)
	}
	if !strings.Contains(s.logs.String(), "aborted uploads a previous server left") {
		t.Errorf("the start-up sweep did not say what it aborted; log:\n%s", s.logs)
	}
	if !bytes.Equal(s.stored(t, "alice", "small.bin"), small) || !bytes.Equal(s.stored(t, "alice", "big.bin"), big) {
		t.Fatal("a file changed by an upload the crash cut")
	}
	if s.stored(t, "alice", "new.bin") != nil {
		t.Fatal("a new file the crash cut appeared")
	}

	want := s.storedBytes(t, "alice")
	r = s.dialCtl(t, "alice")
	quota := func() string {
		t.Helper()
		return r.must("SITE QUOTA", 200)
	}
	if q := quota(); !strings.Contains(q, fmt.Sprintf("(%d bytes)", want)) || !strings.Contains(q, "Files used: 2") {
		t.Fatalf("SITE QUOTA after the restart:\n%s\nwant %d bytes in 2 files (what the bucket holds)", q, want)
	}
	// The server writes usage behind: wait for the stored figure.
	show := func() userJSON {
		t.Helper()
		code, out, errs := env.run("", append([]string{"user", "show", "alice", "--json", "--data", s.data}, s.st...)...)
		if code != 0 {
			t.Fatalf("user show: %d %s", code, errs)
		}
		var u userJSON
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if u := show(); u.UsedBytes == want && u.UsedFiles == 2 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("user show after the restart: %d bytes in %d files, want %d in 2", u.UsedBytes, u.UsedFiles, want)
		}
	}
	if code, _, errs := env.run("", append([]string{"user", "rescan", "alice", "--data", s.data}, s.st...)...); code != 0 {
		t.Fatalf("user rescan: %d %s", code, errs)
	}
	if u := show(); u.UsedBytes != want || u.UsedFiles != 2 {
		t.Fatalf("after a rescan: %d bytes in %d files, want %d in 2", u.UsedBytes, u.UsedFiles, want)
	}
	// The client uploads the dropped file again; usage follows.
	again := randBytes(9 << 20)
	dc := r.data()
	r.must("STOR new.bin", 150)
	dc.Write(again)
	dc.Close()
	r.expect(226)
	if q := quota(); !strings.Contains(q, fmt.Sprintf("(%d bytes)", want+int64(len(again)))) || !strings.Contains(q, "Files used: 3") {
		t.Fatalf("SITE QUOTA after the upload again:\n%s", q)
	}
}

// Regression: a server starting on a bucket prefix another server (a
// cluster's other node) was uploading to aborted that server's multipart
// uploads in its start-up sweep: the upload in flight failed at its end
// and the file was lost. Each node's sweep now aborts only what a process
// of its own --node name left.
func TestServeS3NodeStartingBesideAnotherLeavesItsUploadsInFlight(t *testing.T) {
	e := s3test.Start(t)
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	st := []string{"--storage", e.URL("pfx"), "--s3-endpoint", e.Endpoint}
	env := newClientEnv(t)
	node := func(name string) *storageServer {
		s := &storageServer{backend: "s3", data: filepath.Join(t.TempDir(), "data"), s3: e, st: st}
		if code, _, errs := env.run("alicepw\n", append([]string{"user", "add", "alice", "--data", s.data, "--password-stdin"}, st...)...); code != 0 {
			t.Fatalf("user add: %d %s", code, errs)
		}
		s.addr, s.logs, _ = killableServe(t, e.Env(), append([]string{"--data", s.data, "--listen", "127.0.0.1:0", "--node", name}, st...)...)
		return s
	}
	n1 := node("n1")
	r := n1.dialCtl(t, "alice")
	dc := r.data()
	r.must("STOR long.bin", 150)
	data := randBytes(12 << 20)
	if _, err := dc.Write(data[:9<<20]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := e.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.Bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never became a multipart upload")
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the engine's second-granular upload times
	n2 := node("n2")
	if strings.Contains(n2.logs.String(), "aborted uploads") {
		t.Errorf("n2's start-up sweep aborted uploads:\n%s", n2.logs)
	}
	if _, err := dc.Write(data[9<<20:]); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	r.expect(226)
	if !bytes.Equal(n1.stored(t, "alice", "long.bin"), data) {
		t.Fatal("the upload n1 finished after n2 started is not stored whole")
	}
}
