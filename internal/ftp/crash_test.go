package ftp_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/testenv"
)

// Tests against a server in another process, so it can really be killed
// with SIGKILL: the test binary runs itself as TestHelperServer, which
// serves the engine on an accounts.DB in a data directory, as `wharf
// serve` does (SQLite store, usage written behind by the usage writer).

const helperDataEnv = "WHARF_FTP_HELPER_DATA"

var helperArgon2 = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// TestHelperServer is not a test: it is the server process of the tests
// below, and skips unless started by them.
func TestHelperServer(t *testing.T) {
	dir := os.Getenv(helperDataEnv)
	if dir == "" {
		t.Skip("the server process of the crash tests (started by them)")
	}
	ctx := context.Background()
	db, err := accounts.Open(ctx, dir, accounts.Options{MustExist: true, Argon2: helperArgon2})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	srv, err := ftp.NewServer(ftp.Config{
		Auth: db, LoginFailDelay: time.Millisecond, DataTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", ln.Addr().String())
	go srv.Serve(ln)
	// Until killed, or until the test's end closes stdin (a clean stop).
	io.Copy(io.Discard, os.Stdin)
	shut, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	db.Close()
	os.Exit(0)
}

// serverProc is a running helper server.
type serverProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	done  chan struct{}
}

// startProc starts a helper server on the data directory dir.
func startProc(t testing.TB, dir string) *serverProc {
	t.Helper()
	cmd := testenv.Self("TestHelperServer", []string{helperDataEnv + "=" + dir})
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatal("the helper server exited before listening")
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the helper server did not start")
	}
	t.Cleanup(p.stop)
	return p
}

// kill ends the server with SIGKILL and waits until it is gone.
func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// stop ends the server cleanly (kill after 10 s).
func (p *serverProc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// newDataDir makes a data directory with user q (full rights, the given
// limits) and returns it and q's home.
func newDataDir(t testing.TB, quotaBytes, quotaFiles int64) (dir, home string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	home = t.TempDir()
	db, err := accounts.Open(ctx, dir, accounts.Options{Argon2: helperArgon2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AddUser(ctx, accounts.User{Name: "q", Home: home, Perms: accounts.PresetFull,
		QuotaBytes: quotaBytes, QuotaFiles: quotaFiles}, "pw"); err != nil {
		t.Fatal(err)
	}
	return dir, home
}

// storedUsage is what `wharf user show` reads: the usage in the store.
func storedUsage(t testing.TB, dir string) accounts.User {
	t.Helper()
	ctx := context.Background()
	db, err := accounts.Open(ctx, dir, accounts.Options{MustExist: true, Argon2: helperArgon2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.GetUser(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fclient is an FTP control connection that reports failures instead of
// failing the test: the server may be killed under it.
type fclient struct {
	c    net.Conn
	tp   *textproto.Conn
	pace time.Duration // a pause after each piece of an upload's data
}

func dialClient(addr string) (*fclient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fc := &fclient{c: c, tp: textproto.NewConn(c)}
	if _, _, err := fc.read(); err != nil {
		c.Close()
		return nil, err
	}
	for _, line := range []string{"USER q", "PASS pw", "TYPE I"} {
		if code, msg, err := fc.cmd(line); err != nil || code >= 400 {
			c.Close()
			return nil, fmt.Errorf("%s: %d %s %v", line, code, msg, err)
		}
	}
	return fc, nil
}

func (fc *fclient) read() (int, string, error) {
	code, msg, err := fc.tp.ReadResponse(0)
	if code != 0 {
		err = nil
	}
	return code, msg, err
}

func (fc *fclient) cmd(line string) (int, string, error) {
	if err := fc.tp.PrintfLine("%s", line); err != nil {
		return 0, "", err
	}
	return fc.read()
}

func (fc *fclient) close() { fc.c.Close() }

// data opens a passive data connection.
func (fc *fclient) data() (*net.TCPConn, error) {
	code, msg, err := fc.cmd("EPSV")
	if err != nil {
		return nil, err
	}
	if code != 229 {
		return nil, fmt.Errorf("EPSV: %d %s", code, msg)
	}
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		return nil, fmt.Errorf("EPSV reply %q", msg)
	}
	host, _, _ := net.SplitHostPort(fc.c.RemoteAddr().String())
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, msg[i+4:j]), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// quota reads SITE QUOTA: the live usage.
func (fc *fclient) quota() (bytes, files int64, err error) {
	code, msg, err := fc.cmd("SITE QUOTA")
	if err != nil || code != 200 {
		return 0, 0, fmt.Errorf("SITE QUOTA: %d %s %v", code, msg, err)
	}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Bytes used: "); ok {
			// "2.3 MiB (2349855 bytes)": the exact count is in brackets.
			if _, exact, ok := strings.Cut(v, "("); ok {
				v, _, _ = strings.Cut(exact, " ")
			}
			bytes, err = strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("SITE QUOTA: %q: %v", l, err)
			}
		}
		if v, ok := strings.CutPrefix(l, "Files used: "); ok {
			files, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return bytes, files, nil
}

// How an upload ends.
const (
	endComplete = iota
	endAbort    // ABOR after part of the data
	endKill     // the client dies: both connections reset
)

// transfer runs one upload command (STOR, APPE, STOU, after an optional
// REST) sending size bytes and ending as end says. It returns the final
// reply code (0 when the connection died).
func (fc *fclient) upload(rng *rand.Rand, verb, name string, rest int64, size int, end int) (int, error) {
	if rest >= 0 {
		if code, msg, err := fc.cmd(fmt.Sprintf("REST %d", rest)); err != nil || code != 350 {
			return code, errors.Join(err, fmt.Errorf("REST: %d %s", code, msg))
		}
	}
	dc, err := fc.data()
	if err != nil {
		return 0, err
	}
	defer dc.Close()
	code, _, err := fc.cmd(strings.TrimSpace(verb + " " + name))
	if err != nil || code != 150 {
		return code, err
	}
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	part := size
	if end != endComplete {
		part = rng.IntN(size + 1)
	}
	for sent := 0; sent < part; {
		n := min(len(buf), part-sent)
		if _, err := dc.Write(buf[:n]); err != nil {
			break
		}
		sent += n
		if fc.pace > 0 {
			time.Sleep(fc.pace)
		}
	}
	switch end {
	case endAbort:
		code, _, err := fc.cmd("ABOR")
		dc.Close()
		if err == nil && code != 226 && code != 225 {
			// The 426 of the transfer comes first, then ABOR's own.
			code, _, err = fc.read()
		}
		return code, err
	case endKill:
		dc.SetLinger(0)
		dc.Close()
		if tc, ok := fc.c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		fc.c.Close()
		return 0, nil
	}
	dc.Close()
	code, _, err = fc.read()
	return code, err
}

// checkStored fails unless live usage (SITE QUOTA, after the recovery the
// login runs) and stored usage (`user show`) equal a walk of home, and the
// walk stays within the quota. Polls briefly: a killed client's session
// may still be tearing down, and the store follows within 100 ms.
func checkStored(t *testing.T, addr, dir, home string, quota int64, what string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		fc, err := dialClient(addr)
		if err != nil {
			last = err.Error()
			continue
		}
		lb, lf, err := fc.quota()
		fc.close()
		if err != nil {
			last = err.Error()
			continue
		}
		b, f := walkHome(t, home)
		su := storedUsage(t, dir)
		last = fmt.Sprintf("live %d bytes %d files, stored %d bytes %d files, on disk %d bytes %d files",
			lb, lf, su.UsedBytes, su.UsedFiles, b, f)
		if lb == b && lf == f && su.UsedBytes == b && su.UsedFiles == f {
			if quota > 0 && b > quota {
				t.Fatalf("%s: %d bytes stored, past the quota of %d", what, b, quota)
			}
			return
		}
	}
	t.Fatalf("%s: usage is not what is stored: %s", what, last)
}

// Regression (issue 9): after a SIGKILL of the server during uploads, a
// restart, the recovery and a resume, SITE QUOTA and `user show` said
// 56.1 MB while 73.7 MB were stored. The first login after the restart
// counts the home once its crashed uploads are settled.
func TestCrashDuringUploadsThenRecoveryAndResumeCountWhatIsStored(t *testing.T) {
	dir, home := newDataDir(t, 0, 0)
	p := startProc(t, dir)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	// Files to overwrite and resume.
	for i := range 4 {
		fc, err := dialClient(p.addr)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := fc.upload(rng, "STOR", fmt.Sprintf("f%d", i), -1, 1<<20, endComplete); err != nil || code != 226 {
			t.Fatalf("STOR f%d: %d %v", i, code, err)
		}
		fc.close()
	}
	time.Sleep(300 * time.Millisecond) // stored: the usage writer wrote them
	// Uploads of every kind in flight (paced, so they last about half a
	// second), some small ones finishing just before the kill (their usage
	// deltas not stored yet).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			fc, err := dialClient(p.addr)
			if err != nil {
				return
			}
			defer fc.close()
			fc.pace = 4 * time.Millisecond
			switch i % 4 {
			case 0:
				fc.upload(rng, "STOR", fmt.Sprintf("new%d", i), -1, 4<<20, endComplete)
			case 1:
				fc.upload(rng, "STOR", fmt.Sprintf("f%d", i/4), -1, 3<<20, endComplete)
			case 2:
				fc.upload(rng, "APPE", fmt.Sprintf("f%d", 2+i/4), -1, 3<<20, endComplete)
			case 3:
				fc.upload(rng, "STOR", fmt.Sprintf("small%d", i), -1, 64<<10, endComplete)
			}
		}()
	}
	time.Sleep(time.Duration(150+rng.IntN(100)) * time.Millisecond)
	p.kill()
	wg.Wait()

	p = startProc(t, dir)
	checkStored(t, p.addr, dir, home, 0, "after the restart and recovery")
	// Resume what the crash left.
	ents, _ := os.ReadDir(home)
	for _, e := range ents {
		fc, err := dialClient(p.addr)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := fc.upload(rng, "APPE", e.Name(), -1, 100<<10, endComplete); err != nil || code != 226 {
			t.Fatalf("APPE %s after the restart: %d %v", e.Name(), code, err)
		}
		fc.close()
	}
	checkStored(t, p.addr, dir, home, 0, "after the resumes")
}

var (
	propSeeds = flag.Int("quota.seeds", 0, "TestQuotaPropertyRandomized: run this many random seeds instead of the fixed set")
	propSeed  = flag.Uint64("quota.seed", 0, "TestQuotaPropertyRandomized: run only this seed")
	propSteps = flag.Int("quota.rounds", 0, "TestQuotaPropertyRandomized: rounds per seed (0: 6)")
)

// The property of issue 9: after any interleaving of uploads, overwrites,
// resumes, appends, renames, deletes, aborts, client kills and a server
// SIGKILL, usage (live, and as stored) equals a walk of the home, and the
// home never holds more than the quota once the transfers are over; while
// they run, no more than the quota and the room of one file being replaced
// (see sample below).
// Several sessions of one user run random operations at once on a few
// names, with a byte and a file quota that they keep hitting; between
// rounds, with nothing in flight, the property is checked; some rounds
// end with the server killed mid-flight and restarted on the same data.
//
// CI runs a fixed set of seeds (1 to 4, 6 rounds each: about 5 s). A
// longer run by hand, with fresh seeds each time:
//
//	go test ./internal/ftp -run '^TestQuotaPropertyRandomized$' -quota.seeds=200 -quota.rounds=20 -timeout=60m -v
//
// (10 seeds of 12 rounds take about 25 s on two busy cores; 240 such seeds
// ran clean in 10 minutes on 2026-12-07), and -quota.seed=N replays one
// seed (the choices replay; the timing of real sessions does not, so a
// failure may need a few runs).
func TestQuotaPropertyRandomized(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if *propSeeds > 0 {
		seeds = seeds[:0]
		base := uint64(time.Now().UnixNano())
		for i := range *propSeeds {
			seeds = append(seeds, base+uint64(i))
		}
	}
	if *propSeed != 0 {
		seeds = []uint64{*propSeed}
	}
	rounds := 6
	if *propSteps > 0 {
		rounds = *propSteps
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { quotaProperty(t, seed, rounds) })
	}
}

func quotaProperty(t *testing.T, seed uint64, rounds int) {
	const quotaBytes, quotaFiles = 3 << 20, 6
	const sessions, opsPerRound = 3, 4
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	dir, home := newDataDir(t, quotaBytes, quotaFiles)
	p := startProc(t, dir)
	rng := rand.New(rand.NewPCG(seed, 0))
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d, operations:\n%s", seed, strings.Join(log, "\n"))
		}
	}()
	// While the sessions run, the home is walked again and again: what
	// is on disk may pass the quota only by the room of one file being
	// replaced (an upload over a file may use that file's room while both
	// are on disk, see Upload.Credit in ledger.go; reservations in flight
	// count against the quota), and by what one walk can count twice (a
	// file renamed while the walk reads its folder: at most one upload,
	// 1 MiB here).
	sample := func(stop <-chan struct{}, round int) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var total, largest int64
			filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return nil
				}
				fi, err := d.Info()
				if err != nil {
					return nil
				}
				total += fi.Size()
				if !ftp.IsTempName(d.Name()) {
					largest = max(largest, fi.Size())
				}
				return nil
			})
			if total > quotaBytes+largest+1<<20 {
				t.Errorf("seed %d round %d: %d bytes on disk in flight, past the quota of %d by more than the largest file (%d) and one upload", seed, round, total, quotaBytes, largest)
				return
			}
		}
	}
	for round := range rounds {
		kill := rng.IntN(3) == 0
		addr := p.addr
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { sample(stop, round); close(sampled) }()
		var wg sync.WaitGroup
		for s := range sessions {
			wg.Add(1)
			srng := rand.New(rand.NewPCG(seed, uint64(round*sessions+s+1)))
			go func() {
				defer wg.Done()
				var fc *fclient
				defer func() {
					if fc != nil {
						fc.close()
					}
				}()
				for op := range opsPerRound {
					if fc == nil {
						var err error
						if fc, err = dialClient(addr); err != nil {
							return // the server is gone
						}
						if srng.IntN(2) == 0 {
							fc.pace = time.Millisecond
						}
					}
					name := names[srng.IntN(len(names))]
					size := srng.IntN(1 << 20)
					end := endComplete
					switch srng.IntN(6) {
					case 0:
						end = endAbort
					case 1:
						end = endKill
					}
					var what string
					var code int
					var err error
					switch k := srng.IntN(10); {
					case k < 3:
						what = "STOR " + name
						code, err = fc.upload(srng, "STOR", name, -1, size, end)
					case k < 5:
						var off int64
						if fi, serr := os.Stat(filepath.Join(home, name)); serr == nil {
							off = srng.Int64N(fi.Size() + 1)
						}
						what = fmt.Sprintf("REST %d STOR %s", off, name)
						code, err = fc.upload(srng, "STOR", name, off, size, end)
					case k < 6:
						what = "APPE " + name
						code, err = fc.upload(srng, "APPE", name, -1, size, end)
					case k < 7:
						what = "STOU " + name
						code, err = fc.upload(srng, "STOU", name, -1, size, end)
					case k < 8:
						to := names[srng.IntN(len(names))]
						what = "RNFR " + name + " RNTO " + to
						if code, _, err = fc.cmd("RNFR " + name); err == nil && code == 350 {
							code, _, err = fc.cmd("RNTO " + to)
						}
						end = endComplete
					default:
						what = "DELE " + name
						code, _, err = fc.cmd("DELE " + name)
						end = endComplete
					}
					note(fmt.Sprintf("round %d session %d op %d: %s (%d bytes, end %d): %d %v", round, s, op, what, size, end, code, err))
					if err != nil || code == 0 || end == endKill {
						fc.close()
						fc = nil
					}
				}
			}()
		}
		if kill {
			time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
			note(fmt.Sprintf("round %d: SIGKILL", round))
			p.kill()
		}
		wg.Wait()
		close(stop)
		<-sampled
		if kill {
			p = startProc(t, dir)
		}
		checkStored(t, p.addr, dir, home, quotaBytes, fmt.Sprintf("seed %d round %d", seed, round))
		if t.Failed() {
			return
		}
	}
}
