package admin_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// browserStartLimit bounds Chromium's start on a loaded CI machine.
const browserStartLimit = 60 * time.Second

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

// TestBrowserAdminPage drives the real page in headless Chromium against a
// real server: sign in, watch a running upload and a download appear with
// their progress, kick the upload, disable a user, lift a ban, add a user;
// screenshots at phone and desktop width go to testdata/screenshots.
func TestBrowserAdminPage(t *testing.T) {
	f := start(t, 2, false)
	ctx0 := context.Background()
	for _, u := range []struct {
		name       string
		quota      int64
		rateDown   int64
		usedFile   int
		perm       accounts.Perm
		maxSession int
	}{
		{"bob", 1 << 30, 0, 0, accounts.PresetReadOnly, 0},
		{"carol", 50 << 20, 256 << 10, 8 << 20, accounts.PresetFull, 4},
	} {
		if err := f.db.AddUser(ctx0, accounts.User{Name: u.name, Perms: u.perm, QuotaBytes: u.quota, RateDown: u.rateDown,
			MaxSessions: u.maxSession}, u.name+"pw"); err != nil {
			t.Fatal(err)
		}
		if u.usedFile > 0 {
			got, _ := f.db.GetUser(ctx0, u.name)
			if err := os.WriteFile(filepath.Join(got.Home, "video.mp4"), bytes.Repeat([]byte("v"), u.usedFile), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.Rescan(ctx0, u.name); err != nil {
				t.Fatal(err)
			}
		}
	}
	// alice's upload runs until it is kicked: room for a slow CI machine.
	alice, err := f.db.GetUser(ctx0, "alice")
	if err != nil {
		t.Fatal(err)
	}
	alice.QuotaBytes = 100 << 20
	if err := f.db.UpdateUser(ctx0, alice); err != nil {
		t.Fatal(err)
	}
	// A ban of 127.0.0.2, earned over FTP (the browser is 127.0.0.1).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	for range 2 {
		c, err := ftp.Dial(f.ftp.Addr, ftp.DialWithDialFunc(func(n, a string) (net.Conn, error) { return d.Dial(n, a) }))
		if err != nil {
			t.Fatal(err)
		}
		c.Login("alice", "wrong")
		c.Quit()
	}
	if len(f.ftp.Engine.Bans()) != 1 {
		t.Fatalf("bans %+v", f.ftp.Engine.Bans())
	}

	ctx := browserContext(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// Signing in with a wrong password says so and shows nothing else.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.http.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="name"]`), "root"),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="password"]`), "nope"),
		chromedp.Click(chromedp.CSS(`#login-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#login-status:not(:empty)`)),
	); err != nil {
		t.Fatalf("wrong sign-in: %v", err)
	}
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-status"))); !strings.Contains(msg, "Wrong name or password") {
		t.Errorf("wrong sign-in says %q", msg)
	}
	f.ftp.Engine.LiftBan(mustAddr("127.0.0.1")) // that failure counted; start clean
	if err := chromedp.Do(ctx,
		setValue(`#login-form input[name="password"]`, ""),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="password"]`), "rootpw"),
		chromedp.Click(chromedp.CSS(`#login-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#app [data-user="alice"]`)),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	// A running upload (size unknown) and a rate-limited download (size
	// known) appear with their progress.
	up := f.dialFTP("alice", "alicepw")
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- up.Stor("holiday.mov", pr) }()
	go func() {
		// About 300 KiB/s: alice's quota outlasts the test by minutes.
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer pw.CloseWithError(io.ErrClosedPipe)
	down := f.dialFTP("carol", "carolpw")
	resp, err := down.Retr("video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, resp)
	defer resp.Close()
	f.dialFTP("bob", "bobpw") // an idle session

	upSel := `.s-row .track.unknown`
	downSel := `.s-row .track:not(.unknown)[aria-valuenow]`
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(upSel)),
		chromedp.WaitVisible(chromedp.CSS(downSel)),
	); err != nil {
		t.Fatalf("transfers never showed: %v", err)
	}
	upText := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`document.querySelector(".s-row .track.unknown").closest(".bar").querySelector(".bar-text").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := upText()
	if !strings.Contains(first, "↑ /holiday.mov") || !strings.Contains(first, "/s") {
		t.Errorf("upload row says %q", first)
	}
	var later string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if later = upText(); later != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload's progress never moved: %q", first)
		}
	}
	downText, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector(`+"`"+downSel+"`"+`).closest(".bar").querySelector(".bar-text").textContent`))
	if err != nil || !strings.Contains(downText, "↓ /video.mp4") || !strings.Contains(downText, "of 8.0 MiB") {
		t.Errorf("download row says %q, %v", downText, err)
	}

	// Screenshots with everything on the page, at phone and desktop width;
	// nothing may scroll sideways.
	shots := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"phone-390x844", 390, 844, true},
		{"desktop-1366x900", 1366, 900, false},
	} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a poll or two at the new width
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if overflow {
			t.Errorf("%s: page is wider than the viewport", vp.name)
		}
		shot(t, ctx, filepath.Join(shots, vp.name+".png"), true)
	}

	// Kick the upload: the client's STOR fails, the row goes.
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".s-row .track.unknown").closest(".s-row").dataset.session`))
	if err != nil || id == "" {
		t.Fatalf("upload row id %q, %v", id, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-kick="`+id+`"]`))); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stored:
		if err == nil {
			t.Fatal("kicked upload succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kicked upload still running")
	}
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.CSS(`[data-session="`+id+`"]`))); err != nil {
		t.Fatalf("kicked session still listed: %v", err)
	}

	// Disable bob.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-user="bob"] .toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-user="bob"] .state.disabled`)),
	); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if u, err := f.db.GetUser(ctx0, "bob"); err != nil || !u.Disabled {
		t.Fatalf("bob after disable: %+v, %v", u, err)
	}

	// Lift the ban.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[data-lift="127.0.0.2"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-ban="127.0.0.2"]`)),
	); err != nil {
		t.Fatalf("lift: %v", err)
	}
	if b := f.ftp.Engine.Bans(); len(b) != 0 {
		t.Fatalf("bans after lift: %+v", b)
	}

	// Add a user through the form, with wharf user's notation.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#add-user`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-form`)),
		chromedp.SendKeys(chromedp.CSS(`#user-form input[name="name"]`), "dora"),
		chromedp.SendKeys(chromedp.CSS(`#user-form input[name="password"]`), "dorapw"),
		chromedp.SendKeys(chromedp.CSS(`#user-form input[name="quota"]`), "2GiB"),
		chromedp.SendKeys(chromedp.CSS(`#user-form input[name="rate_up"]`), "lots"),
		chromedp.Click(chromedp.CSS(`#user-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-status:not(:empty)`)),
	); err != nil {
		t.Fatalf("bad add: %v", err)
	}
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#user-status"))); !strings.Contains(msg, "rate_up") {
		t.Errorf("a bad rate says %q", msg)
	}
	if err := chromedp.Do(ctx,
		setValue(`#user-form input[name="rate_up"]`, "1MiB/s"),
		chromedp.Click(chromedp.CSS(`#user-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-user="dora"]`)),
	); err != nil {
		t.Fatalf("add: %v", err)
	}
	if u, err := f.db.GetUser(ctx0, "dora"); err != nil || u.QuotaBytes != 2<<30 || u.RateUp != 1<<20 {
		t.Fatalf("dora: %+v, %v", u, err)
	}
	f.dialFTP("dora", "dorapw").Quit()

	// Edit: the form opens with the user's settings; a change is saved.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-user="dora"] .acts button`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-form`)),
	); err != nil {
		t.Fatal(err)
	}
	if q, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#user-form input[name="quota"]`))); q != "2GiB" {
		t.Errorf("edit form quota %q", q)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.ScrollIntoView(chromedp.CSS(`#user-form`)),
	); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, filepath.Join(shots, "phone-edit-user-390x844.png"), false)
	if err := chromedp.Do(ctx,
		setValue(`#user-form input[name="quota"]`, "3GiB"),
		chromedp.Click(chromedp.CSS(`#user-form button[type="submit"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#user-form`)),
	); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.db.GetUser(ctx0, "dora"); u.QuotaBytes != 3<<30 || u.RateUp != 1<<20 {
		t.Fatalf("dora after edit: %+v", u)
	}

	// Signing out ends the session: a reload shows the sign-in form.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#logout`)),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
}

// setValue sets an input's value as a script would (chromedp's SetValue
// needs a node id this page's queries do not give).
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.querySelector(`+strconv.Quote(sel)+`).value = `+strconv.Quote(v)+`; return true })()`))
		return err
	})
}

// shot saves a screenshot of the page (full) or of the viewport.
func shot(t *testing.T, ctx context.Context, file string, full bool) {
	t.Helper()
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
