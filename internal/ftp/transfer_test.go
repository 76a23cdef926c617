package ftp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// bigSparse makes a large file that costs no disk.
func bigSparse(t testing.TB, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestABORStopsALargeDownloadAndTheSessionCarriesOn(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	bigSparse(t, filepath.Join(home, "huge"), 8<<30)
	writeFile(t, filepath.Join(home, "small"), []byte("small file"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	dc := dataConn(t, r)
	r.must("RETR huge", 150)
	if _, err := io.ReadFull(dc, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading data: %v", err)
	}
	start := time.Now()
	r.tp.PrintfLine("ABOR")
	r.expect(426)
	r.expect(226)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ABOR took %v", d)
	}
	// The session carries on.
	r.must("NOOP", 200)
	dc2 := dataConn(t, r)
	r.must("RETR small", 150)
	b, _ := io.ReadAll(dc2)
	r.expect(226)
	if string(b) != "small file" {
		t.Fatalf("after ABOR got %q", b)
	}
	r.must("ABOR", 226) // no transfer: still 226
}

func TestABORStopsAnUploadAndKeepsThePartial(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	dc := dataConn(t, r)
	r.must("STOR part.bin", 150)
	chunk := randomBytes(t, 256<<10)
	dc.Write(chunk)
	time.Sleep(100 * time.Millisecond) // let it reach the disk
	r.tp.PrintfLine("ABOR")
	r.expect(426)
	r.expect(226)
	b, err := os.ReadFile(filepath.Join(home, "part.bin"))
	if err != nil || !bytes.Equal(b, chunk[:len(b)]) {
		t.Fatalf("partial not kept under the target name: %v (%d bytes)", err, len(b))
	}
	if msg := r.must("SIZE part.bin", 213); msg != fmt.Sprint(len(b)) {
		t.Fatalf("SIZE %s, stored %d", msg, len(b))
	}
	ents, _ := os.ReadDir(home)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
}

func TestPythonFtplibAbortWithUrgentData(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	bigSparse(t, filepath.Join(home, "huge"), 8<<30)
	h, p := hostPort(t, srv.Addr)
	script := `
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
ftp.login("alice", "secret")
ftp.voidcmd("TYPE I")
conn = ftp.transfercmd("RETR huge")
got = 0
while got < 4 << 20:
    got += len(conn.recv(65536))
resp = ftp.abort()  # ABOR sent with MSG_OOB, as ftplib does
conn.close()
print(resp[:3])
try:
    print(ftp.voidresp()[:3])
except ftplib.Error as e:
    print(str(e)[:3])
print(ftp.sendcmd("NOOP")[:3])
`
	out := python(t, script, h, p)
	if out != "426\n226\n200" {
		t.Fatalf("ftplib abort: %q", out)
	}
}

func TestResumeBothDirectionsEndsWithIdenticalSHA256(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	data := randomBytes(t, 3<<20+17)
	c := login(t, srv.Addr, "alice", "secret")

	// Upload: a broken first part, then REST+STOR of the rest.
	cut := 1<<20 + 5
	if err := c.Stor("up.bin", bytes.NewReader(data[:cut])); err != nil {
		t.Fatal(err)
	}
	size, err := c.FileSize("up.bin")
	if err != nil || size != int64(cut) {
		t.Fatalf("SIZE %d %v", size, err)
	}
	if err := c.StorFrom("up.bin", bytes.NewReader(data[size:]), uint64(size)); err != nil {
		t.Fatalf("REST+STOR: %v", err)
	}
	if fileSum(t, filepath.Join(home, "up.bin")) != sum(data) {
		t.Fatal("resumed upload differs")
	}
	// APPE.
	if err := c.Stor("app.bin", bytes.NewReader(data[:100])); err != nil {
		t.Fatal(err)
	}
	if err := c.Append("app.bin", bytes.NewReader(data[100:])); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if fileSum(t, filepath.Join(home, "app.bin")) != sum(data) {
		t.Fatal("appended upload differs")
	}
	// Download from an offset.
	resp, err := c.RetrFrom("up.bin", uint64(cut))
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(resp)
	resp.Close()
	if sum(append(append([]byte{}, data[:cut]...), rest...)) != sum(data) {
		t.Fatal("resumed download differs")
	}
	// REST past the end is refused.
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("REST 999999999", 350)
	dataConn(t, r)
	r.must("RETR up.bin", 554)
}

func TestUploadIsAtomicReadersSeeOldFileOrNone(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	old := bytes.Repeat([]byte("old"), 1000)
	writeFile(t, filepath.Join(home, "doc"), old)
	reader := login(t, srv.Addr, "alice", "secret")

	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	for _, target := range []string{"doc", "fresh"} {
		dc := dataConn(t, r)
		r.must("STOR "+target, 150)
		newData := randomBytes(t, 1<<20)
		dc.Write(newData[:500000])
		time.Sleep(50 * time.Millisecond)
		// Mid-upload: the target is the old file (or absent), never partial.
		resp, err := reader.Retr(target)
		if target == "doc" {
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp)
			resp.Close()
			if !bytes.Equal(got, old) {
				t.Fatalf("reader saw %d bytes of a half-written file", len(got))
			}
		} else if err == nil {
			resp.Close()
			t.Fatal("a new file is visible before its upload completed")
		}
		ents, err := reader.List("/")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".wharf") {
				t.Fatalf("listing shows the in-progress upload %q", e.Name)
			}
		}
		dc.Write(newData[500000:])
		dc.Close()
		r.expect(226)
		if fileSum(t, filepath.Join(home, target)) != sum(newData) {
			t.Fatal("completed upload differs")
		}
	}
}

func TestDurableUploadIsCompleteAtTheReply(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.Durable = true }})
	home := srv.Users.Add("alice", "secret", 0xFFFF)
	c := login(t, srv.Addr, "alice", "secret")
	data := randomBytes(t, 100000)
	if err := c.Stor("d.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if fileSum(t, filepath.Join(home, "d.bin")) != sum(data) {
		t.Fatal("durable upload differs")
	}
}

func TestSTOUPicksAUniqueName(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "report"), []byte("first"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	dc := dataConn(t, r)
	msg := r.must("STOU report", 150)
	if !strings.HasPrefix(msg, "FILE: report.1") {
		t.Fatalf("STOU 150 %q", msg)
	}
	dc.Write([]byte("second"))
	dc.Close()
	r.expect(226)
	b, _ := os.ReadFile(filepath.Join(home, "report.1"))
	if string(b) != "second" {
		t.Fatalf("STOU stored %q", b)
	}
}

func TestTypeAConvertsLineEndingsBothWays(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "unix.txt"), []byte("a\nb\n"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE A", 200)
	dc := dataConn(t, r)
	r.must("RETR unix.txt", 150)
	b, _ := io.ReadAll(dc)
	r.expect(226)
	if string(b) != "a\r\nb\r\n" {
		t.Fatalf("TYPE A download %q", b)
	}
	dc = dataConn(t, r)
	r.must("STOR dos.txt", 150)
	dc.Write([]byte("x\r\ny\r\n"))
	dc.Close()
	r.expect(226)
	b, _ = os.ReadFile(filepath.Join(home, "dos.txt"))
	if string(b) != "x\ny\n" {
		t.Fatalf("TYPE A upload stored %q", b)
	}
}

func TestActiveModeWithJlaffayeAndPORT(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "f"), []byte("active data"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := ln.Addr().(*net.TCPAddr).Port
	r.must(fmt.Sprintf("PORT 127,0,0,1,%d,%d", p>>8, p&0xFF), 200)
	r.must("RETR f", 150)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(bufio.NewReader(c))
	r.expect(226)
	if string(b) != "active data" {
		t.Fatalf("active RETR %q", b)
	}
	r.must("RETR f", 425) // the PORT is used up
}

func TestRESTBelowTheEndReplacesTheTailOnlyWhenDataFlows(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.DataTimeout = 200 * time.Millisecond }})
	// The account already counts the 10-byte file.
	u := srv.Users.Set(accounts.User{Name: "q", Perms: accounts.PresetFull, UsedBytes: 10, UsedFiles: 1}, "pw")
	writeFile(t, filepath.Join(u.Home, "f"), []byte("0123456789"))
	r := dialRaw(t, srv.Addr)
	r.login("q", "pw")
	r.must("REST 4", 350)
	r.must("EPSV", 229) // ...but never connect
	r.must("STOR f", 150)
	r.expect(425)
	if b, _ := os.ReadFile(filepath.Join(u.Home, "f")); string(b) != "0123456789" {
		t.Fatalf("a transfer that never started changed the file: %q", b)
	}
	r.must("REST 4", 350)
	dc := dataConn(t, r)
	r.must("STOR f", 150)
	dc.Write([]byte("ab"))
	dc.Close()
	r.expect(226)
	if b, _ := os.ReadFile(filepath.Join(u.Home, "f")); string(b) != "0123ab" {
		t.Fatalf("REST 4 + STOR stored %q", b)
	}
	if got := usage(t, srv, "q", "pw"); got.UsedBytes != 10-6+2 || got.UsedFiles != 1 {
		t.Fatalf("usage %+v, want 6 bytes in 1 file", got)
	}
}
