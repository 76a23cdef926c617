package share

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/vfs"
)

// slowBody hands an upload's body to the handler at about 2 MB/s, so a
// browser on loopback is still sending when the test presses Cancel.
type slowBody struct{ io.ReadCloser }

func (b slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p[:min(len(p), 32<<10)])
	time.Sleep(time.Duration(n) * time.Second / (2 << 20))
	return n, err
}

// Regression (issue 10), on a 320 px phone: after a refused upload, making a
// folder left the old error on screen; there was no way to cancel an
// upload; the size label (in a file's line, and the upload's progress)
// wrapped. Now a change that works clears the error, Cancel aborts the
// upload and the server keeps nothing of it, and sizes stay on one line.
func TestBrowserPhoneUploadCancelAndErrorsClear(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exists.txt"), []byte("original"))
	writeFile(t, filepath.Join(dir, "a video with a fairly long name.mp4"), make([]byte, 1_048_000))
	writeFile(t, filepath.Join(dir, "notes.txt"), make([]byte, 1_023_900))
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	auth := accounts.NewMemoryWith(cheapArgon, anon(dir, Perms(Options{Delete: true})))
	h := Handler(fsys, HandlerOptions{Auth: auth})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.RawQuery == "" {
			r.Body = slowBody{r.Body}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx := browserContext(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(320, 640, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
	); err != nil {
		t.Fatal(err)
	}

	// A label is on one line when all its characters' boxes share one top;
	// measured on the text itself, whatever markup carries it. For a file's
	// line, its size must also be shown whole (not cut at the edge).
	const oneLine = `(el => {
		const r = document.createRange(); r.selectNodeContents(el);
		return new Set(Array.from(r.getClientRects()).filter(b => b.width > 0).map(b => Math.round(b.top))).size === 1;
	})`
	const sizeWhole = `(el => {
		const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
		for (let n; (n = w.nextNode());) {
			const m = n.data.match(/\d[\d.]*\s*[KMGT]?i?B/);
			if (!m) continue;
			const r = document.createRange();
			r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
			return r.getBoundingClientRect().right <= el.getBoundingClientRect().right + 0.5;
		}
		return false;
	})`
	type line struct {
		One   bool `json:"one"`
		Whole bool `json:"whole"`
	}
	metas, err := chromedp.Run(ctx, chromedp.Evaluate[[]line](`Array.from(document.querySelectorAll("tr.file .meta")).map(m => ({one: `+oneLine+`(m), whole: `+sizeWhole+`(m)}))`))
	if err != nil || len(metas) != 3 {
		t.Fatalf("file lines: %v, %v", metas, err)
	}
	for i, l := range metas {
		if !l.One || !l.Whole {
			t.Errorf("file %d on a 320 px phone: size and time on one line %v, size whole %v", i, l.One, l.Whole)
		}
	}

	// A refused upload says why.
	work := t.TempDir()
	clash := filepath.Join(work, "exists.txt")
	writeFile(t, clash, []byte("clash"))
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{clash}),
		chromedp.WaitVisible(chromedp.CSS(`body[data-upload="failed"] #status.error`)),
	); err != nil {
		t.Fatalf("refused upload: %v", err)
	}
	// A new folder that works clears it.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#mkdir-form input[name="name"]`), "Fresh folder"),
		chromedp.Click(chromedp.CSS(`#mkdir-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/Fresh%20folder/"]`)),
	); err != nil {
		t.Fatalf("new folder: %v", err)
	}
	if shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(() => { const s = document.getElementById("status"); return s.hidden ? "" : s.textContent; })()`)); err != nil || shown != "" {
		t.Errorf("after a new folder the page still says %q (%v)", shown, err)
	}

	// Cancel during an upload.
	big := filepath.Join(work, "holiday video with a long name for a phone.mp4")
	writeFile(t, big, make([]byte, 12<<20))
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{big}),
		chromedp.WaitVisible(chromedp.CSS(`#progress-cancel`)),
		chromedp.Poll[chromedp.Void](`/^([1-9]|[1-9]\d)% /.test(document.getElementById("progress-pct").textContent)`),
	); err != nil {
		t.Fatalf("upload under way with a Cancel button: %v", err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](oneLine+`(document.getElementById("progress-pct"))`)); err != nil || !ok {
		t.Errorf("the upload's size label wraps on a 320 px phone (%v)", err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const rs = Array.from(document.querySelector(".progress-text").children).filter(e => !e.hidden).map(e => e.getBoundingClientRect());
		return rs.length === 3 && Math.max(...rs.map(r => r.top)) < Math.min(...rs.map(r => r.bottom)) &&
			`+oneLine+`(document.getElementById("progress-label"));
	})()`)); err != nil || !ok {
		t.Errorf("the upload's progress line (name, size, Cancel) wraps on a 320 px phone (%v)", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#progress-cancel`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-upload="cancelled"] #status`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#progress-cancel`)),
	); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	said, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#status")))
	if err != nil || !strings.Contains(said, "Upload cancelled") {
		t.Errorf("after Cancel the page says %q (%v)", said, err)
	}
	// The server keeps nothing of it: no file, no temporary left behind.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		var left []string
		for _, e := range entries {
			if ftp.IsTempName(e.Name()) || strings.HasPrefix(e.Name(), "holiday") {
				left = append(left, e.Name())
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Cancel the server still has %q", left)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "exists.txt")); string(b) != "original" {
		t.Errorf("exists.txt = %q", b)
	}
}
