// Package s3test starts a real S3 engine (versitygw) for tests: a
// process on a loopback port over a temporary folder, with a fresh
// bucket. It must never be imported by non-test code.
package s3test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs"
)

// Access and Secret are the engine's credentials.
const (
	Access = "wharf-test-access"
	Secret = "wharf-test-secret-key"
)

// Engine is a running versitygw.
type Engine struct {
	Endpoint string // http://127.0.0.1:PORT
	Bucket   string
	Dir      string // the posix folder behind it
	Client   *s3.Client

	bin, addr string
	log       *os.File
	cmd       *exec.Cmd // nil while stopped
}

// Binary finds versitygw: on PATH or in ~/go/bin (where go install puts
// it). Missing, the test is skipped, or fails when CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, "go", "bin", "versitygw"); fileExists(p) {
			return p
		}
	}
	testenv.Missing(t, "versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", exec.ErrNotFound)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start runs a versitygw for the test and creates a bucket in it.
func Start(t testing.TB) *Engine {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	logf, _ := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	e := &Engine{Endpoint: "http://" + addr, Bucket: "wharf-test", Dir: dir, bin: bin, addr: addr, log: logf}
	e.run(t)
	t.Cleanup(func() {
		e.Stop()
		logf.Close()
	})
	e.Client = e.NewClient(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := e.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(e.Bucket)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("versitygw did not come up: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

func (e *Engine) run(t testing.TB) {
	t.Helper()
	cmd := exec.Command(e.bin, "--access", Access, "--secret", Secret, "--port", e.addr, "posix", e.Dir)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.cmd = cmd
}

// Stop kills the engine (an outage); Restart brings it back on the same
// address and folder.
func (e *Engine) Stop() {
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Kill()
	e.cmd.Wait()
	e.cmd = nil
}

// Restart starts a stopped engine again and waits until it answers.
func (e *Engine) Restart(t testing.TB) {
	t.Helper()
	e.run(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := e.Client.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(e.Bucket)})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewClient returns a client of the engine.
func (e *Engine) NewClient(t testing.TB) *s3.Client {
	c, err := s3vfs.NewClient(context.Background(), s3vfs.ClientOptions{Endpoint: e.Endpoint, PathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(Access, Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Env is the environment a wharf process needs to reach the engine
// through the AWS default credential chain.
func (e *Engine) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + Access, "AWS_SECRET_ACCESS_KEY=" + Secret, "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true"}
}

// URL is the --storage URL of the bucket under prefix.
func (e *Engine) URL(prefix string) string {
	if prefix == "" {
		return "s3://" + e.Bucket
	}
	return fmt.Sprintf("s3://%s/%s", e.Bucket, prefix)
}
