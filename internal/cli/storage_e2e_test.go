package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// The end-to-end tests of `wharf serve` run over every storage (a table
// of backends), so the S3 backend keeps each promise the local disk
// makes, with the same clients: jlaffaye/ftp, curl, lftp, Python's
// ftplib.

// storageServer is a `wharf serve` on one storage, with users alice (no
// quota), bob (1 MiB) and carol (2 MiB).
type storageServer struct {
	backend string
	addr    string
	data    string
	s3      *s3test.Engine // nil on local disk
	homes   string         // the folder holding the homes on local disk
	st      []string       // the storage flags, for the user commands too
	logs    *syncBuffer
}

const storageBobQuota = 1 << 20

func serveOnStorage(t *testing.T, backend string) *storageServer {
	t.Helper()
	s := &storageServer{backend: backend, data: filepath.Join(t.TempDir(), "data")}
	s.homes = filepath.Join(s.data, "home")
	var st, environ []string
	switch backend {
	case "file:DIR":
		// Homes in a folder of their own, away from the data directory.
		s.homes = filepath.Join(t.TempDir(), "homes")
		st = []string{"--storage", "file:" + s.homes}
	case "s3":
		s.s3 = s3test.Start(t)
		// The user commands run in this process: the AWS chain reads the
		// process environment.
		for _, kv := range s.s3.Env() {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		st = []string{"--storage", s.s3.URL("pfx"), "--s3-endpoint", s.s3.Endpoint}
		environ = s.s3.Env()
	}
	s.st = st
	e := newClientEnv(t)
	for _, u := range [][]string{{"alice"}, {"bob", "--quota", "1MiB"}, {"carol", "--quota", "2MiB"}} {
		args := append(append([]string{"user", "add", u[0], "--data", s.data, "--password-stdin"}, u[1:]...), st...)
		if code, _, errs := e.run(u[0]+"pw\n", args...); code != 0 {
			t.Fatalf("user add %s: %d %s", u[0], code, errs)
		}
	}
	// Passive ports: any free one.
	args := append([]string{"--data", s.data, "--listen", "127.0.0.1:0", "--tls-self-signed", "--data-timeout", "10s",
		// 20 sessions log in at once from one address.
		"--max-prelogin-per-ip", "64"}, st...)
	s.addr, s.logs = startServe(t, environ, args...)
	return s
}

// stallTimeout bounds every read and write of the tests' FTP clients and
// every external client's run: a hang fails the test with what it was
// doing, instead of the package timing out silently.
const stallTimeout = 60 * time.Second

// stallConn is a connection whose every read and write must make progress
// within stallTimeout.
type stallConn struct{ net.Conn }

func (c stallConn) Read(p []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(stallTimeout))
	return c.Conn.Read(p)
}

func (c stallConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(stallTimeout))
	return c.Conn.Write(p)
}

func dialStall(addr string) (*ftp.ServerConn, error) {
	return ftp.Dial(addr, ftp.DialWithDialFunc(func(network, address string) (net.Conn, error) {
		c, err := net.DialTimeout(network, address, 10*time.Second)
		if err != nil {
			return nil, err
		}
		return stallConn{c}, nil
	}))
}

// runClient runs an external client, at most stallTimeout.
func runClient(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stallTimeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func (s *storageServer) login(t *testing.T, user string) *ftp.ServerConn {
	t.Helper()
	c, err := dialStall(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, user+"pw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// stored reads a file of user straight from the storage (not through
// wharf), nil if it is not there.
func (s *storageServer) stored(t *testing.T, user, name string) []byte {
	t.Helper()
	if s.s3 == nil {
		b, err := os.ReadFile(filepath.Join(s.homes, user, filepath.FromSlash(name)))
		if err != nil {
			return nil
		}
		return b
	}
	out, err := s.s3.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.s3.Bucket), Key: aws.String("pfx/" + user + "/" + name)})
	if err != nil {
		return nil
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

// storedBytes sums what the storage holds for user.
func (s *storageServer) storedBytes(t *testing.T, user string) int64 {
	t.Helper()
	var total int64
	if s.s3 == nil {
		filepath.Walk(filepath.Join(s.homes, user), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				total += fi.Size()
			}
			return nil
		})
		return total
	}
	for _, k := range s.keys(t, "pfx/"+user+"/") {
		if !strings.HasSuffix(k.key, "/") {
			total += k.size
		}
	}
	return total
}

type objKey struct {
	key  string
	size int64
}

func (s *storageServer) keys(t *testing.T, prefix string) []objKey {
	t.Helper()
	var ks []objKey
	p := s3.NewListObjectsV2Paginator(s.s3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.s3.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			ks = append(ks, objKey{aws.ToString(o.Key), aws.ToInt64(o.Size)})
		}
	}
	return ks
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func retr(t *testing.T, c *ftp.ServerConn, name string, off uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, off)
	if err != nil {
		t.Fatalf("RETR %s from %d: %v", name, off, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

func TestServeOnEveryStorage(t *testing.T) {
	for _, backend := range []string{"file", "file:DIR", "s3"} {
		t.Run(backend, func(t *testing.T) {
			s := serveOnStorage(t, backend)
			t.Run("jlaffaye-files-and-folders", func(t *testing.T) { storageFilesAndFolders(t, s) })
			t.Run("resume-both-ways", func(t *testing.T) { storageResume(t, s) })
			t.Run("curl-passive-active-tls-resume", func(t *testing.T) { storageCurl(t, s) })
			t.Run("lftp", func(t *testing.T) { storageLftp(t, s) })
			t.Run("ftplib-and-abor", func(t *testing.T) { storageFtplib(t, s) })
			t.Run("jlaffaye-tls-resume", func(t *testing.T) { storageJlaffayeTLS(t, s) })
			t.Run("lftp-active-and-ftps", func(t *testing.T) { storageLftpActiveAndFTPS(t, s) })
			t.Run("ftplib-tls-passive-active-abor-resume", func(t *testing.T) { storageFtplibTLS(t, s) })
			t.Run("abor-and-broken-uploads-keep-what-arrived", func(t *testing.T) { storageBrokenUploads(t, s) })
			t.Run("atomic-upload-readers", func(t *testing.T) { storageAtomicReaders(t, s) })
			t.Run("20-concurrent-sessions", func(t *testing.T) { storageConcurrent(t, s) })
			t.Run("quota-at-the-limit", func(t *testing.T) { storageQuota(t, s) })
			t.Run("quota-with-concurrent-uploads", func(t *testing.T) { storageQuotaConcurrent(t, s) })
		})
	}
}

func storageFilesAndFolders(t *testing.T, s *storageServer) {
	c := s.login(t, "alice")
	if err := c.MakeDir("docs"); err != nil {
		t.Fatal(err)
	}
	data := randBytes(200_000)
	if err := c.Stor("docs/report one.txt", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	ents, err := c.List("docs")
	if err != nil || len(ents) != 1 || ents[0].Name != "report one.txt" || ents[0].Size != uint64(len(data)) {
		t.Fatalf("LIST docs: %v %+v", err, ents)
	}
	if n, err := c.FileSize("docs/report one.txt"); err != nil || n != int64(len(data)) {
		t.Fatalf("SIZE: %d %v", n, err)
	}
	if !bytes.Equal(retr(t, c, "docs/report one.txt", 0), data) {
		t.Fatal("RETR differs")
	}
	if !bytes.Equal(s.stored(t, "alice", "docs/report one.txt"), data) {
		t.Fatal("the storage does not hold the file under the client's name")
	}
	if s.s3 != nil {
		// Any S3 client sees PREFIX/HOME/ names.
		var names []string
		for _, k := range s.keys(t, "pfx/alice/") {
			names = append(names, k.key)
		}
		if !slices.Contains(names, "pfx/alice/docs/report one.txt") {
			t.Fatalf("bucket listing: %q", names)
		}
	}
	if err := c.RemoveDir("docs"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("RMD of a folder with a file: %v, want 550", err)
	}
	if err := c.Rename("docs/report one.txt", "moved.txt"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(retr(t, c, "moved.txt", 0), data) || s.stored(t, "alice", "docs/report one.txt") != nil {
		t.Fatal("RNTO did not move the file")
	}
	if err := c.RemoveDir("docs"); err != nil {
		t.Fatalf("RMD of the emptied folder: %v", err)
	}
	if err := c.Delete("moved.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("moved.txt"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("DELE of a missing file: %v", err)
	}
	if _, err := c.List("/../../.."); err != nil {
		t.Fatalf("LIST above the root stays at the root: %v", err)
	}
}

func storageResume(t *testing.T, s *storageServer) {
	c := s.login(t, "alice")
	data := randBytes(9<<20 + 12345) // past a part, so the server-side copy runs on S3
	want := sha256.Sum256(data)
	// Upload: a broken first part, then SIZE + REST + STOR of the rest.
	if err := c.Stor("up.bin", bytes.NewReader(data[:6<<20])); err != nil {
		t.Fatal(err)
	}
	n, err := c.FileSize("up.bin")
	if err != nil || n != 6<<20 {
		t.Fatalf("SIZE after the first part: %d %v", n, err)
	}
	if err := c.StorFrom("up.bin", bytes.NewReader(data[n:]), uint64(n)); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(s.stored(t, "alice", "up.bin")) != want {
		t.Fatal("resumed upload: the stored file differs")
	}
	// Download: the first 4 MiB kept, REST 4 MiB + RETR.
	got := append(slices.Clone(data[:4<<20]), retr(t, c, "up.bin", 4<<20)...)
	if sha256.Sum256(got) != want {
		t.Fatal("resumed download differs")
	}
	// APPE adds to the end.
	if err := c.Append("up.bin", bytes.NewReader([]byte("tail"))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.stored(t, "alice", "up.bin"), append(slices.Clone(data), "tail"...)) {
		t.Fatal("APPE: the stored file differs")
	}
	// REST below the end replaces what follows the offset.
	if err := c.StorFrom("up.bin", strings.NewReader("NEW"), 10); err != nil {
		t.Fatal(err)
	}
	if b := s.stored(t, "alice", "up.bin"); !bytes.Equal(b, append(slices.Clone(data[:10]), "NEW"...)) {
		t.Fatalf("REST 10 + STOR: %d bytes stored", len(b))
	}
}

func storageCurl(t *testing.T, s *storageServer) {
	curl := testenv.Tool(t, "curl")
	dir := t.TempDir()
	data := randBytes(3<<20 + 7)
	src := filepath.Join(dir, "src.bin")
	os.WriteFile(src, data, 0o644)
	base := "ftp://alice:alicepw@" + s.addr + "/"
	for _, mode := range []struct {
		name string
		flag []string
	}{{"passive", []string{"--ftp-pasv"}}, {"active", []string{"-P", "127.0.0.1"}}} {
		if out, err := runClient(curl, append(mode.flag, "-sS", "-T", src, base+"curl-"+mode.name+".bin")...); err != nil {
			t.Fatalf("curl %s upload: %v %s", mode.name, err, out)
		}
		back := filepath.Join(dir, mode.name+".back")
		if out, err := runClient(curl, append(mode.flag, "-sS", "-o", back, base+"curl-"+mode.name+".bin")...); err != nil {
			t.Fatalf("curl %s download: %v %s", mode.name, err, out)
		}
		if fileSum(t, back) != sum(data) {
			t.Fatalf("curl %s round trip differs", mode.name)
		}
	}
	// Explicit TLS on control and data.
	if out, err := runClient(curl, "-sS", "--ssl-reqd", "-k", "-T", src, base+"tls.bin"); err != nil {
		t.Fatalf("curl TLS upload: %v %s", err, out)
	}
	tlsBack := filepath.Join(dir, "tls.back")
	if out, err := runClient(curl, "-sS", "--ssl-reqd", "-k", "-o", tlsBack, base+"tls.bin"); err != nil {
		t.Fatalf("curl TLS download: %v %s", err, out)
	}
	if fileSum(t, tlsBack) != sum(data) {
		t.Fatal("curl TLS round trip differs")
	}
	// (TLS in active mode is lftp's and ftplib's: curl 7.88 fails it
	// before connecting, "sa_addr inet_ntop() failed with errno 97".)
	// -C - both ways: a partial upload and a partial download finished.
	part := filepath.Join(dir, "part.bin")
	os.WriteFile(part, data[:1<<20], 0o644)
	if out, err := runClient(curl, "-sS", "-T", part, base+"resumed.bin"); err != nil {
		t.Fatalf("curl first part: %v %s", err, out)
	}
	if out, err := runClient(curl, "-sS", "-C", "-", "-T", src, base+"resumed.bin"); err != nil {
		t.Fatalf("curl -C - upload: %v %s", err, out)
	}
	if sum(s.stored(t, "alice", "resumed.bin")) != sum(data) {
		t.Fatal("curl -C - upload: stored file differs")
	}
	os.WriteFile(part, data[:2<<20], 0o644)
	if out, err := runClient(curl, "-sS", "-C", "-", "-o", part, base+"resumed.bin"); err != nil {
		t.Fatalf("curl -C - download: %v %s", err, out)
	}
	if fileSum(t, part) != sum(data) {
		t.Fatal("curl -C - download differs")
	}
}

func storageLftp(t *testing.T, s *storageServer) {
	lftp := testenv.Tool(t, "lftp")
	dir := t.TempDir()
	data := randBytes(1<<20 + 999)
	os.WriteFile(filepath.Join(dir, "l.bin"), data, 0o644)
	h, p, _ := net.SplitHostPort(s.addr)
	script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; open -u alice,alicepw -p %s %s;
lcd %s; mkdir lf; put l.bin -o lf/l.bin; cls -l lf; get lf/l.bin -o back.bin; quit`, p, h, dir)
	out, err := runClient(lftp, "-c", script)
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "l.bin") || fileSum(t, filepath.Join(dir, "back.bin")) != sum(data) {
		t.Fatalf("lftp put/cls/get: %s", out)
	}
	// Resume both ways: put -c over a partial upload, get -c over a
	// partial download.
	c := s.login(t, "alice")
	if err := c.Stor("lf/up.bin", bytes.NewReader(data[:400001])); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "up.bin"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "down.bin"), data[:300000], 0o644)
	script = fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; open -u alice,alicepw -p %s %s;
lcd %s; cd lf; put -c up.bin; get -c -O %s l.bin -o down.bin; quit`, p, h, dir, dir)
	if out, err := runClient(lftp, "-c", script); err != nil {
		t.Fatalf("lftp -c: %v\n%s", err, out)
	}
	if sum(s.stored(t, "alice", "lf/up.bin")) != sum(data) {
		t.Fatal("lftp put -c: stored file differs")
	}
	if fileSum(t, filepath.Join(dir, "down.bin")) != sum(data) {
		t.Fatal("lftp get -c: resumed download differs")
	}
}

// ftplibScript: a round trip in passive or active mode, then ABOR in the
// middle of a download and of an upload; the session goes on after each.
const ftplibScript = `
import ftplib, io, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
ftp.login("alice", "alicepw")
ftp.set_pasv(sys.argv[3] == "pasv")
data = bytes(range(256)) * 40000
ftp.storbinary("STOR py.bin", io.BytesIO(data))
out = io.BytesIO()
ftp.retrbinary("RETR py.bin", out.write)
assert out.getvalue() == data, "round trip"
def abort(conn):
    # RFC 959: 426 for the transfer, then 226 for the ABOR itself.
    resp = ftp.abort()
    conn.close()
    while resp[:3] == "426":
        resp = ftp.getmultiline()
    assert resp[:3] in ("225", "226"), resp
conn = ftp.transfercmd("RETR py.bin")
conn.recv(65536)
abort(conn)
conn = ftp.transfercmd("STOR aborted.bin")
conn.sendall(b"x" * 300000)
abort(conn)
out = io.BytesIO()
ftp.retrbinary("RETR py.bin", out.write)
assert out.getvalue() == data, "after ABOR"
print(ftp.voidcmd("NOOP")[:3])
ftp.quit()
`

func storageFtplib(t *testing.T, s *storageServer) {
	py := testenv.Tool(t, "python3")
	h, p, _ := net.SplitHostPort(s.addr)
	for _, mode := range []string{"pasv", "active"} {
		out, err := runClient(py, "-c", ftplibScript, h, p, mode)
		if err != nil || strings.TrimSpace(string(out)) != "200" {
			t.Fatalf("ftplib %s: %v\n%s", mode, err, out)
		}
	}
}

// slowReader sends its bytes in small steps, so an upload lasts long
// enough for readers to look at the file meanwhile.
type slowReader struct {
	b    []byte
	step int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.b)
	r.b = r.b[n:]
	time.Sleep(5 * time.Millisecond)
	return n, nil
}

func storageAtomicReaders(t *testing.T, s *storageServer) {
	c := s.login(t, "alice")
	old, next := randBytes(1<<20), randBytes(2<<20)
	if err := c.Stor("atomic.bin", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	oldSum, nextSum := sha256.Sum256(old), sha256.Sum256(next)
	// Logged in here: a t.Fatal in the goroutine would leave the loop
	// below waiting for done forever.
	w := s.login(t, "alice")
	done := make(chan error, 1)
	go func() { done <- w.Stor("atomic.bin", &slowReader{b: next, step: 32 << 10}) }()
	r := s.login(t, "alice")
	reads := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256.Sum256(retr(t, r, "atomic.bin", 0)); got != nextSum {
				t.Fatal("after the upload the file is not the new one")
			}
			if reads < 3 {
				t.Fatalf("only %d reads while the upload ran", reads)
			}
			return
		default:
		}
		got := sha256.Sum256(retr(t, r, "atomic.bin", 0))
		if got != oldSum && got != nextSum {
			t.Fatal("a reader saw a half-written file")
		}
		reads++
	}
}

func storageConcurrent(t *testing.T, s *storageServer) {
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			c, err := dialStall(s.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Quit()
			if err := c.Login("alice", "alicepw"); err != nil {
				errs <- err
				return
			}
			data := randBytes(300_000 + i*4099)
			name := fmt.Sprintf("conc-%02d.bin", i)
			if err := c.Stor(name, bytes.NewReader(data)); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			r, err := c.Retr(name)
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				errs <- fmt.Errorf("%s: read back differs (%v)", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 20 {
		if b := s.stored(t, "alice", fmt.Sprintf("conc-%02d.bin", i)); len(b) != 300_000+i*4099 {
			t.Errorf("conc-%02d.bin: %d bytes stored", i, len(b))
		}
	}
}

func storageQuota(t *testing.T, s *storageServer) {
	c := s.login(t, "bob")
	if err := c.Stor("a.bin", bytes.NewReader(randBytes(600_000))); err != nil {
		t.Fatal(err)
	}
	err := c.Stor("b.bin", bytes.NewReader(randBytes(600_000)))
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("an upload past the quota: %v, want 552", err)
	}
	// Exactly up to the limit is stored, never more, and wharf's count
	// is what the storage holds.
	if got := s.storedBytes(t, "bob"); got != storageBobQuota {
		t.Errorf("storage holds %d bytes for bob, want exactly the quota %d", got, storageBobQuota)
	}
	e := newClientEnv(t)
	st := s.st
	time.Sleep(300 * time.Millisecond) // the server stores usage deltas every 100 ms
	code, before, errs := e.run("", append([]string{"user", "show", "bob", "--data", s.data}, st...)...)
	if code != 0 {
		t.Fatalf("user show: %d %s", code, errs)
	}
	if code, _, errs := e.run("", append([]string{"user", "rescan", "bob", "--data", s.data}, st...)...); code != 0 {
		t.Fatalf("user rescan: %d %s", code, errs)
	}
	_, after, _ := e.run("", append([]string{"user", "show", "bob", "--data", s.data}, st...)...)
	if before != after || !strings.Contains(after, fmt.Sprint(storageBobQuota)) && !strings.Contains(after, "1MiB of 1MiB") {
		t.Errorf("usage tracked by the server differs from a rescan of the storage:\nbefore %s\nafter %s", before, after)
	}
	// user show says where the home is stored: a home is a prefix.
	wantAt := map[string]string{"file:DIR": "stored: " + filepath.Join(s.homes, "bob") + "\n"}
	if s.s3 != nil {
		wantAt["s3"] = "stored: " + s.s3.URL("pfx") + "/bob/\n"
	}
	if w := wantAt[s.backend]; w != "" && !strings.Contains(after, w) {
		t.Errorf("user show lacks %q:\n%s", w, after)
	}
	// Room freed by DELE is room again.
	if err := c.Delete("b.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("c.bin", bytes.NewReader(randBytes(400_000))); err != nil {
		t.Fatalf("upload after DELE freed room: %v", err)
	}
}

// A storage outage answers 451 at once (never a hang past the data
// timeout, never a 226 for data not stored), the session and the server
// go on, and a restarted store is used again without restarting wharf.
func TestServeS3OutageGives451AndRecovers(t *testing.T) {
	s := serveOnStorage(t, "s3")
	c := s.login(t, "alice")
	data := randBytes(2 << 20)
	if err := c.Stor("before.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s.s3.Stop()
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "451") {
			t.Errorf("%s during the outage: %v, want 451", what, err)
		}
	}
	start := time.Now()
	check("STOR", c.Stor("during.bin", bytes.NewReader(data)))
	_, err := c.Retr("before.bin")
	check("RETR", err)
	_, err = c.List("/")
	check("LIST", err)
	_, err = c.FileSize("before.bin")
	check("SIZE", err)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the outage took %v to answer, past the 10 s data timeout", d)
	}
	if err := c.NoOp(); err != nil {
		t.Fatalf("the session did not survive the outage: %v", err)
	}
	s.s3.Restart(t)
	if err := c.Stor("after.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR after the store came back: %v", err)
	}
	if !bytes.Equal(retr(t, c, "before.bin", 0), data) || !bytes.Equal(s.stored(t, "alice", "after.bin"), data) {
		t.Fatal("files differ after the outage")
	}
	if s.stored(t, "alice", "during.bin") != nil {
		t.Error("an upload refused with 451 left an object")
	}
	// No upload left behind in the bucket.
	out, err := s.s3.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.s3.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(out.Uploads))
	}
}

// storageTLS is a client TLS configuration for the self-signed server,
// caching sessions so data connections resume the control connection's
// (wharf serve requires it by default).
func storageTLS() *tls.Config {
	// One ServerName for all: the session cache is keyed by it, and the
	// data connections go to other ports.
	return &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

func storageJlaffayeTLS(t *testing.T, s *storageServer) {
	conf := storageTLS()
	c, err := ftp.Dial(s.addr, ftp.DialWithExplicitTLS(conf), ftp.DialWithDialFunc(func(network, address string) (net.Conn, error) {
		c, err := net.DialTimeout(network, address, 10*time.Second)
		if err != nil {
			return nil, err
		}
		if address != s.addr {
			// jlaffaye/ftp leaves TLS on data connections to a dial
			// function of its own.
			return tls.Client(stallConn{c}, conf), nil
		}
		return stallConn{c}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "alicepw"); err != nil {
		t.Fatal(err)
	}
	data := randBytes(9<<20 + 777) // past a part: the resume copies server-side on S3
	want := sha256.Sum256(data)
	if err := c.Stor("tls-j.bin", bytes.NewReader(data[:5<<20+3])); err != nil {
		t.Fatal(err)
	}
	n, err := c.FileSize("tls-j.bin")
	if err != nil || n != 5<<20+3 {
		t.Fatalf("SIZE over TLS: %d %v", n, err)
	}
	if err := c.StorFrom("tls-j.bin", bytes.NewReader(data[n:]), uint64(n)); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(s.stored(t, "alice", "tls-j.bin")) != want {
		t.Fatal("resumed upload over TLS: the stored file differs")
	}
	got := append(slices.Clone(data[:3<<20]), retr(t, c, "tls-j.bin", 3<<20)...)
	if sha256.Sum256(got) != want {
		t.Fatal("resumed download over TLS differs")
	}
	ents, err := c.List("/")
	if err != nil || !slices.ContainsFunc(ents, func(e *ftp.Entry) bool { return e.Name == "tls-j.bin" && e.Size == uint64(len(data)) }) {
		t.Fatalf("LIST over TLS: %v", err)
	}
}

func storageLftpActiveAndFTPS(t *testing.T, s *storageServer) {
	lftp := testenv.Tool(t, "lftp")
	dir := t.TempDir()
	data := randBytes(2<<20 + 321)
	want := sum(data)
	os.WriteFile(filepath.Join(dir, "src.bin"), data, 0o644)
	h, p, _ := net.SplitHostPort(s.addr)
	const plain = "set ftp:ssl-allow no;"
	const ftps = "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no;"
	for _, mode := range []struct{ name, set string }{
		{"active", plain + " set ftp:passive-mode no;"},
		{"ftps-passive", ftps + " set ftp:passive-mode yes;"},
		{"ftps-active", ftps + " set ftp:passive-mode no;"},
	} {
		remote := "lf-" + mode.name + ".bin"
		back := filepath.Join(dir, mode.name+".back")
		// Resume both ways too: a partial upload finished by put -c, a
		// partial download by get -c.
		part := filepath.Join(dir, mode.name+".part")
		os.WriteFile(part, data[:700001], 0o644)
		os.WriteFile(back, data[:900000], 0o644)
		script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; %s open -u alice,alicepw -p %s %s;
put %s -o %s; put -c %s -o %s; cls -l %s; get -c %s -o %s; quit`, mode.set, p, h, part, remote, filepath.Join(dir, "src.bin"), remote, remote, remote, back)
		out, err := runClient(lftp, "-c", script)
		if err != nil {
			t.Fatalf("lftp %s: %v\n%s", mode.name, err, out)
		}
		if !strings.Contains(string(out), remote) {
			t.Errorf("lftp %s: cls -l lacks %s:\n%s", mode.name, remote, out)
		}
		if sum(s.stored(t, "alice", remote)) != want {
			t.Fatalf("lftp %s: put -c left a stored file that differs", mode.name)
		}
		if fileSum(t, back) != want {
			t.Fatalf("lftp %s: get -c left a download that differs", mode.name)
		}
	}
}

// ftplibTLSScript: FTPS with protected data in passive or active mode: a
// round trip, a resume each way, ABOR in the middle of a download and of
// an upload. Data connections resume the control connection's TLS
// session (ftplib does not by itself; wharf serve requires it).
const ftplibTLSScript = `
import ftplib, hashlib, io, ssl, sys
class FTPS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = FTPS(context=ctx)
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
ftp.login("alice", "alicepw")
ftp.prot_p()
ftp.set_pasv(sys.argv[3] == "pasv")
name = "pytls-" + sys.argv[3] + ".bin"
data = bytes(range(256)) * 30000
ftp.storbinary("STOR " + name, io.BytesIO(data[:3000001]))
assert ftp.size(name) == 3000001, "SIZE"
ftp.storbinary("STOR " + name, io.BytesIO(data[3000001:]), rest=3000001)
out = io.BytesIO()
ftp.retrbinary("RETR " + name, out.write)
assert out.getvalue() == data, "round trip after the resumed upload"
out = io.BytesIO()
ftp.retrbinary("RETR " + name, out.write, rest=4000000)
assert hashlib.sha256(data[:4000000] + out.getvalue()).digest() == hashlib.sha256(data).digest(), "resumed download"
def abort(conn):
    resp = ftp.abort()
    conn.close()
    while resp[:3] == "426":
        resp = ftp.getmultiline()
    assert resp[:3] in ("225", "226"), resp
conn = ftp.transfercmd("RETR " + name)
conn.recv(65536)
abort(conn)
conn = ftp.transfercmd("STOR abort-" + name)
conn.sendall(b"x" * 300000)
abort(conn)
out = io.BytesIO()
ftp.retrbinary("RETR " + name, out.write)
assert out.getvalue() == data, "after ABOR"
print(ftp.voidcmd("NOOP")[:3])
ftp.quit()
`

func storageFtplibTLS(t *testing.T, s *storageServer) {
	py := testenv.Tool(t, "python3")
	h, p, _ := net.SplitHostPort(s.addr)
	want := sum(bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 30000))
	for _, mode := range []string{"pasv", "active"} {
		out, err := runClient(py, "-c", ftplibTLSScript, h, p, mode)
		if err != nil || strings.TrimSpace(string(out)) != "200" {
			t.Fatalf("ftplib TLS %s: %v\n%s", mode, err, out)
		}
		if sum(s.stored(t, "alice", "pytls-"+mode+".bin")) != want {
			t.Fatalf("ftplib TLS %s: the stored file differs", mode)
		}
	}
}

// ctl is a hand-driven control connection.
type ctl struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func (s *storageServer) dialCtl(t *testing.T, user string) *ctl {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &ctl{t: t, c: stallConn{c}, tp: textproto.NewConn(stallConn{c})}
	r.expect(220)
	r.must("USER "+user, 331)
	r.must("PASS "+user+"pw", 230)
	r.must("TYPE I", 200)
	return r
}

func (r *ctl) expect(want int) string {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if code != want {
		r.t.Fatalf("reply %d %q (%v), want %d", code, msg, err, want)
	}
	return msg
}

func (r *ctl) must(line string, want int) string {
	r.t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		r.t.Fatal(err)
	}
	return r.expect(want)
}

// data opens a passive data connection (EPSV).
func (r *ctl) data() *net.TCPConn {
	r.t.Helper()
	msg := r.must("EPSV", 229)
	i := strings.Index(msg, "(|||")
	if i < 0 {
		r.t.Fatalf("EPSV reply %q", msg)
	}
	port, _, _ := strings.Cut(msg[i+4:], "|")
	host, _, _ := net.SplitHostPort(r.c.RemoteAddr().String())
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// An upload cut short, by ABOR or by a reset data connection, keeps what
// arrived under its name for a user who may resume it (wharf's
// broken-upload policy, on S3 as on disk): SIZE reports it, the stored
// bytes are the start of what was sent, and REST + STOR of the rest ends
// with the SHA-256 of the whole file, which HASH reports too.
func storageBrokenUploads(t *testing.T, s *storageServer) {
	r := s.dialCtl(t, "alice")
	// More than the loopback buffers can hold: the server has read some
	// of it by the time the write returns, whatever the timing.
	data := randBytes(24 << 20)
	for _, how := range []string{"abor", "reset"} {
		name := "cut-" + how + ".bin"
		dc := r.data()
		r.must("STOR "+name, 150)
		if _, err := dc.Write(data[:20<<20]); err != nil {
			t.Fatalf("%s: write: %v", how, err)
		}
		if how == "abor" {
			r.tp.PrintfLine("ABOR")
			r.expect(426)
			r.expect(226)
			dc.Close()
		} else {
			dc.SetLinger(0)
			dc.Close()
			r.expect(426)
		}
		msg := r.must("SIZE "+name, 213)
		var n int
		fmt.Sscan(msg, &n)
		if n <= 0 || n > 20<<20 {
			t.Fatalf("%s: SIZE %q after the cut, want the bytes that arrived", how, msg)
		}
		if !bytes.Equal(s.stored(t, "alice", name), data[:n]) {
			t.Fatalf("%s: the storage does not hold the %d bytes SIZE reports as the start of the upload", how, n)
		}
		dc = r.data()
		r.must(fmt.Sprintf("REST %d", n), 350)
		r.must("STOR "+name, 150)
		if _, err := dc.Write(data[n:]); err != nil {
			t.Fatal(err)
		}
		dc.Close()
		r.expect(226)
		if sum(s.stored(t, "alice", name)) != sum(data) {
			t.Fatalf("%s: resumed at %d, the stored file differs", how, n)
		}
		if msg, want := r.must("HASH "+name, 213), fmt.Sprintf("SHA-256 0-%d %s %s", len(data)-1, sum(data), name); msg != want {
			t.Fatalf("%s: HASH %q, want %q", how, msg, want)
		}
	}
}

// Ten sessions of carol (2 MiB) upload 300,000 bytes each at once: the
// bucket, like the disk, never holds more than the quota, every upload
// answered 226 is stored whole, the others are refused with 552 (keeping
// what arrived), and the usage the server tracks is what the storage
// holds.
func storageQuotaConcurrent(t *testing.T, s *storageServer) {
	const quota = 2 << 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored []string
	for i := range 10 {
		wg.Go(func() {
			c, err := dialStall(s.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Quit()
			if err := c.Login("carol", "carolpw"); err != nil {
				t.Error(err)
				return
			}
			name := fmt.Sprintf("q-%02d.bin", i)
			switch err := c.Stor(name, bytes.NewReader(randBytes(300_000))); {
			case err == nil:
				mu.Lock()
				stored = append(stored, name)
				mu.Unlock()
			case !strings.Contains(err.Error(), "552"):
				t.Errorf("%s: %v, want 226 or 552", name, err)
			}
		})
	}
	wg.Wait()
	// (All ten may be refused: each is charged as its bytes arrive, so
	// ten partial uploads can fill the quota before any ends; what they
	// sent is kept, as for one upload at the limit.)
	if len(stored) > quota/300_000 {
		t.Fatalf("%d uploads of 300,000 bytes stored under a quota of %d", len(stored), quota)
	}
	for _, name := range stored {
		if n := len(s.stored(t, "carol", name)); n != 300_000 {
			t.Errorf("%s answered 226 but %d bytes are stored", name, n)
		}
	}
	total := s.storedBytes(t, "carol")
	if total > quota {
		t.Fatalf("the storage holds %d bytes for carol, past her quota of %d", total, quota)
	}
	r := s.dialCtl(t, "carol")
	if q := r.must("SITE QUOTA", 200); !strings.Contains(q, fmt.Sprintf("(%d bytes)", total)) {
		t.Fatalf("SITE QUOTA:\n%s\nwant the %d bytes the storage holds", q, total)
	}
}
