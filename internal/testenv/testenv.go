// Package testenv holds the rules every wharf test follows about its
// surroundings: which outside programs it may drive and what happens when
// one is missing, and how it gets ports. It is a leaf (standard library
// only) so that every package's tests, internal ones included, can use it.
//
// It must never be imported by non-test code, and it never listens on
// anything but loopback: two test runs on one machine must not collide,
// and a test must not expose anything to the network.
package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the test runs in CI (CI=true), where .ci/run has
// installed every outside tool and a missing one is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing ends a test that cannot run here because what says is not
// installed: a skip naming it outside CI, a failure in CI.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI (.ci/run installs it): %v", what, err)
	}
	t.Skipf("%s not installed: %v", what, err)
}

// Tool returns the path of the outside program name, ending the test as
// Missing says when it is not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, err)
	}
	return p
}

// PythonWith returns a python3 that can import module, preferring the
// system's (/usr/bin/python3: apt installs python3-MODULE for it), ending
// the test as Missing says when there is none.
func PythonWith(t testing.TB, module string) string {
	t.Helper()
	for _, cand := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	Missing(t, "python3 with "+module+" (apt-get install python3-"+module+")", exec.ErrNotFound)
	return ""
}

// FreePort returns a TCP port the kernel picked as free on 127.0.0.1.
// Prefer listening on 127.0.0.1:0 and reading the port back; this is for a
// port that must be named before the process that listens on it starts.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreePorts returns the first of n consecutive TCP ports that are free on
// 127.0.0.1 (for a passive-port range). They are picked below 32768, out
// of the kernel's ephemeral range: there, the outgoing connections of
// every test running at once take ports all the time, so a range found
// free is soon taken (and under load no run of 20 free ports is found at
// all). Ranges handed out in this process are not handed out again.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	const lo, hi = 20000, 32768
	for range 500 {
		base := lo + rand.IntN(hi-lo-n)
		if !reserve(base, n) {
			continue
		}
		var held []net.Listener
		ok := true
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports on 127.0.0.1 below 32768", n)
	return 0
}

var (
	reservedMu sync.Mutex
	reserved   = map[int]bool{}
)

// reserve marks ports base..base+n-1 as handed out, unless one already is.
func reserve(base, n int) bool {
	reservedMu.Lock()
	defer reservedMu.Unlock()
	for p := base; p < base+n; p++ {
		if reserved[p] {
			return false
		}
	}
	for p := base; p < base+n; p++ {
		reserved[p] = true
	}
	return true
}

// PortRange is FreePorts written as a "LO-HI" range, as --passive-ports
// takes it.
func PortRange(t testing.TB, n int) string {
	t.Helper()
	lo := FreePorts(t, n)
	return strconv.Itoa(lo) + "-" + strconv.Itoa(lo+n-1)
}

// MountTmpfs mounts a tmpfs of size (as mount's size=, "4m") on a fresh
// folder and unmounts it when the test ends: a small filesystem that
// really fills up, for the tests of a full disk. Mounting needs root with
// CAP_SYS_ADMIN, which CI has: outside CI the test is skipped when the
// mount is refused, with the reason.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if InCI() {
			t.Fatalf("mount a tmpfs (CI runs as root with CAP_SYS_ADMIN): %v: %s", err, msg)
		}
		t.Skipf("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): %v: %s", err, msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Self returns a command that runs this test binary again as the one test
// named test (verbose, once), with env ("NAME=value") added to this
// process's environment, under wrap when given (a program and its
// arguments, as "ip netns exec NS"): the test finds the variable and plays
// its part in the child (a server to kill, a client in a network
// namespace).
func Self(test string, env []string, wrap ...string) *exec.Cmd {
	args := append(wrap, os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
