package ftp_test

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// FuzzSessionCommands feeds arbitrary command lines to a logged-in session
// of a real server: whatever arrives, the server must keep serving new
// clients, never write outside the user's home and never answer with
// anything but well-formed reply lines.
func FuzzSessionCommands(f *testing.F) {
	for _, s := range []string{
		"MKD a\r\nCWD a\r\nPWD\r\n",
		"RNFR x\r\nRNTO ../../y\r\n",
		"STOR ../../escape\r\n",
		"REST 5\r\nAPPE f\r\n",
		"EPRT |2|::1|1|\r\nPORT 1,2,3,4,5,6\r\n",
		"MFMT 99999999999999 f\r\nMLST /\r\n",
		"RANG 9 1\r\nHASH f\r\nXMD5 f 5 2\r\n",
		"OPTS MLST ;;;\r\nOPTS HASH \r\nSITE QUOTA\r\nSTAT ..\r\n",
		"USER x\r\nPASS y\r\nREIN\r\n\xff\xff\r\n",
		"DELE /\r\nRMD /\r\nRMD ..\r\nCWD \x00\r\n",
	} {
		f.Add(s)
	}
	srv := ftptest.Start(f, ftptest.Options{})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	outside := filepath.Dir(home)
	before, _ := os.ReadDir(outside)
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("USER alice\r\nPASS secret\r\n" + input + "\r\nQUIT\r\n"))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break // closed: fine, as long as the server lives
			}
			if len(line) < 4 || !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("malformed reply line %q", line)
			}
			if line[0] != ' ' && (line[0] < '1' || line[0] > '5' || line[3] != ' ' && line[3] != '-') {
				t.Fatalf("malformed reply line %q", line)
			}
		}
		after, _ := os.ReadDir(outside)
		if len(after) != len(before) {
			t.Fatalf("something was written next to the home: %v", after)
		}
		r := dialRaw(t, srv.Addr)
		r.login("alice", "secret")
		r.must("QUIT", 221)
	})
}
