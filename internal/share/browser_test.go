package share

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/vfs"
)

const chromiumPath = "/usr/bin/chromium"

// browserStartLimit bounds Chromium's start on a loaded CI machine, so a
// hung browser fails the test instead of stalling the whole run.
const browserStartLimit = 60 * time.Second

// browserContext starts a headless Chromium with a fresh profile. Without
// Chromium the test fails in CI (CI=true) and is skipped elsewhere.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	testenv.Tool(t, chromiumPath)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// Start the browser under the long-lived context (a timeout on the first
	// Run would kill the browser with it).
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(browserStartLimit):
		t.Fatalf("chromium did not start within %v", browserStartLimit)
	}
	return ctx
}

// TestBrowserListsDownloadsUploadsAndLooksRight drives the real page in
// headless Chromium: it lists a folder, downloads a file through the page's
// download button, uploads one through the file input, and saves
// screenshots at phone and desktop widths for a person to judge.
func TestBrowserListsDownloadsUploadsAndLooksRight(t *testing.T) {
	dir := t.TempDir()
	payload := randomBytes(t, 300_000)
	writeFile(t, filepath.Join(dir, "data.bin"), payload)
	writeFile(t, filepath.Join(dir, "Holiday photos", "beach.jpg"), []byte("jpeg"))
	writeFile(t, filepath.Join(dir, "Holiday photos", "2026 Lisbon", "tram.jpg"), make([]byte, 2_400_000))
	writeFile(t, filepath.Join(dir, "Holiday photos", "2026 Lisbon", "sunset over the river.jpg"), make([]byte, 3_100_000))
	writeFile(t, filepath.Join(dir, "Documents", "report.pdf"), []byte("pdf"))
	writeFile(t, filepath.Join(dir, "meeting notes 2026-11-28.txt"), []byte("notes\n"))
	writeFile(t, filepath.Join(dir, "a rather long file name that has to be cut on a narrow phone screen.mp4"), nil)
	os.Truncate(filepath.Join(dir, "a rather long file name that has to be cut on a narrow phone screen.mp4"), 734_003_200)
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	auth := accounts.NewMemoryWith(cheapArgon, anon(dir, Perms(Options{Write: true})))
	srv := httptest.NewServer(Handler(fsys, HandlerOptions{Auth: auth}))
	defer srv.Close()

	ctx := browserContext(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// Listing: folders first, each entry shown.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
	); err != nil {
		t.Fatal(err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("tbody .c-name .n")).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Documents", "Holiday photos", "a rather long file name that has to be cut on a narrow phone screen.mp4", "data.bin", "meeting notes 2026-11-28.txt"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("listed %q, want %q", names, want)
	}

	// Download through the page's download button, to disk.
	downloads := t.TempDir()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior:      browser.SetDownloadBehaviorBehaviorAllow,
				DownloadPath:  downloads,
				EventsEnabled: new(true),
			})
			return err
		}),
		chromedp.Click(chromedp.CSS(`a.icon-btn[href="/data.bin?dl=1"]`)),
	); err != nil {
		t.Fatal(err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			break
		}
	}
	if got, err := os.ReadFile(filepath.Join(downloads, "data.bin")); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("downloaded data.bin: %d bytes, err %v", len(got), err)
	}

	// Upload through the file input; the page reloads and lists the file.
	src := filepath.Join(t.TempDir(), "from the browser.bin")
	upPayload := randomBytes(t, 700_000)
	writeFile(t, src, upPayload)
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{src}),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/from%20the%20browser.bin"]`)),
	); err != nil {
		t.Fatalf("upload through the page: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "from the browser.bin")); err != nil || !bytes.Equal(got, upPayload) {
		t.Fatalf("uploaded file on disk: %d bytes, err %v", len(got), err)
	}
	pct, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#progress-pct")))
	if err != nil || !strings.HasPrefix(pct, "100% · 683.6 KiB of 683.6 KiB") {
		t.Errorf("progress after the upload = %q, %v", pct, err)
	}

	shots := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// Drag-and-drop of two files, one whose name exists: the new one
	// arrives, the other is refused and the page says why.
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
				const dt = new DataTransfer();
				dt.items.add(new File(["fresh drop"], "dropped.txt"));
				dt.items.add(new File(["clash"], "data.bin"));
				const opts = {dataTransfer: dt, bubbles: true, cancelable: true};
				document.dispatchEvent(new DragEvent("dragenter", opts));
				document.dispatchEvent(new DragEvent("drop", opts));
				return true;
			})()`))
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(`body[data-upload="failed"] #status`)),
		// The listing refreshed in place, keeping the message.
		chromedp.WaitVisible(chromedp.CSS(`a[href="/dropped.txt"]`)),
	); err != nil {
		t.Fatalf("drop upload: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#status")))
	if err != nil || !strings.Contains(status, "data.bin: file exists and may not be replaced") {
		t.Errorf("status after refused drop = %q, %v", status, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "dropped.txt")); err != nil || string(got) != "fresh drop" {
		t.Errorf("dropped.txt on disk: %q, %v", got, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "data.bin")); !bytes.Equal(got, payload) {
		t.Errorf("refused drop changed data.bin")
	}
	time.Sleep(300 * time.Millisecond) // let the progress bar's transition end
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shots, "desktop-upload-refused.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// New folder through the form.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#mkdir-form input[name="name"]`), "New album"),
		chromedp.Click(chromedp.CSS(`#mkdir-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/New%20album/"]`)),
	); err != nil {
		t.Fatalf("new folder through the page: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "New album")); err != nil || !fi.IsDir() {
		t.Errorf("New album not made: %v", err)
	}
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile, dark  bool
	}{
		{"phone-390x844", 390, 844, true, false},
		{"desktop-1366x900", 1366, 900, false, false},
		{"phone-dark-390x844", 390, 844, true, true},
	} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(2)}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		scheme := "light"
		if vp.dark {
			scheme = "dark"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(vp.width, vp.height, opts...),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("table.list")),
		); err != nil {
			t.Fatal(err)
		}
		// The page must fit the viewport: nothing scrolls sideways.
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if overflow {
			t.Errorf("%s: page is wider than the viewport", vp.name)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, vp.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A nested folder on the phone: breadcrumbs, the way up, no tools
	// clutter beyond what the share allows.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL+"/Holiday%20photos/2026%20Lisbon/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/Holiday%20photos/2026%20Lisbon/tram.jpg"]`)),
	); err != nil {
		t.Fatal(err)
	}
	crumbs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".crumbs a")).map(a => a.textContent)`))
	if err != nil || strings.Join(crumbs, "/") != "Home/Holiday photos/2026 Lisbon" {
		t.Errorf("breadcrumbs %q, %v", crumbs, err)
	}
	current, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`.crumbs a[aria-current="page"]`)))
	if err != nil || current != "2026 Lisbon" {
		t.Errorf("current breadcrumb %q, %v", current, err)
	}
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shots, "phone-subfolder-390x844.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserDeletesWhenAllowed clicks a delete button of a --delete share
// and checks the file is gone from disk and from the page.
func TestBrowserDeletesWhenAllowed(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "doomed.txt"), []byte("bye"))
	writeFile(t, filepath.Join(dir, "kept.txt"), []byte("stay"))
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	auth := accounts.NewMemoryWith(cheapArgon, anon(dir, Perms(Options{Delete: true})))
	srv := httptest.NewServer(Handler(fsys, HandlerOptions{Auth: auth}))
	defer srv.Close()

	ctx := browserContext(t)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button.del[data-name="doomed.txt"]`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			// Answer the confirmation dialog as a visitor would.
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = () => true; true`))
			return err
		}),
		chromedp.Click(chromedp.CSS(`button.del[data-name="doomed.txt"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`a[href="/doomed.txt"]`)),
	); err != nil {
		t.Fatalf("delete through the page: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "doomed.txt")); !os.IsNotExist(err) {
		t.Errorf("doomed.txt still on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.txt")); err != nil {
		t.Errorf("kept.txt gone: %v", err)
	}
}

// TestBrowserPhoneLongNamesCutInTheMiddleDeepPathKeepsCurrentFolder pins QA
// round 2 (issue #5): on a 390 px phone, names cut at the end made
// file_with_a_rather_long_name_number_1/10/11 look the same, and in a deep
// folder the breadcrumb hid the current folder's name. Names now keep their
// end and extension, and the breadcrumb folds its middle instead.
func TestBrowserPhoneLongNamesCutInTheMiddleDeepPathKeepsCurrentFolder(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "Family archive", "Photos from the old computer", "2019 summer holidays", "Day trips and excursions")
	for _, n := range []string{"1", "10", "11", "2"} {
		writeFile(t, filepath.Join(deep, "file_with_a_rather_long_name_number_"+n+".txt"), []byte(n))
	}
	writeFile(t, filepath.Join(deep, "short.txt"), nil)
	fsys, err := vfs.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	auth := accounts.NewMemoryWith(cheapArgon, anon(dir, Perms(Options{})))
	srv := httptest.NewServer(Handler(fsys, HandlerOptions{Auth: auth}))
	defer srv.Close()

	ctx := browserContext(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL+"/Family%20archive/Photos%20from%20the%20old%20computer/2019%20summer%20holidays/Day%20trips%20and%20excursions/"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
	); err != nil {
		t.Fatal(err)
	}

	// What a visitor sees of each name: the text that is not hidden by
	// the cut. Each long name must show its distinct end and extension.
	type shown struct {
		Name    string `json:"name"`
		Tail    string `json:"tail"`
		TailCut bool   `json:"tailCut"`
		HeadCut bool   `json:"headCut"`
		Inside  bool   `json:"inside"`
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]shown](`Array.from(document.querySelectorAll("tbody tr.file .c-name .n")).map(n => {
		const h = n.querySelector(".h"), t = n.querySelector(".t");
		const cell = n.closest("td").getBoundingClientRect(), r = t.getBoundingClientRect();
		return {name: n.textContent, tail: t.textContent,
			tailCut: t.scrollWidth > t.clientWidth + 1, headCut: h.scrollWidth > h.clientWidth + 1,
			inside: r.width > 0 && r.right <= cell.right + 1 && r.left >= cell.left};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	tails := map[string]string{}
	for _, r := range rows {
		if r.Name == "short.txt" {
			if r.HeadCut || r.Tail != "" {
				t.Errorf("short.txt was split or cut: %+v", r)
			}
			continue
		}
		if !r.HeadCut {
			t.Errorf("%s: expected the head to be cut on a 390 px phone: %+v", r.Name, r)
		}
		if r.TailCut || !r.Inside || !strings.HasSuffix(r.Name, r.Tail) || !strings.HasSuffix(r.Tail, ".txt") {
			t.Errorf("%s: end of the name not fully shown: %+v", r.Name, r)
		}
		if other, dup := tails[r.Tail]; dup {
			t.Errorf("%s and %s both show as …%s", other, r.Name, r.Tail)
		}
		tails[r.Tail] = r.Name
	}
	if len(tails) != 4 {
		t.Errorf("long names seen: %v (rows %+v)", tails, rows)
	}

	// The breadcrumb: the current folder's name whole and on screen.
	type crumbState struct {
		Texts   []string `json:"texts"`
		Visible bool     `json:"visible"`
		Cut     bool     `json:"cut"`
	}
	cs, err := chromedp.Run(ctx, chromedp.Evaluate[crumbState](`(() => {
		const nav = document.querySelector(".crumbs"), cur = nav.querySelector('a[aria-current="page"]');
		const n = nav.getBoundingClientRect(), c = cur.getBoundingClientRect();
		return {texts: Array.from(nav.querySelectorAll("a")).map(a => a.textContent),
			visible: c.left >= n.left - 1 && c.right <= n.right + 1 && c.right <= window.innerWidth,
			cut: cur.scrollWidth > cur.clientWidth + 1 || cur.scrollHeight > cur.clientHeight + 1};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cs.Texts, "/"); got != "Home/…/2019 summer holidays/Day trips and excursions" {
		t.Errorf("breadcrumbs %q", got)
	}
	if !cs.Visible || cs.Cut {
		t.Errorf("current folder in the breadcrumb: visible %v, cut %v", cs.Visible, cs.Cut)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if err != nil || overflow {
		t.Errorf("page wider than the phone: %v, %v", overflow, err)
	}

	shots := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shots, "phone-long-names-deep-390x844.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
