package testenv

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testRules are the habits issue 10 found in the tests, as patterns over
// their source: each broke a run on a machine unlike the author's.
var testRules = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`exec\.LookPath\(`),
		"looks a tool up itself: use testenv.Tool (skip with its name outside CI, fail in CI), not a rule of its own"},
	{regexp.MustCompile(`\bt\.Skipf?\(.*(not installed|not found|missing)`),
		"skips for a missing tool by itself: in CI that hides the test; use testenv.Tool or testenv.Missing"},
	{regexp.MustCompile(`(?i)passive[-_ ]ports.*\b\d{4,5}-\d{4,5}\b`),
		"a fixed passive port range: two runs on one machine collide; take free ports (testenv.FreePort)"},
	{regexp.MustCompile(`"(127\.0\.0\.1|localhost|\[::1\]|0\.0\.0\.0|):[1-9]\d{3,4}"`),
		"a fixed port: take one from the kernel (\":0\", testenv.FreePort)"},
	{regexp.MustCompile(`Listen\("tcp[46]?", ":|"0\.0\.0\.0:|"\[::\]:`),
		"listens on every interface: tests listen on loopback only"},
}

// Regression (issue 10): without curl or python3, internal/cli tests failed
// where other packages skipped; tests used fixed ports 47000-47111 and one
// listened on all interfaces. Every test file of the module keeps to one
// rule for tools and takes loopback ports from the kernel. A line may opt
// out with a "testenv:ok" comment saying why (a port that is only parsed,
// never listened on, for instance).
func TestTestsKeepTheToolAndPortRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s", root)
	}
	self, _ := filepath.Abs("rules_test.go")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") || p == self {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.Contains(line, "testenv:ok") || strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, r := range testRules {
				if r.re.MatchString(line) {
					rel, _ := filepath.Rel(root, p)
					t.Errorf("%s:%d: %s\n\t%s", rel, n, r.why, strings.TrimSpace(line))
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The rules must catch what they are for: the lines issue 10 found.
func TestToolAndPortRulesCatchTheOldLines(t *testing.T) {
	for _, old := range []string{
		`	py, err := exec.LookPath("/usr/bin/python3")`,
		`		t.Skip("curl not installed")`,
		`	addr, _ := startServe(t, nil, "--data", data, "--listen", "127.0.0.1:0", "--passive-ports", "47000-47099")`,
		`	addr, _ := startServe(t, []string{"WHARF_DATA=" + data, "WHARF_PASSIVE_PORTS=47110-47111"})`,
		`	ln, err := net.Listen("tcp", "127.0.0.1:47001")`,
		`	ln, err := net.Listen("tcp", ":0")`,
	} {
		caught := false
		for _, r := range testRules {
			caught = caught || r.re.MatchString(old)
		}
		if !caught {
			t.Errorf("no rule catches %q", old)
		}
	}
	for _, fine := range []string{
		`	ln, err := net.Listen("tcp", "127.0.0.1:0")`,
		`	testenv.Tool(t, "curl")`,
	} {
		for _, r := range testRules {
			if r.re.MatchString(fine) {
				t.Errorf("rule %q refuses the right way %q", r.why, fine)
			}
		}
	}
}

// Regression (issue 10): go.mod marked direct dependencies "// indirect".
// The module is tidy (go mod tidy -diff prints nothing), from the module
// cache alone; .ci/run checks the same before the tests.
func TestGoModIsTidy(t *testing.T) {
	goTool := Tool(t, "go")
	cmd := exec.Command(goTool, "mod", "tidy", "-diff")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "module lookup disabled") {
		Missing(t, "modules in the cache", err)
	}
	if err != nil || len(out) > 0 {
		t.Fatalf("go mod tidy -diff: %v\n%s", err, out)
	}
}
