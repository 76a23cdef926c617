package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/pgtest"
	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/tlsconf"
	"github.com/wharfftp/wharf/internal/vfs/s3vfs/s3test"
)

// binDir holds the wharf binary, built by the first test that needs it.
var binDir string

var wharfBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "wharf")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/wharf").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build wharf: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "wharf-cluster-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// balancerHost is the address clients use, as a real balancer's public
// address; nodes listen on other loopback addresses, so the balancer can
// forward each node's passive range on the same port numbers.
const balancerHost = "127.0.0.1"

// passivePerNode is the size of each node's passive range.
const passivePerNode = 24

// node is one `wharf serve` process.
type node struct {
	Name                    string
	Host                    string // loopback address of its own
	Port                    int
	PassiveLow, PassiveHigh int
	args                    []string

	mu   sync.Mutex
	cmd  *exec.Cmd // guarded by mu
	logs *syncBuf
	done chan struct{} // guarded by mu; closed when cmd has exited
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// storage is where a cluster's nodes keep the homes.
type storage int

const (
	// onSharedFolder: one folder every node reaches (the homes' paths).
	onSharedFolder storage = iota
	// onS3: one bucket (versitygw) every node reaches, under s3Prefix.
	onS3
)

// s3Prefix is the key prefix of the homes of a cluster on S3.
const s3Prefix = "cluster"

// cluster is PostgreSQL, n wharf nodes sharing the homes (a folder or a
// bucket), and HAProxy.
type cluster struct {
	t           *testing.T
	bin         string
	pg          *pgtest.Server
	db          string // the database URL
	data        string // --data of admin commands
	homes       string // users' homes, shared
	cert        string
	key         string
	Bind        string
	ControlPort int // the balancer's control port
	Nodes       []*node
	haproxy     *exec.Cmd
	haLog       *syncBuf
	haConfig    string
	s3          *s3test.Engine // nil on a shared folder
	env         []string       // for every wharf process: the S3 credentials
	storageArgs []string       // --storage and its settings, for every wharf process
}

// freeRange returns the first of n consecutive ports below 32768 (out of
// the kernel's ephemeral range, so outgoing connections cannot take them
// meanwhile) that are free on every host given.
func freeRange(t *testing.T, n int, hosts ...string) int {
	t.Helper()
	for range 500 {
		base := 20000 + rand.IntN(12000-n)
		var ls []net.Listener
		ok := true
		for p := base; p < base+n && ok; p++ {
			for _, h := range hosts {
				l, err := net.Listen("tcp4", net.JoinHostPort(h, strconv.Itoa(p)))
				if err != nil {
					ok = false
					break
				}
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d free ports below 32768", n)
	return 0
}

// startCluster starts PostgreSQL, n nodes on st and HAProxy for the
// test; extra are more flags of every node.
func startCluster(t *testing.T, n int, st storage, extra ...string) *cluster {
	t.Helper()
	haproxy := testenv.Tool(t, "haproxy")
	c := &cluster{t: t, Bind: balancerHost}
	if st == onS3 {
		c.s3 = s3test.Start(t)
		c.env = c.s3.Env()
		c.storageArgs = []string{"--storage", c.s3.URL(s3Prefix), "--s3-endpoint", c.s3.Endpoint}
	}
	bin, err := wharfBinary()
	if err != nil {
		t.Fatal(err)
	}
	c.bin = bin
	c.pg = pgtest.Start(t)
	c.db = c.pg.NewDB(t)
	root := t.TempDir()
	c.data = filepath.Join(root, "data")
	c.homes = filepath.Join(root, "homes")
	certDir := filepath.Join(root, "tls")
	for _, d := range []string{c.homes, certDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tlsconf.SelfSigned(certDir, nil); err != nil {
		t.Fatal(err)
	}
	c.cert, c.key = filepath.Join(certDir, tlsconf.CertFileName), filepath.Join(certDir, tlsconf.KeyFileName)
	// The first command creates the data folder and migrates the
	// database; the nodes then start on a current schema at once.
	c.wharf("user", "list", "--data", c.data)
	c.ControlPort = freeRange(t, 1, balancerHost)
	for i := range n {
		nd := &node{Name: fmt.Sprintf("n%d", i+1), Host: fmt.Sprintf("127.0.0.%d", i+2), logs: &syncBuf{}}
		nd.Port = freeRange(t, 1, nd.Host)
		nd.PassiveLow = freeRange(t, passivePerNode, balancerHost, nd.Host)
		nd.PassiveHigh = nd.PassiveLow + passivePerNode - 1
		// Each node has a data folder of its own (a serve locks its
		// own); what they share is the database and the homes.
		nd.args = append([]string{"serve", "--data", filepath.Join(root, "data-"+nd.Name), "--init", "--db", c.db, "--node", nd.Name,
			"--listen", net.JoinHostPort(nd.Host, strconv.Itoa(nd.Port)),
			"--passive-ports", fmt.Sprintf("%d-%d", nd.PassiveLow, nd.PassiveHigh),
			"--public-ip", balancerHost,
			"--proxy-protocol", "--proxy-from", "127.0.0.0/8",
			"--tls-cert", c.cert, "--tls-key", c.key,
			"--banner", "wharf node " + nd.Name,
			"--login-fail-delay", "1ms", "--shutdown-grace", "1s"}, append(c.storageArgs, extra...)...)
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		c.start(nd)
	}
	for _, nd := range c.Nodes {
		c.waitNode(nd)
	}
	c.startHAProxy(haproxy)
	return c
}

// wharf runs a wharf command on the cluster's database and returns its
// standard output; stdin feeds it.
func (c *cluster) wharf(args ...string) string {
	c.t.Helper()
	return c.wharfIn("", args...)
}

func (c *cluster) wharfIn(stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), "WHARF_DB="+c.db, "WHARF_DATA="+c.data), c.env...)
	if c.s3 != nil {
		// The user commands read the storage from the environment
		// (user list and passwd take no --storage).
		cmd.Env = append(cmd.Env, "WHARF_STORAGE="+c.s3.URL(s3Prefix), "WHARF_S3_ENDPOINT="+c.s3.Endpoint)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("wharf %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// addUser adds a user with a home in the shared folder and returns the home.
func (c *cluster) addUser(name string, flags ...string) string {
	c.t.Helper()
	home := filepath.Join(c.homes, name)
	c.wharfIn("pw\n", append([]string{"user", "add", name, "--home", home, "--password-stdin"}, flags...)...)
	return home
}

func (c *cluster) start(nd *node) {
	c.t.Helper()
	cmd := exec.Command(c.bin, nd.args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout, cmd.Stderr = nd.logs, nd.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()
	c.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if c.t.Failed() {
			c.t.Logf("node %s log:\n%s", nd.Name, nd.logs)
		}
	})
}

// kill ends a node with SIGKILL, as a crash.
func (c *cluster) kill(nd *node) {
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.mu.Unlock()
	cmd.Process.Kill()
	<-done
}

// waitNode waits until nd listens, failing at once if it exits.
func (c *cluster) waitNode(nd *node) {
	c.t.Helper()
	addr := net.JoinHostPort(nd.Host, strconv.Itoa(nd.Port))
	nd.mu.Lock()
	done := nd.done
	nd.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-done:
			c.t.Fatalf("node %s exited:\n%s", nd.Name, nd.logs)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s does not listen on %s: %v", nd.Name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) waitListening(host string, port int) {
	c.t.Helper()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// renderHAProxy renders the configuration the README quotes.
func (c *cluster) renderHAProxy() string {
	c.t.Helper()
	tmpl := template.Must(template.ParseFiles("testdata/haproxy.cfg.tmpl"))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, c); err != nil {
		c.t.Fatal(err)
	}
	return b.String()
}

func (c *cluster) startHAProxy(bin string) {
	c.t.Helper()
	c.haConfig = filepath.Join(c.t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(c.haConfig, []byte(c.renderHAProxy()), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", c.haConfig).CombinedOutput(); err != nil {
		c.t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	c.haLog = &syncBuf{}
	cmd := exec.Command(bin, "-db", "-f", c.haConfig)
	cmd.Stdout, cmd.Stderr = c.haLog, c.haLog
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.haproxy = cmd
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if c.t.Failed() {
			c.t.Logf("haproxy log:\n%s", c.haLog)
		}
	})
	c.waitListening(balancerHost, c.ControlPort)
	// Every node must be reachable through the balancer before a test
	// counts on round-robin reaching each.
	deadline := time.Now().Add(20 * time.Second)
	for seen := map[string]bool{}; len(seen) < len(c.Nodes); {
		if time.Now().After(deadline) {
			c.t.Fatalf("through the balancer only %v answered", seen)
		}
		r, err := c.rawFrom("", false)
		if err == nil {
			seen[r.node] = true
			r.Close()
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// addr is the balancer's control address.
func (c *cluster) addr() string { return net.JoinHostPort(balancerHost, strconv.Itoa(c.ControlPort)) }

// nodeOfPort names the node whose passive range holds port.
func (c *cluster) nodeOfPort(port int) string {
	for _, nd := range c.Nodes {
		if port >= nd.PassiveLow && port <= nd.PassiveHigh {
			return nd.Name
		}
	}
	return ""
}

// row reads a user's quota columns.
func (c *cluster) row(ctx context.Context, conn *pgx.Conn, name string) (used, reserved, quota int64, err error) {
	err = conn.QueryRow(ctx, "SELECT used_bytes, reserved_bytes, quota_bytes FROM users WHERE name = $1", name).Scan(&used, &reserved, &quota)
	return
}

func (c *cluster) pgConn() *pgx.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// raw is a control connection through the balancer driven line by line,
// for what a client library hides (STAT, the greeting, 421s).
type raw struct {
	conn  net.Conn
	tp    *textproto.Conn
	node  string // from the greeting ("wharf node NAME")
	first int    // the greeting's code
	msg   string
}

// rawFrom connects through the balancer from source address src ("": any)
// and reads the greeting. With loggedIn false a greeting other than 220
// is no error: the caller looks at first.
func (c *cluster) rawFrom(src string, mustGreet bool) (*raw, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	conn, err := d.Dial("tcp", c.addr())
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{conn: conn, tp: textproto.NewConn(conn)}
	code, msg, err := r.tp.ReadResponse(0)
	r.first, r.msg = code, msg
	if err != nil && code == 0 {
		conn.Close()
		return nil, err
	}
	if i := strings.Index(msg, "wharf node "); i >= 0 {
		r.node = strings.Fields(msg[i+len("wharf node "):])[0]
	}
	if mustGreet && code != 220 {
		conn.Close()
		return nil, fmt.Errorf("greeting %d %s", code, msg)
	}
	return r, nil
}

// cmd sends one command and reads its reply.
func (r *raw) cmd(format string, args ...any) (int, string, error) {
	id, err := r.tp.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	r.tp.StartResponse(id)
	defer r.tp.EndResponse(id)
	return r.tp.ReadResponse(0)
}

// login logs in and checks the node's STAT names the node of the greeting.
func (r *raw) login(t *testing.T, user, pw string) {
	t.Helper()
	if code, msg, _ := r.cmd("USER %s", user); code != 331 {
		t.Fatalf("USER: %d %s", code, msg)
	}
	if code, msg, _ := r.cmd("PASS %s", pw); code != 230 {
		t.Fatalf("PASS on %s: %d %s", r.node, code, msg)
	}
	code, msg, _ := r.cmd("STAT")
	if code != 211 || !strings.Contains(msg, "Node: "+r.node) {
		t.Fatalf("STAT on node %s: %d %q", r.node, code, msg)
	}
}

func (r *raw) Close() error {
	r.tp.PrintfLine("QUIT")
	return r.conn.Close()
}

// readAll drains a reader (a client's progress output) in the background.
func readAll(r io.Reader) *syncBuf {
	b := &syncBuf{}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.Write(append(sc.Bytes(), '\n'))
		}
	}()
	return b
}

// homeKey is the key prefix of home in the bucket (PREFIX/HOME/), as the
// nodes and `wharf user show` name it.
func (c *cluster) homeKey(home string) string {
	return s3Prefix + "/" + accounts.HomeName(c.data, home) + "/"
}

// stored sums what the storage holds for home: the regular files below
// the folder (temporary upload files too: they are stored bytes), or the
// objects under the home's prefix listed with the S3 API (folder markers
// left out; a multipart upload in flight is no object).
func (c *cluster) stored(home string) (int64, error) {
	if c.s3 == nil {
		return duHome(home)
	}
	var n int64
	p := s3.NewListObjectsV2Paginator(c.s3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(c.s3.Bucket), Prefix: aws.String(c.homeKey(home))})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			return 0, err
		}
		for _, o := range out.Contents {
			if !strings.HasSuffix(aws.ToString(o.Key), "/") {
				n += aws.ToInt64(o.Size)
			}
		}
	}
	return n, nil
}

// readStored reads the file name of home from the storage itself.
func (c *cluster) readStored(home, name string) ([]byte, error) {
	if c.s3 == nil {
		return os.ReadFile(filepath.Join(home, name))
	}
	out, err := c.s3.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(c.s3.Bucket), Key: aws.String(c.homeKey(home) + name)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// multipartUploads lists the bucket's multipart uploads under the
// cluster's prefix.
func (c *cluster) multipartUploads() ([]s3types.MultipartUpload, error) {
	var all []s3types.MultipartUpload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(c.s3.Bucket), Prefix: aws.String(s3Prefix + "/")}
	for {
		out, err := c.s3.Client.ListMultipartUploads(context.Background(), in)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Uploads...)
		if !aws.ToBool(out.IsTruncated) {
			return all, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
