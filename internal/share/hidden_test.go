package share

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regression (issue 10): `wharf share` run in a project folder published
// .git and every dotfile to everyone nearby. Dot names are hidden and
// refused on both protocols unless Hidden: in listings, downloads, CWD,
// and uploads or folders that would create one.
func TestShareHidesAndRefusesDotNamesOnBothProtocolsUnlessHidden(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".env"), []byte("SECRET=1"))
	writeFile(t, filepath.Join(dir, ".git", "config"), []byte("[core]"))
	writeFile(t, filepath.Join(dir, "sub", ".netrc"), []byte("machine x password y"))
	writeFile(t, filepath.Join(dir, "visible.txt"), []byte("hello"))
	s := startShare(t, Options{Dir: dir, Write: true})

	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	for _, folder := range []string{"/", "/sub"} {
		names, err := c.NameList(folder)
		if err != nil {
			t.Fatalf("NLST %s: %v", folder, err)
		}
		entries, err := c.List(folder)
		if err != nil {
			t.Fatalf("LIST %s: %v", folder, err)
		}
		for _, e := range entries {
			names = append(names, e.Name)
		}
		for _, n := range names {
			if strings.HasPrefix(filepath.Base(n), ".") {
				t.Errorf("FTP listing of %s shows %q", folder, n)
			}
		}
	}
	if got := retr(t, c, "visible.txt"); string(got) != "hello" {
		t.Errorf("RETR visible.txt = %q", got)
	}
	for _, p := range []string{".env", "/.git/config", "sub/.netrc", "/sub/../.env"} {
		if r, err := c.Retr(p); err == nil {
			r.Close()
			t.Errorf("RETR %s succeeded", p)
		} else if !strings.HasPrefix(err.Error(), "550 ") || !strings.Contains(err.Error(), "No such file") {
			t.Errorf("RETR %s: %v, want 550 No such file", p, err)
		}
		if _, err := c.FileSize(p); err == nil {
			t.Errorf("SIZE %s succeeded", p)
		}
	}
	if err := c.ChangeDir("/.git"); err == nil {
		t.Errorf("CWD .git succeeded")
	}
	if err := c.Stor("/.new", strings.NewReader("x")); err == nil || !strings.HasPrefix(err.Error(), "553") {
		t.Errorf("STOR .new: %v, want 553", err)
	}
	if err := c.MakeDir("/.d"); err == nil {
		t.Errorf("MKD .d succeeded")
	}
	if err := c.Rename("/visible.txt", "/.visible"); err == nil {
		t.Errorf("RNTO .visible succeeded")
	}

	resp, body := get(t, s.httpURL()+"/")
	if resp.StatusCode != 200 || bytes.Contains(body, []byte(".env")) || bytes.Contains(body, []byte(".git")) {
		t.Errorf("web page of / = %d, shows a dot name:\n%s", resp.StatusCode, body)
	}
	if resp, body := get(t, s.httpURL()+"/sub/"); resp.StatusCode != 200 || bytes.Contains(body, []byte(".netrc")) {
		t.Errorf("web page of /sub/ = %d, shows .netrc", resp.StatusCode)
	}
	for _, p := range []string{"/.env", "/.git/config", "/.git/", "/sub/.netrc", "/sub/%2e%6eetrc"} {
		if resp, _ := get(t, s.httpURL()+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("PUT", s.httpURL()+"/.new", strings.NewReader("x"))
	if resp, body := do(t, req); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "dot") {
		t.Errorf("PUT /.new = %d %q", resp.StatusCode, body)
	}
	if resp, body := upload(t, s.httpURL()+"/", [2]string{".new", "x"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload of .new = %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("POST", s.httpURL()+"/?op=mkdir", strings.NewReader(url.Values{"name": {".d"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, body := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("mkdir .d = %d %q", resp.StatusCode, body)
	}
	for _, n := range []string{".new", ".d", ".visible"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s was created", n)
		}
	}

	// --hidden shows and serves them.
	h := startShare(t, Options{Dir: dir, Hidden: true})
	hc := dialFTP(t, h.ftpAddr(), "anonymous", "x")
	names, err := hc.NameList("/")
	if err != nil || !strings.Contains(strings.Join(names, " "), ".env") {
		t.Errorf("NLST with Hidden = %v %v", names, err)
	}
	if got := retr(t, hc, "/.git/config"); string(got) != "[core]" {
		t.Errorf("RETR .git/config with Hidden = %q", got)
	}
	if resp, body := get(t, h.httpURL()+"/.env"); resp.StatusCode != 200 || string(body) != "SECRET=1" {
		t.Errorf("GET /.env with Hidden = %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, h.httpURL()+"/"); !bytes.Contains(body, []byte(".env")) {
		t.Errorf("web page with Hidden = %d, lacks .env", resp.StatusCode)
	}
}

// Regression (issue 10): refusing an upload over an existing file said
// "550 Permission denied." on FTP and "409 already exists" on the web page.
// The reason is one: the file exists and this share does not replace.
func TestShareRefusesAReplaceWithOneReasonOnBothProtocols(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old.txt"), []byte("original"))
	writeFile(t, filepath.Join(dir, "other.txt"), []byte("other"))
	s := startShare(t, Options{Dir: dir, Write: true})
	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	const reason = "file exists and may not be replaced"
	err := c.Stor("/old.txt", strings.NewReader("replaced"))
	if err == nil || !strings.HasPrefix(err.Error(), "550 ") || !strings.Contains(strings.ToLower(err.Error()), reason) {
		t.Errorf("FTP STOR over a file: %v, want 550 saying %q", err, reason)
	}
	resp, body := upload(t, s.httpURL()+"/", [2]string{"old.txt", "replaced"})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(strings.ToLower(string(body)), reason) {
		t.Errorf("HTTP upload over a file: %d %q, want 409 saying %q", resp.StatusCode, body, reason)
	}
	req, _ := http.NewRequest("PUT", s.httpURL()+"/old.txt", strings.NewReader("replaced"))
	if resp, body := do(t, req); resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), reason) {
		t.Errorf("HTTP PUT over a file: %d %q", resp.StatusCode, body)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "old.txt")); string(b) != "original" {
		t.Errorf("old.txt = %q", b)
	}
}
