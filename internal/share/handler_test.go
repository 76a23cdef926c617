package share

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/vfs"
)

// cheapArgon keeps test logins fast; the hash function itself is the
// accounts package's business.
var cheapArgon = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

type fixture struct {
	dir    string
	url    string
	events chan Event
	auth   *accounts.Memory
}

// serveDir serves dir through Handler on a real socket, logging in as the
// given users. Wrong passwords are answered at once.
func serveDir(t *testing.T, dir string, users ...accounts.MemoryUser) *fixture {
	t.Helper()
	return serveDirWith(t, dir, HandlerOptions{LoginFailDelay: -1}, users...)
}

func serveDirWith(t *testing.T, dir string, opts HandlerOptions, users ...accounts.MemoryUser) *fixture {
	t.Helper()
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	auth := accounts.NewMemoryWith(cheapArgon, users...)
	f := &fixture{dir: dir, events: make(chan Event, 100), auth: auth}
	opts.Auth = auth
	opts.Events = func(e Event) { f.events <- e }
	srv := httptest.NewServer(Handler(fsys, opts))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func anon(dir string, p accounts.Perm) accounts.MemoryUser {
	return accounts.MemoryUser{User: accounts.User{Name: accounts.AnonymousUser, Home: dir, Perms: p}}
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// multipartBody builds an upload form holding files (name -> content).
func multipartBody(t *testing.T, files ...[2]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		w, err := mw.CreateFormFile("file", f[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func upload(t *testing.T, u string, files ...[2]string) (*http.Response, []byte) {
	t.Helper()
	body, ct := multipartBody(t, files...)
	req, _ := http.NewRequest("POST", u, body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	return do(t, req)
}

func TestListingShowsFoldersFirstSortedAndSizes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.txt"), make([]byte, 3000))
	writeFile(t, filepath.Join(dir, "A.txt"), make([]byte, 10))
	writeFile(t, filepath.Join(dir, "zdir", "inner.txt"), []byte("x"))
	writeFile(t, filepath.Join(dir, "100% sure?#.txt"), []byte("odd"))
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(dir, "b.txt"), old, old)
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))

	resp, body := get(t, f.url+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	page := string(body)
	order := func(page string, names ...string) {
		t.Helper()
		last := -1
		for _, n := range names {
			i := strings.Index(page, `<span class="h">`+n+`</span>`)
			if i < 0 {
				t.Fatalf("%q not listed", n)
			}
			if i < last {
				t.Fatalf("%q out of order in %v", n, names)
			}
			last = i
		}
	}
	order(page, "zdir", "100% sure?#.txt", "A.txt", "b.txt")
	if !strings.Contains(page, `href="/100%25%20sure%3F%23.txt"`) {
		t.Errorf("odd name not escaped in its link")
	}
	if !strings.Contains(page, `title="3000 bytes">2.9 KiB<`) {
		t.Errorf("size of b.txt not shown")
	}
	if !strings.Contains(page, `name="viewport"`) || strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org") {
		t.Errorf("page lacks viewport meta or refers to an external resource")
	}
	if strings.Contains(page, `id="upload-form"`) {
		t.Errorf("read-only page offers uploads")
	}

	_, body = get(t, f.url+"/?sort=size&order=desc")
	order(string(body), "zdir", "b.txt", "A.txt", "100% sure?#.txt")
	_, body = get(t, f.url+"/?sort=date")
	order(string(body), "zdir", "b.txt")

	// A folder without its slash redirects, so relative links work.
	req, _ := http.NewRequest("GET", f.url+"/zdir", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/zdir/" {
		t.Errorf("GET /zdir = %d Location %q, want 301 to /zdir/", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = get(t, f.url+"/zdir/")
	if !strings.Contains(string(body), `href="/zdir/inner.txt"`) || !strings.Contains(string(body), `aria-current="page">zdir<`) {
		t.Errorf("sub-folder page lacks its file or breadcrumb")
	}
}

func TestDownloadWholeRangeAndResumeIdentical(t *testing.T) {
	dir := t.TempDir()
	data := randomBytes(t, 3<<20+17)
	writeFile(t, filepath.Join(dir, "big.bin"), data)
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))

	resp, body := get(t, f.url+"/big.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("whole download: %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal(body, data))
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges = %q", resp.Header.Get("Accept-Ranges"))
	}
	etag := resp.Header.Get("ETag")

	req, _ := http.NewRequest("GET", f.url+"/big.bin", nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, body = do(t, req)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[:100]) {
		t.Fatalf("Range 0-99: %d, %d bytes", resp.StatusCode, len(body))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 0-99/%d", len(data)) {
		t.Errorf("Content-Range = %q", cr)
	}

	// Resume: the first part cut at an odd offset, the rest with If-Range,
	// together identical to the source.
	cut := 1234567
	h := sha256.New()
	h.Write(data[:cut])
	req, _ = http.NewRequest("GET", f.url+"/big.bin", nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", cut))
	req.Header.Set("If-Range", etag)
	resp, body = do(t, req)
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	h.Write(body)
	if got, want := h.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatalf("resumed download differs from the source")
	}

	// A file changed since the first part was fetched is sent whole: the
	// resumed bytes would not belong to it.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "big.bin"), later, later)
	req, _ = http.NewRequest("GET", f.url+"/big.bin", nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", cut))
	req.Header.Set("If-Range", etag)
	if resp, body := do(t, req); resp.StatusCode != 200 || len(body) != len(data) {
		t.Errorf("resume of a changed file = %d with %d bytes, want 200 with all", resp.StatusCode, len(body))
	}

	// The download's completion is reported with its byte count.
	deadline := time.After(5 * time.Second)
	for seen := 0; seen < 4; {
		select {
		case e := <-f.events:
			if e.Kind == EventDownload {
				seen++
				if seen == 1 && (e.Bytes != int64(len(data)) || e.Path != "/big.bin" || e.Err != nil) {
					t.Errorf("first download event = %+v", e)
				}
			}
		case <-deadline:
			t.Fatalf("saw %d download events, want 4", seen)
		}
	}

	// ?dl asks the browser to save rather than show.
	resp, _ = get(t, f.url+"/big.bin?dl=1")
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition = %q", cd)
	}
}

func TestCurlRangeAndResume(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	dir := t.TempDir()
	data := randomBytes(t, 500_000)
	writeFile(t, filepath.Join(dir, "f.bin"), data)
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))
	out := t.TempDir()

	part := filepath.Join(out, "part")
	if b, err := exec.Command(curl, "-sS", "-f", "-r", "0-99", "-o", part, f.url+"/f.bin").CombinedOutput(); err != nil {
		t.Fatalf("curl -r 0-99: %v %s", err, b)
	}
	got, _ := os.ReadFile(part)
	if !bytes.Equal(got, data[:100]) {
		t.Fatalf("curl -r 0-99 got %d bytes, not the first 100", len(got))
	}

	// curl -C - continues the 100-byte file to the end.
	if b, err := exec.Command(curl, "-sS", "-f", "-C", "-", "-o", part, f.url+"/f.bin").CombinedOutput(); err != nil {
		t.Fatalf("curl -C -: %v %s", err, b)
	}
	got, _ = os.ReadFile(part)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("resumed file differs (%d bytes)", len(got))
	}
}

func TestReadOnlyRefusesEveryChange(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keep.txt"), []byte("keep"))
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))

	resp, _ := upload(t, f.url+"/", [2]string{"new.txt", "data"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST upload = %d, want 403", resp.StatusCode)
	}
	req, _ := http.NewRequest("PUT", f.url+"/new2.txt", strings.NewReader("data"))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT = %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", f.url+"/?op=mkdir", strings.NewReader("name=d"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("mkdir = %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("DELETE", f.url+"/keep.txt", nil)
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("DELETE = %d, want 403", resp.StatusCode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder changed: %d entries", len(entries))
	}
}

func TestWriteUploadsNewFilesButNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exists.txt"), []byte("original"))
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly|accounts.PermUpload|accounts.PermMkdir))

	big := string(randomBytes(t, 2<<20))
	resp, body := upload(t, f.url+"/", [2]string{"one.txt", "first"}, [2]string{"two.bin", big})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d %s", resp.StatusCode, body)
	}
	var got []uploaded
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 2 || got[1].Size != int64(len(big)) {
		t.Errorf("upload answer %s (%v)", body, err)
	}
	for name, want := range map[string]string{"one.txt": "first", "two.bin": big} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s on disk: %d bytes, err %v", name, len(b), err)
		}
	}

	resp, _ = upload(t, f.url+"/", [2]string{"exists.txt", "replaced"})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("upload over existing = %d, want 409", resp.StatusCode)
	}
	req, _ := http.NewRequest("PUT", f.url+"/exists.txt", strings.NewReader("replaced"))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusConflict {
		t.Errorf("PUT over existing = %d, want 409", resp.StatusCode)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "exists.txt")); string(b) != "original" {
		t.Errorf("existing file changed to %q", b)
	}

	req, _ = http.NewRequest("PUT", f.url+"/put.txt", strings.NewReader("by put"))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT new = %d, want 201", resp.StatusCode)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "put.txt")); string(b) != "by put" {
		t.Errorf("put.txt = %q", b)
	}

	req, _ = http.NewRequest("POST", f.url+"/?op=mkdir", strings.NewReader("name=New+folder"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = do(t, req) // follows the 303 back to the listing
	if fi, err := os.Stat(filepath.Join(dir, "New folder")); err != nil || !fi.IsDir() || resp.StatusCode != 200 {
		t.Errorf("mkdir: %d, %v", resp.StatusCode, err)
	}
	req, _ = http.NewRequest("POST", f.url+"/?op=mkdir", strings.NewReader("name=New+folder"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusConflict {
		t.Errorf("second mkdir = %d, want 409", resp.StatusCode)
	}

	// Without --delete, nothing can be removed.
	req, _ = http.NewRequest("DELETE", f.url+"/one.txt", nil)
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("DELETE = %d, want 403", resp.StatusCode)
	}
	assertNoTemp(t, dir)

	// The page offers the upload tools.
	_, body = get(t, f.url+"/")
	if !strings.Contains(string(body), `id="file-input"`) || !strings.Contains(string(body), `id="mkdir-form"`) {
		t.Errorf("writable page lacks upload or mkdir tools")
	}
}

func TestOverwriteAndDeleteWhenAllowed(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.txt"), []byte("old"))
	writeFile(t, filepath.Join(dir, "full", "x"), []byte("x"))
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	f := serveDir(t, dir, anon(dir, Perms(Options{Overwrite: true, Delete: true})))

	resp, body := upload(t, f.url+"/", [2]string{"f.txt", "new content"})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"replaced":true`) {
		t.Fatalf("overwrite = %d %s", resp.StatusCode, body)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.txt")); string(b) != "new content" {
		t.Errorf("f.txt = %q", b)
	}
	for path, want := range map[string]int{"/f.txt": 204, "/empty/": 204, "/full/": 409, "/": 403, "/missing": 404} {
		req, _ := http.NewRequest("DELETE", f.url+path, nil)
		if resp, _ := do(t, req); resp.StatusCode != want {
			t.Errorf("DELETE %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "f.txt")); !os.IsNotExist(err) {
		t.Errorf("f.txt still there")
	}
	if _, err := os.Stat(filepath.Join(dir, "full", "x")); err != nil {
		t.Errorf("non-empty folder lost its file")
	}
}

func TestUploadCutShortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f := serveDir(t, dir, anon(dir, Perms(Options{Write: true})))
	u, _ := url.Parse(f.url)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	// Announce a megabyte, send a little, vanish.
	fmt.Fprintf(c, "PUT /cut.bin HTTP/1.1\r\nHost: %s\r\nContent-Length: 1048576\r\n\r\n", u.Host)
	c.Write(make([]byte, 70000))
	time.Sleep(100 * time.Millisecond)
	c.Close()

	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-f.events:
			if e.Kind != EventUpload {
				continue
			}
			if e.Err == nil {
				t.Fatalf("cut upload reported complete: %+v", e)
			}
			if _, err := os.Stat(filepath.Join(dir, "cut.bin")); !os.IsNotExist(err) {
				t.Errorf("cut upload left cut.bin: %v", err)
			}
			assertNoTemp(t, dir)
			return
		case <-deadline:
			t.Fatal("no upload event for the cut upload")
		}
	}
}

func TestQuotaStopsUploadAtTheLimit(t *testing.T) {
	dir := t.TempDir()
	u := anon(dir, Perms(Options{Write: true}))
	u.User.QuotaBytes = 100_000
	f := serveDir(t, dir, u)
	req, _ := http.NewRequest("PUT", f.url+"/small.bin", bytes.NewReader(make([]byte, 60_000)))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first upload = %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("PUT", f.url+"/big.bin", bytes.NewReader(make([]byte, 60_000)))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusInsufficientStorage {
		t.Errorf("upload past quota = %d, want 507", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.bin")); !os.IsNotExist(err) {
		t.Errorf("refused upload left its file")
	}
	assertNoTemp(t, dir)
	// The refused upload's reservation was returned: 40 kB still fit.
	req, _ = http.NewRequest("PUT", f.url+"/fits.bin", bytes.NewReader(make([]byte, 39_000)))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusCreated {
		t.Errorf("upload within the rest of the quota = %d", resp.StatusCode)
	}
}

func TestUserLoginRequired(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret.txt"), []byte("secret"))
	f := serveDir(t, dir, accounts.MemoryUser{
		User:     accounts.User{Name: "alice", Home: dir, Perms: accounts.PresetReadOnly},
		Password: "s3cret-pass",
	})

	resp, body := get(t, f.url+"/secret.txt")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if strings.Contains(string(body), "secret\n") || string(body) == "secret" {
		t.Fatal("content served without login")
	}
	req, _ := http.NewRequest("GET", f.url+"/secret.txt", nil)
	req.SetBasicAuth("alice", "wrong")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", f.url+"/secret.txt", nil)
	req.SetBasicAuth("alice", "s3cret-pass")
	if resp, body := do(t, req); resp.StatusCode != 200 || string(body) != "secret" {
		t.Errorf("right password: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", f.url+"/", nil)
	req.SetBasicAuth("anonymous", "")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous on a user share: %d", resp.StatusCode)
	}

	{
		curl := testenv.Tool(t, "curl")
		out, err := exec.Command(curl, "-sS", "-f", "-u", "alice:s3cret-pass", f.url+"/secret.txt").Output()
		if err != nil || string(out) != "secret" {
			t.Errorf("curl -u: %q %v", out, err)
		}
		out, _ = exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", f.url+"/secret.txt").Output()
		if string(out) != "401" {
			t.Errorf("curl without -u: %s", out)
		}
	}
}

// rawGet sends target exactly as written, so no client library cleans it.
func rawGet(t *testing.T, base, target string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJailHoldsAgainstEscapes(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "outside.txt"), []byte("OUTSIDE-SECRET"))
	dir := filepath.Join(t.TempDir(), "shared")
	writeFile(t, filepath.Join(dir, "inside.txt"), []byte("inside"))
	if err := os.Symlink("/etc", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "outside.txt"), filepath.Join(dir, "out.txt")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("inside.txt", filepath.Join(dir, "alias.txt")) // stays inside: allowed
	rel, _ := filepath.Rel(dir, outside)
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))

	secret := func(body string) bool {
		return strings.Contains(body, "root:") || strings.Contains(body, "OUTSIDE-SECRET")
	}
	for _, target := range []string{
		"/../../../../etc/passwd",
		"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd",
		"/" + rel + "/outside.txt",
		"/../" + filepath.Base(outside) + "/outside.txt",
		"/inside.txt%00.png",
		"/%00",
		"/etc/passwd",
		"/etc/",
		"/passwd",
		"/out.txt",
		"//etc/passwd",
		"/./../etc/passwd",
		"/%5c..%5c..%5cetc%5cpasswd",
	} {
		code, body := rawGet(t, f.url, target)
		if secret(body) {
			t.Errorf("GET %s leaked content outside the share (status %d)", target, code)
		}
		if code == 200 && !strings.Contains(body, "<!doctype html>") {
			t.Errorf("GET %s = 200 with non-listing content %q", target, body[:min(len(body), 60)])
		}
		if code != 200 && code != 400 && code != 403 && code != 404 {
			t.Errorf("GET %s = %d", target, code)
		}
	}
	if code, _ := rawGet(t, f.url, "/inside.txt%00"); code != 400 {
		t.Errorf("encoded NUL = %d, want 400", code)
	}
	if code, body := rawGet(t, f.url, "/alias.txt"); code != 200 || body != "inside" {
		t.Errorf("symlink within the share = %d %q", code, body)
	}
	code, body := rawGet(t, f.url, "/")
	if code != 200 || strings.Contains(body, ">etc<") || strings.Contains(body, ">passwd<") || strings.Contains(body, ">out.txt<") {
		t.Errorf("listing shows links that leave the share")
	}
	if !strings.Contains(body, ">alias.txt<") {
		t.Errorf("listing hides a link that stays inside")
	}
}

func TestCrossSiteChangeRefused(t *testing.T) {
	dir := t.TempDir()
	f := serveDir(t, dir, anon(dir, Perms(Options{Write: true})))
	body, ct := multipartBody(t, [2]string{"evil.txt", "x"})
	req, _ := http.NewRequest("POST", f.url+"/", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", "http://evil.example")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil.txt")); !os.IsNotExist(err) {
		t.Errorf("cross-site upload landed")
	}
	// A sandboxed page's scripts run in an opaque origin: "null".
	req, _ = http.NewRequest("PUT", f.url+"/from-null.txt", strings.NewReader("x"))
	req.Header.Set("Origin", "null")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT with Origin null = %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("PUT", f.url+"/from-site.txt", strings.NewReader("x"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT with Sec-Fetch-Site cross-site = %d, want 403", resp.StatusCode)
	}
	body, ct = multipartBody(t, [2]string{"ok.txt", "x"})
	req, _ = http.NewRequest("POST", f.url+"/", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", f.url)
	req.Header.Set("Accept", "application/json")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusCreated {
		t.Errorf("same-origin POST = %d, want 201", resp.StatusCode)
	}
}

func TestBadUploadNamesRefused(t *testing.T) {
	dir := t.TempDir()
	f := serveDir(t, dir, anon(dir, Perms(Options{Write: true})))
	for _, name := range []string{tempPrefix + "x.part", "..", "a\nb"} {
		req, _ := http.NewRequest("PUT", f.url+"/"+url.PathEscape(name), strings.NewReader("x"))
		if resp, _ := do(t, req); resp.StatusCode < 400 {
			t.Errorf("PUT %q = %d", name, resp.StatusCode)
		}
	}
	// A multipart name with folders keeps only its last element.
	resp, _ := upload(t, f.url+"/", [2]string{"../../escape.txt", "x"})
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("upload of ../../escape.txt = %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.txt")); err != nil {
		t.Errorf("name not reduced to its base: %v", err)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestPasswordGuessingIsSlowedThenBanned(t *testing.T) {
	dir := t.TempDir()
	f := serveDirWith(t, dir, HandlerOptions{LoginFailDelay: 100 * time.Millisecond, BanAfter: 3}, accounts.MemoryUser{
		User:     accounts.User{Name: "alice", Home: dir, Perms: accounts.PresetReadOnly},
		Password: "right",
	})
	try := func(pass string) int {
		req, _ := http.NewRequest("GET", f.url+"/", nil)
		req.SetBasicAuth("alice", pass)
		resp, _ := do(t, req)
		return resp.StatusCode
	}
	if code := try("right"); code != 200 {
		t.Fatalf("right password = %d", code)
	}
	for i := range 3 {
		start := time.Now()
		if code := try("wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d = %d", i, code)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("wrong password answered after %v, want the 100ms delay", d)
		}
	}
	// Banned now, whatever the credentials; a browser's bare first request
	// (no credentials) never counts as a failure.
	if code := try("right"); code != http.StatusTooManyRequests {
		t.Errorf("after 3 failures the right password = %d, want 429", code)
	}
}

func TestRequestsWithoutCredentialsNeverBan(t *testing.T) {
	dir := t.TempDir()
	f := serveDirWith(t, dir, HandlerOptions{LoginFailDelay: -1, BanAfter: 2}, accounts.MemoryUser{
		User:     accounts.User{Name: "alice", Home: dir, Perms: accounts.PresetReadOnly},
		Password: "right",
	})
	for range 5 {
		if resp, _ := get(t, f.url+"/"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no credentials = %d, want 401", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", f.url+"/", nil)
	req.SetBasicAuth("alice", "right")
	if resp, _ := do(t, req); resp.StatusCode != 200 {
		t.Errorf("login after bare requests = %d", resp.StatusCode)
	}
}

func TestActiveContentIsSandboxed(t *testing.T) {
	dir := t.TempDir()
	page := "<!doctype html><html><script>fetch('/')</script></html>"
	writeFile(t, filepath.Join(dir, "page.html"), []byte(page))
	writeFile(t, filepath.Join(dir, "noext"), []byte(page))
	writeFile(t, filepath.Join(dir, "pic.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>`))
	writeFile(t, filepath.Join(dir, "doc.pdf"), []byte("%PDF-1.4"))
	writeFile(t, filepath.Join(dir, "plain.txt"), []byte("text"))
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))
	for name, sandboxed := range map[string]bool{"page.html": true, "noext": true, "pic.svg": true, "doc.pdf": false, "plain.txt": false} {
		resp, body := get(t, f.url+"/"+name)
		csp := resp.Header.Get("Content-Security-Policy")
		if strings.Contains(csp, "sandbox") != sandboxed {
			t.Errorf("%s (%s): CSP %q, sandboxed want %v", name, resp.Header.Get("Content-Type"), csp, sandboxed)
		}
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s: %d, %d bytes", name, resp.StatusCode, len(body))
		}
	}
}

func TestBigFolderIsPaged(t *testing.T) {
	dir := t.TempDir()
	n := pageSize + 5
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%05d", i)), nil)
	}
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))
	count := func(page string) int { return strings.Count(page, `<tr class="file">`) }

	_, body := get(t, f.url+"/")
	page := string(body)
	if count(page) != pageSize || !strings.Contains(page, fmt.Sprintf("1–%d of %d", pageSize, n)) {
		t.Fatalf("first page shows %d entries", count(page))
	}
	if !strings.Contains(page, `href="?from=1000&amp;sort=name">Next`) || strings.Contains(page, "Previous") {
		t.Errorf("first page's pager wrong")
	}
	_, body = get(t, f.url+"/?from=1000&sort=name")
	page = string(body)
	if count(page) != 5 || !strings.Contains(page, ">f01004<") || !strings.Contains(page, "Previous") || strings.Contains(page, "Next") {
		t.Errorf("second page: %d entries", count(page))
	}
	// Past the end clamps to the last page.
	_, body = get(t, f.url+"/?from=999999")
	if count(string(body)) != 5 {
		t.Errorf("from past the end shows %d entries", count(string(body)))
	}
}

// Regression: a file named "@" (or holding ':', '=', other characters
// outside RFC 8187 attr-char) got filename*=UTF-8”@, which strict parsers
// drop, so the download was saved under a wrong name.
func TestContentDispositionNameWithAttrCharsOutsideRFC8187(t *testing.T) {
	dir := t.TempDir()
	names := []string{"@", "a:b", "x=y.txt", "mail@host (1).txt", "ü ;,'?.bin"}
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), []byte("x"))
	}
	f := serveDir(t, dir, anon(dir, accounts.PresetReadOnly))
	for _, n := range names {
		resp, _ := get(t, f.url+escapePath("/"+n)+"?dl=1")
		cd := resp.Header.Get("Content-Disposition")
		if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != n {
			t.Errorf("Content-Disposition for %q = %q, reads back as %q (%v)", n, cd, params["filename"], err)
		}
	}
}

// Regression: each upload reserved a 4 MiB chunk, so a second upload running
// beside the first was refused with 507 while the account held plenty of
// room; and a quota writer that reserved twice but committed once left the
// account looking busy for good. Uploads that together fit must all land,
// and the usage afterwards must equal the bytes on disk.
func TestConcurrentUploadsWithinQuotaAllLand(t *testing.T) {
	dir := t.TempDir()
	u := anon(dir, Perms(Options{Write: true}))
	u.User.QuotaBytes = 1 << 20
	f := serveDir(t, dir, u)
	const n, size = 4, 200_000
	codes := make(chan int, n)
	for i := range n {
		go func() {
			// A body that arrives in pieces keeps the uploads overlapping.
			pr, pw := io.Pipe()
			go func() {
				for range 10 {
					pw.Write(make([]byte, size/10))
					time.Sleep(5 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/f%d.bin", f.url, i), pr)
			req.ContentLength = size
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range n {
		if c := <-codes; c != http.StatusCreated {
			t.Errorf("an upload within the quota got %d, want 201", c)
		}
	}
	sess, err := f.auth.Login(context.Background(), accounts.AnonymousUser, "", accounts.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	use, _ := sess.Quota().Usage(context.Background())
	if use.UsedBytes != n*size || use.UsedFiles != n {
		t.Errorf("usage %d bytes in %d files, want %d in %d", use.UsedBytes, use.UsedFiles, n*size, n)
	}
	// A second round still fits beside the first: nothing stayed reserved.
	req, _ := http.NewRequest("PUT", f.url+"/more.bin", bytes.NewReader(make([]byte, 200_000)))
	if resp, _ := do(t, req); resp.StatusCode != http.StatusCreated {
		t.Errorf("upload after the concurrent ones = %d", resp.StatusCode)
	}
	assertNoTemp(t, dir)
}
