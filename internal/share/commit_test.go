package share

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempIn returns the name of an upload's temporary file in dir (after
// waitTemp).
func tempIn(t *testing.T, dir string) string {
	t.Helper()
	waitTemp(t, dir)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			return e.Name()
		}
	}
	t.Fatal("the upload in progress went away")
	return ""
}

// httpPut starts a PUT whose body is fed through the returned writer; the
// response arrives on the channel once the writer is closed.
func httpPut(t *testing.T, u string) (*io.PipeWriter, <-chan *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	ch := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, u, pr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("PUT: %v", err)
			ch <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp
	}()
	return pw, ch
}

// Regression (issue 9): with `share --write`, an FTP STOR and an HTTP PUT
// of one new name at the same moment both reported success (226 and 201)
// and one replaced the other. Both go through the engine's commit rule
// now: the second to commit is refused and the first file stays, in
// either order. The upload in flight is never served over HTTP meanwhile.
func TestShareFTPAndHTTPUploadsOfOneNewNameNeverBothSucceed(t *testing.T) {
	dir := t.TempDir()
	s := startShare(t, Options{Dir: dir, Write: true})
	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")

	t.Run("FTP first to start, HTTP first to finish", func(t *testing.T) {
		pr, pw := io.Pipe()
		ftpDone := make(chan error, 1)
		go func() { ftpDone <- c.Stor("/a.bin", pr) }()
		pw.Write([]byte("ftp part one "))
		tmp := tempIn(t, dir)
		if resp, _ := get(t, s.httpURL()+"/"+tmp); resp.StatusCode != http.StatusNotFound {
			t.Errorf("HTTP GET of the upload in progress: %d, want 404", resp.StatusCode)
		}
		if _, body := get(t, s.httpURL()+"/"); bytes.Contains(body, []byte(tempPrefix)) {
			t.Error("the HTTP listing shows the upload in progress")
		}
		body := "from http"
		pwh, ch := httpPut(t, s.httpURL()+"/a.bin")
		pwh.Write([]byte(body))
		pwh.Close()
		if resp := <-ch; resp == nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("HTTP PUT of a new name: %v, want 201", resp)
		}
		pw.Write([]byte("and two"))
		pw.Close()
		if err := <-ftpDone; err == nil || !strings.Contains(err.Error(), "550") {
			t.Fatalf("FTP STOR of the name HTTP created meanwhile: %v, want 550", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "a.bin")); string(b) != body {
			t.Fatalf("a.bin = %q, want the first committed upload", b)
		}
	})
	t.Run("HTTP first to start, FTP first to finish", func(t *testing.T) {
		pwh, ch := httpPut(t, s.httpURL()+"/b.bin")
		pwh.Write([]byte("http part one "))
		waitTemp(t, dir)
		if err := c.Stor("/b.bin", strings.NewReader("from ftp")); err != nil {
			t.Fatalf("FTP STOR of a new name: %v", err)
		}
		pwh.Write([]byte("and two"))
		pwh.Close()
		if resp := <-ch; resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("HTTP PUT of the name FTP created meanwhile: %v, want 409", resp)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "b.bin")); string(b) != "from ftp" {
			t.Fatalf("b.bin = %q, want the first committed upload", b)
		}
	})
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
