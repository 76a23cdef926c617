// Command s3 is the object-storage campaign of BENCHMARKS.md: wharf on
// an S3 bucket beside wharf on the local disk and beside rclone's
// `serve ftp` over the same bucket, all driven by one client
// (jlaffaye/ftp, passive EPSV, binary) on loopback.
//
//	go run ./bench/s3 -rclone /path/to/rclone [-rounds 3] [-list-only] [-rclone-flags '--vfs-cache-mode writes']
//
// It starts versitygw (posix backend, a fresh folder) on 127.0.0.1,
// creates 10,000 empty objects in the bucket through the S3 API (and the
// same files in the local home), then runs the rounds: each round starts
// every server afresh, in an order that rotates between rounds, and
// measures STOR and RETR of 1 GiB, STOR and RETR of 100 x 10 MiB (10
// sessions at once, 10 files each), MLSD/LIST of the 10,000 files (the
// first after start and the median of 5), and the server's peak RSS
// above its level with the sessions logged in, while 1 and then 8
// uploads run at once (the 8 of 256 MiB each, on a freshly started
// server). Uploads send a random 1 MiB block repeated, downloads are read
// into a 1 MiB buffer and dropped; nothing on the client touches a disk.
// It prints each measurement as it goes and the medians as a Markdown
// table at the end. versitygw is found on PATH or in ~/go/bin, wharf is
// built from this module unless -wharf names a binary.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
)

const (
	mib       = 1 << 20
	access    = "benchkey"
	secret    = "benchsecret123"
	bucket    = "bench"
	prefix    = "wharf" // wharf's objects are PREFIX/HOME/path
	user      = "u"
	pass      = "benchpw"
	listFiles = 10000
)

var (
	rounds      = flag.Int("rounds", 3, "interleaved rounds (medians reported)")
	targetsFlag = flag.String("targets", "wharf-s3,wharf-local,rclone", "servers to measure, in the first round's order")
	wharfBin    = flag.String("wharf", "", "wharf binary (default: go build ./cmd/wharf into the work folder)")
	rcloneBin   = flag.String("rclone", "rclone", "rclone binary")
	rcloneFlags = flag.String("rclone-flags", "", "extra flags for rclone serve ftp (default: none, rclone's defaults)")
	vgwBin      = flag.String("versitygw", "", "versitygw binary (default: PATH, then ~/go/bin)")
	workDir     = flag.String("dir", "", "work folder (default: a new temporary one, removed at the end)")
	bigSize     = flag.Int64("big", 1024, "MiB of the big file")
	manyFiles   = flag.Int("many", 100, "files of the many-files rows")
	manySize    = flag.Int64("many-size", 10, "MiB of each of them")
	manyConc    = flag.Int("conc", 10, "sessions at once in the many-files rows")
	memN        = flag.Int("mem-n", 8, "uploads at once for the second memory row")
	memSize     = flag.Int64("mem-size", 256, "MiB of each of those uploads")
	listOnly    = flag.Bool("list-only", false, "measure the listing rows only")
)

// target is one server under test.
type target struct {
	name  string
	start func(port int) (*exec.Cmd, error)
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "s3 bench:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := *workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "wharf-s3bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	wharf := *wharfBin
	if wharf == "" {
		wharf = filepath.Join(dir, "wharf")
		if out, err := exec.Command("go", "build", "-o", wharf, "./cmd/wharf").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/wharf: %v\n%s", err, out)
		}
	}
	vgw, err := findVersitygw()
	if err != nil {
		return err
	}

	// The engine, shared by wharf-s3 and rclone.
	if err := os.MkdirAll(filepath.Join(dir, "s3", bucket), 0o755); err != nil {
		return err
	}
	vport := freePort()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", vport)
	engine := exec.Command(vgw, "--access", access, "--secret", secret, "--port", fmt.Sprintf("127.0.0.1:%d", vport), "posix", filepath.Join(dir, "s3"))
	if err := startLogged(engine, filepath.Join(dir, "versitygw.log")); err != nil {
		return err
	}
	defer stop(engine)
	if err := waitPort(vport, false); err != nil {
		return fmt.Errorf("versitygw: %w", err)
	}

	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+access, "AWS_SECRET_ACCESS_KEY="+secret, "WHARF_LOG_LEVEL=warn")
	s3Flags := []string{"--storage", "s3://" + bucket + "/" + prefix, "--s3-endpoint", endpoint}
	localData := filepath.Join(dir, "wharf-local")
	s3Data := filepath.Join(dir, "wharf-s3")
	for _, u := range []struct {
		data  string
		extra []string
	}{{localData, nil}, {s3Data, s3Flags}} {
		cmd := exec.Command(wharf, append([]string{"user", "add", user, "--data", u.data, "--password-stdin"}, u.extra...)...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(pass+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("wharf user add: %v\n%s", err, out)
		}
	}
	home := prefix + "/" + user + "/"
	if err := putEmptyObjects(endpoint, home+"dir10k/"); err != nil {
		return err
	}
	localDir := filepath.Join(localData, "home", user, "dir10k")
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return err
	}
	for i := range listFiles {
		if err := os.WriteFile(filepath.Join(localDir, fmt.Sprintf("f%05d", i)), nil, 0o644); err != nil {
			return err
		}
	}

	rcloneRemote := fmt.Sprintf(":s3,provider=Other,endpoint='%s',access_key_id=%s,secret_access_key=%s:%s/%s", endpoint, access, secret, bucket, strings.TrimSuffix(home, "/"))
	all := map[string]target{
		"wharf-s3": {"wharf-s3", func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(wharf, append([]string{"serve", "--data", s3Data, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, s3Flags...)...)
			cmd.Env = env
			return cmd, startLogged(cmd, filepath.Join(dir, "wharf-s3.log"))
		}},
		"wharf-local": {"wharf-local", func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(wharf, "serve", "--data", localData, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
			cmd.Env = env
			return cmd, startLogged(cmd, filepath.Join(dir, "wharf-local.log"))
		}},
		"rclone": {"rclone", func(port int) (*exec.Cmd, error) {
			args := []string{"serve", "ftp", rcloneRemote, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--user", user, "--pass", pass}
			args = append(args, strings.Fields(*rcloneFlags)...)
			cmd := exec.Command(*rcloneBin, args...)
			cmd.Env = os.Environ()
			return cmd, startLogged(cmd, filepath.Join(dir, "rclone.log"))
		}},
	}
	var targets []target
	for _, n := range strings.Split(*targetsFlag, ",") {
		t, ok := all[n]
		if !ok {
			return fmt.Errorf("unknown target %q", n)
		}
		targets = append(targets, t)
	}
	if out, err := exec.Command(*rcloneBin, "version").Output(); err == nil {
		fmt.Printf("rclone: %s\n", strings.SplitN(string(out), "\n", 2)[0])
	}
	fmt.Printf("rclone serve ftp %s --addr 127.0.0.1:PORT --user %s --pass %s %s\n", rcloneRemote, user, pass, *rcloneFlags)

	res := results{}
	for r := range *rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			if err := measure(t, engine.Process.Pid, res); err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
		}
	}
	res.table(targets)
	return nil
}

// results holds every measurement: row -> target -> values.
type results map[string]map[string][]float64

// rows names the measurements, in the table's order.
func rows() []struct{ key, label, unit string } {
	big := sizeName(*bigSize)
	many := fmt.Sprintf("%d x %s, %d sessions", *manyFiles, sizeName(*manySize), *manyConc)
	return []struct{ key, label, unit string }{
		{"stor-big", "STOR " + big, "MiB/s"},
		{"retr-big", "RETR " + big, "MiB/s"},
		{"stor-many", "STOR " + many, "MiB/s"},
		{"retr-many", "RETR " + many, "MiB/s"},
		{"list-first", "list 10,000 objects, first after start", "ms"},
		{"list", "list 10,000 objects, median of 5", "ms"},
		{"mem-1", "peak RSS, 1 upload (" + big + ")", "MiB"},
		{"mem-n", fmt.Sprintf("peak RSS per upload, %d at once (%s each)", *memN, sizeName(*memSize)), "MiB"},
		{"cpu-stor-big", "server CPU s per GiB, STOR " + big, "s"},
		{"cpu-retr-big", "server CPU s per GiB, RETR " + big, "s"},
		{"engine-cpu-stor-big", "versitygw CPU s per GiB, STOR " + big, "s"},
	}
}

func sizeName(m int64) string {
	if m%1024 == 0 {
		return fmt.Sprintf("%d GiB", m/1024)
	}
	return fmt.Sprintf("%d MiB", m)
}

func (res results) add(row, target string, v float64) {
	if res[row] == nil {
		res[row] = map[string][]float64{}
	}
	res[row][target] = append(res[row][target], v)
	fmt.Fprintf(os.Stderr, "%s %-12s %-20s %.1f\n", time.Now().Format("15:04:05"), target, row, v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (res results) table(targets []target) {
	fmt.Print("\n| row | unit |")
	for _, t := range targets {
		fmt.Printf(" %s |", t.name)
	}
	fmt.Print(" wharf-s3 / rclone |\n|---|---|")
	for range targets {
		fmt.Print("---|")
	}
	fmt.Println("---|")
	for _, r := range rows() {
		if len(res[r.key]) == 0 {
			continue
		}
		fmt.Printf("| %s | %s |", r.label, r.unit)
		for _, t := range targets {
			v := res[r.key][t.name]
			s := make([]string, len(v))
			for i, x := range v {
				s[i] = strconv.FormatFloat(x, 'f', 1, 64)
			}
			fmt.Printf(" %.1f (%s) |", median(v), strings.Join(s, ", "))
		}
		if a, b := median(res[r.key]["wharf-s3"]), median(res[r.key]["rclone"]); b != 0 {
			fmt.Printf(" %.2f |", a/b)
		} else {
			fmt.Print(" |")
		}
		fmt.Println()
	}
}

// measure runs one round of every row against t, on two fresh servers
// (the second for the concurrent-upload memory row).
func measure(t target, enginePID int, res results) error {
	big := *bigSize * mib
	err := withServer(t, func(port, pid int) error {
		c, err := login(port)
		if err != nil {
			return err
		}
		defer c.Quit()
		if !*listOnly {
			base := resetPeak(pid)
			cpu0, ecpu0 := cpuSeconds(pid), cpuSeconds(enginePID)
			d, err := stor(c, "big.bin", big)
			if err != nil {
				return err
			}
			res.add("stor-big", t.name, float64(big)/mib/d.Seconds())
			res.add("mem-1", t.name, float64(peakRSS(pid)-base)/mib)
			res.add("cpu-stor-big", t.name, (cpuSeconds(pid)-cpu0)/(float64(big)/(1<<30)))
			res.add("engine-cpu-stor-big", t.name, (cpuSeconds(enginePID)-ecpu0)/(float64(big)/(1<<30)))

			cpu0 = cpuSeconds(pid)
			if d, err = retr(c, "big.bin", big); err != nil {
				return err
			}
			res.add("retr-big", t.name, float64(big)/mib/d.Seconds())
			res.add("cpu-retr-big", t.name, (cpuSeconds(pid)-cpu0)/(float64(big)/(1<<30)))
			if err := c.Delete("big.bin"); err != nil {
				return err
			}

			size := *manySize * mib
			names := make([]string, *manyFiles)
			for i := range names {
				names[i] = fmt.Sprintf("m%03d.bin", i)
			}
			total := float64(size) * float64(len(names)) / mib
			d, err = parallel(port, *manyConc, names, func(c *ftp.ServerConn, name string) error {
				_, err := stor(c, name, size)
				return err
			})
			if err != nil {
				return err
			}
			res.add("stor-many", t.name, total/d.Seconds())
			d, err = parallel(port, *manyConc, names, func(c *ftp.ServerConn, name string) error {
				_, err := retr(c, name, size)
				return err
			})
			if err != nil {
				return err
			}
			res.add("retr-many", t.name, total/d.Seconds())
			for _, n := range names {
				if err := c.Delete(n); err != nil {
					return err
				}
			}

		}

		var times []float64
		for i := range 5 {
			t0 := time.Now()
			entries, err := c.List("dir10k")
			if err != nil {
				return err
			}
			ms := float64(time.Since(t0).Microseconds()) / 1000
			if n := countFiles(entries); n != listFiles {
				return fmt.Errorf("listing has %d files, want %d", n, listFiles)
			}
			if i == 0 {
				cmd := "LIST"
				if c.IsTimePreciseInList() {
					cmd = "MLSD"
				}
				fmt.Fprintf(os.Stderr, "%s lists with %s\n", t.name, cmd)
				res.add("list-first", t.name, ms)
			}
			times = append(times, ms)
		}
		res.add("list", t.name, median(times))
		return nil
	})
	if err != nil {
		return err
	}

	if *listOnly {
		return nil
	}
	return withServer(t, func(port, pid int) error {
		size := *memSize * mib
		conns := make([]*ftp.ServerConn, *memN)
		for i := range conns {
			c, err := login(port)
			if err != nil {
				return err
			}
			defer c.Quit()
			conns[i] = c
		}
		base := resetPeak(pid)
		var wg sync.WaitGroup
		errs := make([]error, len(conns))
		for i, c := range conns {
			wg.Go(func() { _, errs[i] = stor(c, fmt.Sprintf("c%d.bin", i), size) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		res.add("mem-n", t.name, float64(peakRSS(pid)-base)/mib/float64(len(conns)))
		for i, c := range conns {
			if err := c.Delete(fmt.Sprintf("c%d.bin", i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func countFiles(entries []*ftp.Entry) int {
	n := 0
	for _, e := range entries {
		if e.Type == ftp.EntryTypeFile {
			n++
		}
	}
	return n
}

// withServer starts t on a free port, runs f with the port and the
// server's PID, and stops the server.
func withServer(t target, f func(port, pid int) error) error {
	port := freePort()
	cmd, err := t.start(port)
	if err != nil {
		return err
	}
	defer stop(cmd)
	if err := waitPort(port, true); err != nil {
		return err
	}
	return f(port, cmd.Process.Pid)
}

func login(port int) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(fmt.Sprintf("127.0.0.1:%d", port), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pass); err != nil {
		c.Quit()
		return nil, err
	}
	return c, c.Type(ftp.TransferTypeBinary)
}

// parallel logs conc sessions in, then runs f on each name, conc at a
// time; the duration is from the first transfer's start to the last's end.
func parallel(port, conc int, names []string, f func(c *ftp.ServerConn, name string) error) (time.Duration, error) {
	conns := make([]*ftp.ServerConn, conc)
	for i := range conns {
		c, err := login(port)
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		conns[i] = c
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	t0 := time.Now()
	for i, c := range conns {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= len(names) || errs[i] != nil {
					return
				}
				errs[i] = f(c, names[j])
			}
		})
	}
	wg.Wait()
	return time.Since(t0), errors.Join(errs...)
}

// block is what every upload sends, repeated.
var block = func() []byte {
	b := make([]byte, mib)
	rand.Read(b)
	return b
}()

// source sends n bytes of block in 1 MiB writes.
type source struct{ n int64 }

func (s *source) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	n := copy(p, block[:min(int64(len(block)), s.n)])
	s.n -= int64(n)
	return n, nil
}

func (s *source) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for s.n > 0 {
		n, err := w.Write(block[:min(int64(len(block)), s.n)])
		total += int64(n)
		s.n -= int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func stor(c *ftp.ServerConn, name string, size int64) (time.Duration, error) {
	t0 := time.Now()
	err := c.Stor(name, &source{size})
	return time.Since(t0), err
}

func retr(c *ftp.ServerConn, name string, size int64) (time.Duration, error) {
	t0 := time.Now()
	r, err := c.Retr(name)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, mib)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Close()
			return 0, err
		}
	}
	if err := r.Close(); err != nil {
		return 0, err
	}
	if n != size {
		return 0, fmt.Errorf("RETR %s: %d bytes, want %d", name, n, size)
	}
	return time.Since(t0), nil
}

// putEmptyObjects creates the listing's files as objects under key.
func putEmptyObjects(endpoint, key string) error {
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			for errs[i] == nil {
				j := int(next.Add(1)) - 1
				if j >= listFiles {
					return
				}
				_, errs[i] = client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%sf%05d", key, j)), Body: bytes.NewReader(nil),
				})
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resetPeak resets the peak RSS of pid to its resident set now, and
// returns that.
func resetPeak(pid int) int64 {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	return statusKiB(pid, "VmRSS:") * 1024
}

func peakRSS(pid int) int64 { return statusKiB(pid, "VmHWM:") * 1024 }

func statusKiB(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// cpuSeconds is pid's user and system time (clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func findVersitygw() (string, error) {
	if *vgwBin != "" {
		return *vgwBin, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, "go", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	return p, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPort waits until port accepts a connection (and, for FTP, greets
// with 220).
func waitPort(port int, ftpGreeting bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			if !ftpGreeting {
				c.Close()
				return nil
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d not ready: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startLogged(cmd *exec.Cmd, log string) error {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	return cmd.Start()
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
