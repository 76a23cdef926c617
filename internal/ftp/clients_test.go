package ftp_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, "curl", append([]string{"-sS", "--fail", "--max-time", "30"}, args...)...)
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return out
}

func TestCurlPassiveAndActiveUploadDownloadListResume(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	base := "ftp://alice:secret@" + srv.Addr + "/"
	dir := t.TempDir()
	data := randomBytes(t, 2<<20+123)
	src := filepath.Join(dir, "src.bin")
	writeFile(t, src, data)
	for _, mode := range []struct {
		name string
		args []string
	}{{"passive", nil}, {"active", []string{"-P", "127.0.0.1"}}, {"pasv-not-epsv", []string{"--disable-epsv"}}, {"port-not-eprt", []string{"-P", "127.0.0.1", "--disable-eprt"}}} {
		t.Run(mode.name, func(t *testing.T) {
			remote := "up-" + mode.name + ".bin"
			curl(t, append(mode.args, "-T", src, base+remote)...)
			if fileSum(t, filepath.Join(home, remote)) != sum(data) {
				t.Fatal("uploaded file differs")
			}
			out := filepath.Join(dir, "down-"+mode.name)
			curl(t, append(mode.args, "-o", out, base+remote)...)
			if fileSum(t, out) != sum(data) {
				t.Fatal("downloaded file differs")
			}
			list := curl(t, append(mode.args, base)...)
			if !strings.Contains(list, remote) || !strings.HasPrefix(list, "-rw-") && !strings.Contains(list, "\n-rw-") {
				t.Fatalf("LIST output:\n%s", list)
			}
			names := curl(t, append(mode.args, "-l", base)...)
			if !strings.Contains(names, remote+"\r\n") && !strings.Contains(names, remote+"\n") {
				t.Fatalf("NLST output:\n%s", names)
			}
		})
	}
	t.Run("resume-download", func(t *testing.T) {
		out := filepath.Join(dir, "partial-down")
		writeFile(t, out, data[:777777])
		curl(t, "-C", "-", "-o", out, base+"up-passive.bin")
		if fileSum(t, out) != sum(data) {
			t.Fatal("resumed download differs")
		}
	})
	t.Run("resume-upload", func(t *testing.T) {
		writeFile(t, filepath.Join(home, "partial-up"), data[:1000003])
		curl(t, "-C", "-", "-T", src, base+"partial-up")
		if fileSum(t, filepath.Join(home, "partial-up")) != sum(data) {
			t.Fatal("resumed upload differs")
		}
	})
	t.Run("quote-commands", func(t *testing.T) {
		curl(t, "-Q", "MKD made", "-Q", "RNFR up-active.bin", "-Q", "RNTO made/moved.bin", "-Q", "DELE up-pasv-not-epsv.bin", base)
		if _, err := os.Stat(filepath.Join(home, "made", "moved.bin")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(home, "up-pasv-not-epsv.bin")); !os.IsNotExist(err) {
			t.Fatalf("DELE did not delete: %v", err)
		}
		curl(t, "--ftp-create-dirs", "-T", src, base+"deep/er/x.bin")
		if fileSum(t, filepath.Join(home, "deep", "er", "x.bin")) != sum(data) {
			t.Fatal("upload into created dirs differs")
		}
	})
}

func TestCurlIPv6LoopbackEPSVAndEPRT(t *testing.T) {
	srv, home := start(t, ftptest.Options{IPv6: true})
	base := "ftp://alice:secret@" + srv.Addr + "/"
	src := filepath.Join(t.TempDir(), "v6.bin")
	data := randomBytes(t, 300000)
	writeFile(t, src, data)
	curl(t, "-g", "-T", src, base+"v6.bin")
	curl(t, "-g", "-P", "::1", "-T", src, base+"v6-active.bin")
	for _, n := range []string{"v6.bin", "v6-active.bin"} {
		if fileSum(t, filepath.Join(home, n)) != sum(data) {
			t.Fatalf("%s differs", n)
		}
	}
	out := curl(t, "-g", base+"v6-active.bin")
	if sum([]byte(out)) != sum(data) {
		t.Fatal("IPv6 download differs")
	}
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("PASV", 425) // PASV cannot carry an IPv6 address
	r.must("EPSV 1", 522)
	r.must("EPSV 2", 229)
	r.must("EPRT |1|127.0.0.1|5000|", 522)
}

func TestCurlExplicitAndImplicitFTPS(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{ImplicitTLS: true, Configure: func(c *ftp.Config) {
		c.TLSRequired = true
		c.TLSRequireReuse = true
	}})
	home := srv.Users.Add("alice", "secret", 0xFFFF)
	cert := srv.CertFile(t)
	data := randomBytes(t, 1<<20)
	src := filepath.Join(t.TempDir(), "tls.bin")
	writeFile(t, src, data)
	// Explicit: AUTH TLS on the plain port.
	curl(t, "--ssl-reqd", "--cacert", cert, "-T", src, "ftp://alice:secret@"+srv.Addr+"/explicit.bin")
	got := curl(t, "--ssl-reqd", "--cacert", cert, "ftp://alice:secret@"+srv.Addr+"/explicit.bin")
	if sum([]byte(got)) != sum(data) || fileSum(t, filepath.Join(home, "explicit.bin")) != sum(data) {
		t.Fatal("explicit FTPS round trip differs")
	}
	// Implicit: TLS from the first byte.
	curl(t, "--cacert", cert, "-T", src, "ftps://alice:secret@"+srv.ImplicitAddr+"/implicit.bin")
	got = curl(t, "--cacert", cert, "ftps://alice:secret@"+srv.ImplicitAddr+"/implicit.bin")
	if sum([]byte(got)) != sum(data) {
		t.Fatal("implicit FTPS round trip differs")
	}
	list := curl(t, "--cacert", cert, "ftps://alice:secret@"+srv.ImplicitAddr+"/")
	if !strings.Contains(list, "implicit.bin") {
		t.Fatalf("implicit LIST:\n%s", list)
	}
	// Plain login is refused when TLS is required.
	out, err := run(t, "curl", "-sS", "--fail", "ftp://alice:secret@"+srv.Addr+"/explicit.bin")
	if err == nil {
		t.Fatalf("plain curl succeeded against TLSRequired:\n%s", out)
	}
}

const ftplibRoundTrip = `
import ftplib, hashlib, io, sys
host, port, pasv = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "pasv"
data = bytes(range(256)) * 4000
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
ftp.login("alice", "secret")
ftp.set_pasv(pasv)
ftp.storbinary("STOR py.bin", io.BytesIO(data))
out = io.BytesIO()
ftp.retrbinary("RETR py.bin", out.write)
assert out.getvalue() == data, "download differs"
assert ftp.size("py.bin") == len(data)
ftp.mkd("pydir")
ftp.rename("py.bin", "pydir/moved.bin")
facts = dict(ftp.mlsd("pydir"))
assert facts["moved.bin"]["type"] == "file", facts
assert facts["moved.bin"]["size"] == str(len(data)), facts
assert ftp.nlst("pydir") == ["moved.bin"], ftp.nlst("pydir")
lines = []
ftp.retrlines("LIST -la pydir", lines.append)
assert len(lines) == 1 and lines[0].endswith(" moved.bin"), lines
ftp.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\n"))
print(ftp.sendcmd("XSHA256 pydir/moved.bin").split()[1] == hashlib.sha256(data).hexdigest())
ftp.delete("pydir/moved.bin")
ftp.rmd("pydir")
print(ftp.pwd())
ftp.quit()
`

func TestPythonFtplibPassiveAndActive(t *testing.T) {
	for _, mode := range []string{"pasv", "active"} {
		t.Run(mode, func(t *testing.T) {
			srv, home := start(t, ftptest.Options{})
			h, p := hostPort(t, srv.Addr)
			out := python(t, ftplibRoundTrip, h, p, mode)
			if out != "True\n/" {
				t.Fatalf("ftplib output %q", out)
			}
			// TYPE A upload turned LF into CRLF on the wire and back to LF.
			b, _ := os.ReadFile(filepath.Join(home, "text.txt"))
			if string(b) != "one\ntwo\n" {
				t.Fatalf("ASCII upload stored %q", b)
			}
		})
	}
}

func TestPythonFtplibTLS(t *testing.T) {
	// Python's ftplib (3.11) does not resume the control session on data
	// connections, so, as with vsftpd's require_ssl_reuse, it only works
	// with TLSRequireReuse off.
	srv := ftptest.Start(t, ftptest.Options{TLS: true})
	srv.Users.Add("alice", "secret", 0xFFFF)
	h, p := hostPort(t, srv.Addr)
	script := `
import ftplib, io, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
ftp = ftplib.FTP_TLS(context=ctx)
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
ftp.login("alice", "secret")
ftp.prot_p()
ftp.storbinary("STOR s.bin", io.BytesIO(b"z" * 100000))
out = io.BytesIO()
ftp.retrbinary("RETR s.bin", out.write)
print(len(out.getvalue()))
ftp.quit()
`
	if out := python(t, script, h, p, srv.CertFile(t)); out != "100000" {
		t.Fatalf("ftplib TLS output %q", out)
	}
}

func TestLftpPutGetMirrorAndList(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	dir := t.TempDir()
	local := filepath.Join(dir, "tree")
	for i := range 5 {
		writeFile(t, filepath.Join(local, fmt.Sprintf("d%d", i%2), fmt.Sprintf("f%d.bin", i)), randomBytes(t, 10000*(i+1)))
	}
	h, p := hostPort(t, srv.Addr)
	script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; open -u alice,secret -p %s %s;
mirror -R %s /tree; cls -l /tree; mirror /tree %s; put %s/d0/f0.bin -o /single.bin; get /single.bin -o %s/single.out; rm /single.bin; mkdir /x; rmdir /x; quit`,
		p, h, local, filepath.Join(dir, "back"), local, dir)
	out, err := run(t, "lftp", "-c", script)
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	for i := range 5 {
		rel := filepath.Join(fmt.Sprintf("d%d", i%2), fmt.Sprintf("f%d.bin", i))
		want := fileSum(t, filepath.Join(local, rel))
		if fileSum(t, filepath.Join(home, "tree", rel)) != want || fileSum(t, filepath.Join(dir, "back", rel)) != want {
			t.Fatalf("%s differs after mirror", rel)
		}
	}
	if !bytes.Contains([]byte(out), []byte("d0")) {
		t.Fatalf("lftp cls output lacks d0:\n%s", out)
	}
	if fileSum(t, filepath.Join(dir, "single.out")) != fileSum(t, filepath.Join(local, "d0", "f0.bin")) {
		t.Fatal("lftp get differs")
	}
}

func TestLftpOverFTPSWithDataProtection(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{TLS: true, Configure: func(c *ftp.Config) { c.TLSRequired = true; c.TLSRequireReuse = true }})
	home := srv.Users.Add("alice", "secret", 0xFFFF)
	dir := t.TempDir()
	src := filepath.Join(dir, "s.bin")
	data := randomBytes(t, 500000)
	writeFile(t, src, data)
	h, p := hostPort(t, srv.Addr)
	script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ssl:ca-file %s; set ssl:check-hostname no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes;
open -u alice,secret -p %s %s; put %s -o /s.bin; get /s.bin -o %s/back.bin; ls /; quit`, srv.CertFile(t), p, h, src, dir)
	out, err := run(t, "lftp", "-c", script)
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if fileSum(t, filepath.Join(home, "s.bin")) != sum(data) || fileSum(t, filepath.Join(dir, "back.bin")) != sum(data) {
		t.Fatal("lftp FTPS round trip differs")
	}
}

func TestLftpResumesBothDirections(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	dir := t.TempDir()
	data := randomBytes(t, 1<<20+999)
	writeFile(t, filepath.Join(home, "down.bin"), data)
	writeFile(t, filepath.Join(dir, "down.bin"), data[:300000]) // a broken earlier download
	writeFile(t, filepath.Join(dir, "up.bin"), data)
	writeFile(t, filepath.Join(home, "up.bin"), data[:400001]) // a broken earlier upload
	h, p := hostPort(t, srv.Addr)
	script := fmt.Sprintf(`set cmd:fail-exit yes; set net:max-retries 1; set ftp:ssl-allow no; open -u alice,secret -p %s %s;
lcd %s; get -c down.bin; put -c up.bin; quit`, p, h, dir)
	out, err := run(t, "lftp", "-c", script)
	if err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if fileSum(t, filepath.Join(dir, "down.bin")) != sum(data) {
		t.Fatal("lftp get -c: resumed download differs")
	}
	if fileSum(t, filepath.Join(home, "up.bin")) != sum(data) {
		t.Fatal("lftp put -c: resumed upload differs")
	}
	if !strings.Contains(srv.Logs(), "cmd=REST") {
		t.Fatal("lftp did not resume with REST")
	}
}
