package cli

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/testenv"
)

// pyftpd starts pyftpdlib (a real third-party server) with the client
// package's test script, serving dir to alice:secret; it returns host:port.
func pyftpd(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	py := testenv.PythonWith(t, "pyftpdlib")
	script, _ := filepath.Abs("../client/testdata/pyftpd.py")
	cmd := exec.Command(py, append([]string{script, "--dir", dir}, flags...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORT ") {
		t.Fatalf("pyftpdlib did not start: %q %v", line, err)
	}
	return "127.0.0.1:" + strings.TrimSpace(strings.TrimPrefix(line, "PORT "))
}

// Regression (issue 4): "get URL/folder" without -r exited 1 and "ls" of a
// missing folder on pyftpdlib (501 No such directory) exited 1; they are a
// usage mistake (2) and not found (5).
func TestExitCodesFolderWithoutRecursiveAndMissingFolder(t *testing.T) {
	srv, home, _ := startServer(t, false)
	os.MkdirAll(filepath.Join(home, "folder"), 0o755)
	e := newClientEnv(t)
	url := "ftp://alice:secret@" + srv.Addr
	local := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(local, 0o755)
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"get", url + "/folder", t.TempDir()}, ExitUsage},
		{[]string{"put", local, url + "/"}, ExitUsage},
		{[]string{"ls", url + "/missing"}, ExitNotFound},
	} {
		if code, _, errs := e.run("", c.args...); code != c.want {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.want, errs)
		}
	}
	if _, _, errs := e.run("", "get", url+"/folder"); !strings.Contains(errs, "is a folder") || !strings.Contains(errs, "-r") {
		t.Errorf("get of a folder says %q: want it to name the folder and -r", errs)
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	py := "ftp://alice:secret@" + pyftpd(t, dir)
	for _, args := range [][]string{{"ls", py + "/missing"}, {"ls", "-l", py + "/sub/missing"}} {
		if code, _, errs := e.run("", args...); code != ExitNotFound {
			t.Errorf("%v on pyftpdlib: exit %d, want %d (%s)", args, code, ExitNotFound, errs)
		}
	}
}

// Regression (issue 4): against a server with no FEAT and no SIZE, "wharf
// get FILE" sent SIZE, CWD FILE, then QUIT, and failed. It downloads and says
// the file could not be verified.
func TestGetFromServerWithoutFEATOrSIZE(t *testing.T) {
	dir := t.TempDir()
	want := writeRandom(t, filepath.Join(dir, "f.bin"), 100_000)
	addr := pyftpd(t, dir, "--strip", "EPSV,EPRT,MLSD,MLST,MFMT,SIZE,MDTM,FEAT")
	e := newClientEnv(t)
	dst := filepath.Join(t.TempDir(), "f.bin")
	code, out, errs := e.run("", "get", "ftp://alice:secret@"+addr+"/f.bin", dst)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if fileSum(t, dst) != sum(want) {
		t.Fatal("downloaded file differs")
	}
	if !strings.Contains(out, "not verified") {
		t.Errorf("output %q: want it to say the file is not verified", out)
	}
	if code, _, errs := e.run("", "get", "ftp://alice:secret@"+addr+"/missing.bin", dst+"2"); code != ExitNotFound {
		t.Errorf("missing file on the old server: exit %d, want %d (%s)", code, ExitNotFound, errs)
	}
}
