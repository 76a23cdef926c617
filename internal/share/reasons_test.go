package share

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"

	wftp "github.com/wharfftp/wharf/internal/ftp"
)

// Regression (issue 10): the same refusal said two things, FTP "550
// Permission denied." where HTTP said "409 already exists". Every case a
// share refuses on both protocols is tried on both, against a real share,
// and must answer with the same row of the engine's reason table: FTP its
// code and words, HTTP its status and the same words.
func TestShareGivesOneReasonOnBothProtocols(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old.txt"), []byte("original"))
	writeFile(t, filepath.Join(dir, "full", "inside.txt"), []byte("x"))
	write := startShare(t, Options{Dir: dir, Write: true})
	del := startShare(t, Options{Dir: dir, Delete: true})
	ro := startShare(t, Options{Dir: dir})

	type side func(t *testing.T) (code int, text string)
	ftpErr := func(s *running, op func(c *ftp.ServerConn) error) side {
		return func(t *testing.T) (int, string) {
			err := op(dialFTP(t, s.ftpAddr(), "anonymous", "x"))
			if err == nil {
				t.Fatal("FTP: not refused")
			}
			var te *textproto.Error
			if !errors.As(err, &te) {
				t.Fatalf("FTP: %v, not a reply", err)
			}
			return te.Code, te.Msg
		}
	}
	httpDo := func(s *running, method, target string, form url.Values, file string) side {
		return func(t *testing.T) (int, string) {
			var resp *http.Response
			var body []byte
			switch {
			case file != "":
				resp, body = upload(t, s.httpURL()+target, [2]string{file, "new bytes"})
			case form != nil:
				req, _ := http.NewRequest(method, s.httpURL()+target, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, body = do(t, req)
			default:
				req, _ := http.NewRequest(method, s.httpURL()+target, nil)
				resp, body = do(t, req)
			}
			return resp.StatusCode, strings.TrimSpace(string(body))
		}
	}
	cases := []struct {
		name       string
		want       wftp.Reason
		ftp, http  side
		httpDetail string
	}{
		{"replace an existing file", wftp.ReasonNoReplace,
			ftpErr(write, func(c *ftp.ServerConn) error { return c.Stor("/old.txt", strings.NewReader("new")) }),
			httpDo(write, "POST", "/", nil, "old.txt"), ""},
		{"new folder over a name", wftp.ReasonExists,
			ftpErr(write, func(c *ftp.ServerConn) error { return c.MakeDir("/full") }),
			httpDo(write, "POST", "/?op=mkdir", url.Values{"name": {"full"}}, ""), ""},
		{"download of nothing", wftp.ReasonNotFound,
			ftpErr(write, func(c *ftp.ServerConn) error { _, err := c.Retr("/missing.txt"); return err }),
			httpDo(write, "GET", "/missing.txt", nil, ""), ""},
		{"upload of a dot name", wftp.ReasonHidden,
			ftpErr(write, func(c *ftp.ServerConn) error { return c.Stor("/.env", strings.NewReader("SECRET")) }),
			httpDo(write, "POST", "/", nil, ".env"), ""},
		{"upload to a read-only share", wftp.ReasonPermission,
			ftpErr(ro, func(c *ftp.ServerConn) error { return c.Stor("/new.txt", strings.NewReader("new")) }),
			httpDo(ro, "POST", "/", nil, "new.txt"), "upload"},
		{"delete without --delete", wftp.ReasonPermission,
			ftpErr(write, func(c *ftp.ServerConn) error { return c.Delete("/old.txt") }),
			httpDo(write, "DELETE", "/old.txt", nil, ""), "delete"},
		{"delete of a folder that is not empty", wftp.ReasonNotEmpty,
			ftpErr(del, func(c *ftp.ServerConn) error { return c.RemoveDir("/full") }),
			httpDo(del, "DELETE", "/full/", nil, ""), ""},
	}
	seen := map[wftp.Reason]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen[tc.want] = true
			wantCode, wantText := tc.want.FTP()
			if code, text := tc.ftp(t); code != wantCode || text != wantText {
				t.Errorf("FTP: %d %q, want %d %q", code, text, wantCode, wantText)
			}
			wantStatus, wantLine := tc.want.HTTP(tc.httpDetail)
			if status, line := tc.http(t); status != wantStatus || line != wantLine {
				t.Errorf("HTTP: %d %q, want %d %q", status, line, wantStatus, wantLine)
			}
			if !strings.Contains(strings.ToLower(wantText), tc.want.Text()) || !strings.Contains(wantLine, tc.want.Text()) {
				t.Errorf("the table's FTP %q and HTTP %q do not both say %q", wantText, wantLine, tc.want.Text())
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "old.txt")); string(b) != "original" {
		t.Errorf("old.txt = %q after the refusals", b)
	}
}

// Every reason has its own words and a row of its own (none falls through
// to the table's default), so no two cases read alike.
func TestReasonTableIsComplete(t *testing.T) {
	texts := map[string]wftp.Reason{}
	for _, r := range wftp.Reasons() {
		if status, _ := r.HTTP(""); status == http.StatusInternalServerError {
			t.Errorf("reason %d has no row", r)
		}
		if other, dup := texts[r.Text()]; dup {
			t.Errorf("reasons %d and %d both say %q", r, other, r.Text())
		}
		texts[r.Text()] = r
	}
}
