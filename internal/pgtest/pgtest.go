// Package pgtest starts a throwaway PostgreSQL server for tests: initdb in a
// temporary folder, pg_ctl on a loopback port, trust authentication. It owns
// only that server's life; it must never touch a PostgreSQL it did not
// start, and it is imported by tests only.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server started by Start.
type Server struct {
	Port int
	dir  string // data and socket folder
	bin  string // folder of initdb and pg_ctl
	as   string // user to run as ("" to run as ourselves)
	t    testing.TB
}

// bindir finds the folder of initdb: PATH first, then Debian's versioned
// folders, newest first.
func bindir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb not found (PATH, /usr/lib/postgresql/*/bin)")
}

// Start starts a server for the test and stops it when the test ends. It
// skips the test when PostgreSQL is not installed, except in CI (CI=true),
// where that is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := bindir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgresql is required in CI (.ci/run installs it): %v", err)
		}
		t.Skipf("postgresql not installed: %v", err)
	}
	s := &Server{bin: bin, t: t}
	// PostgreSQL refuses to run as root: run it as postgres then, in a
	// folder of its own (t.TempDir's parents are closed to other users).
	if os.Geteuid() == 0 {
		s.as = "postgres"
	}
	s.dir, err = os.MkdirTemp("", "wharf-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if s.as != "" {
		u, err := user.Lookup(s.as)
		if err != nil {
			t.Fatalf("postgresql needs a non-root user to run as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.cmd("initdb", "-D", s.data(), "--auth=trust", "--no-sync", "-U", "postgres", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between asking and listening: try a few.
	for try := 0; ; try++ {
		s.Port = freePort(t)
		err = s.start()
		if err == nil {
			break
		}
		if try == 2 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) cmd(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(s.bin, name)
	if s.as == "" {
		return exec.Command(prog, args...)
	}
	return exec.Command("runuser", append([]string{"-u", s.as, "--", prog}, args...)...)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", s.Port, s.dir)
	out, err := s.cmd("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30", "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server (fast shutdown: open sessions are cut).
func (s *Server) Stop() {
	s.cmd("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop").Run()
}

// Restart stops the server and starts it again on the same port, after
// down (the outage's length).
func (s *Server) Restart(down time.Duration) {
	s.t.Helper()
	s.Stop()
	time.Sleep(down)
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// URL returns the URL of database name.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

var dbSeq atomic.Int64

// NewDB creates an empty database and returns its URL.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	name := fmt.Sprintf("wharf_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return s.URL(name)
}

// Log returns the server's log so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return strings.TrimSpace(string(b))
}
