package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/admin"
	wftp "github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// fixture is a real FTP server on a real accounts store with the admin API
// on a real HTTP listener.
type fixture struct {
	t     *testing.T
	db    *accounts.DB
	ftp   *ftptest.Server
	http  *httptest.Server
	token string
	node  string // "" means n1
}

var fastArgon2 = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

func start(t *testing.T, banAfter int, tlsHTTP bool, configure ...func(*wftp.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := accounts.Open(ctx, t.TempDir(), accounts.Options{Argon2: fastArgon2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.AddAdmin(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	tok, err := db.NewAdminToken(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(ctx, accounts.User{Name: "alice", Perms: accounts.PresetFull, QuotaBytes: 10 << 20}, "alicepw"); err != nil {
		t.Fatal(err)
	}
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *wftp.Config) {
		c.Auth = db
		c.BanAfter = banAfter
		c.LoginFailDelay = -1
		for _, f := range configure {
			f(c)
		}
	}})
	h := admin.New(admin.Options{DB: db, Engine: srv.Engine, Node: "n1",
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })})
	var hs *httptest.Server
	if tlsHTTP {
		hs = httptest.NewTLSServer(h)
	} else {
		hs = httptest.NewServer(h)
	}
	t.Cleanup(hs.Close)
	return &fixture{t: t, db: db, ftp: srv, http: hs, token: tok}
}

// req describes one API call.
type req struct {
	method, path string
	body         string
	token        string // "" none
	cookie       *http.Cookie
	csrf         string
	origin       string
}

// do makes the call and checks what every answer must have: JSON naming
// the node that answered.
func (f *fixture) do(r req) (int, map[string]any, *http.Response) {
	f.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, f.http.URL+r.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	if r.csrf != "" {
		hr.Header.Set("X-CSRF-Token", r.csrf)
	}
	if r.origin != "" {
		hr.Header.Set("Origin", r.origin)
	}
	resp, err := f.http.Client().Do(hr)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		f.t.Fatalf("%s %s: %d, not JSON: %q", r.method, r.path, resp.StatusCode, b)
	}
	node := f.node
	if node == "" {
		node = "n1"
	}
	if v["node"] != node || resp.Header.Get("X-Wharf-Node") != node {
		f.t.Fatalf("%s %s: answer does not name the node: %s", r.method, r.path, b)
	}
	if resp.StatusCode >= 400 {
		if msg, _ := v["error"].(string); msg == "" {
			f.t.Fatalf("%s %s: %d without an error message: %s", r.method, r.path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, v, resp
}

// must makes the call with the admin token and wants status.
func (f *fixture) must(status int, method, path, body string) map[string]any {
	f.t.Helper()
	code, v, _ := f.do(req{method: method, path: path, body: body, token: f.token})
	if code != status {
		f.t.Fatalf("%s %s %s: %d, want %d: %v", method, path, body, code, status, v)
	}
	return v
}

func (f *fixture) dialFTP(user, pw string) *ftp.ServerConn {
	f.t.Helper()
	c, err := ftp.Dial(f.ftp.Addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Quit() })
	if user != "" {
		if err := c.Login(user, pw); err != nil {
			f.t.Fatalf("login %s: %v", user, err)
		}
	}
	return c
}

// routes are every authenticated route with a method it takes.
var routes = []struct{ method, path, body string }{
	{"POST", "/api/v1/logout", ""},
	{"GET", "/api/v1/me", ""},
	{"GET", "/api/v1/sessions", ""},
	{"DELETE", "/api/v1/sessions/1", ""},
	{"GET", "/api/v1/users", ""},
	{"POST", "/api/v1/users", `{"name":"x","password":"y"}`},
	{"GET", "/api/v1/users/alice", ""},
	{"PATCH", "/api/v1/users/alice", `{"quota":"1MiB"}`},
	{"DELETE", "/api/v1/users/alice", ""},
	{"POST", "/api/v1/users/alice/disable", ""},
	{"POST", "/api/v1/users/alice/enable", ""},
	{"GET", "/api/v1/users/alice/quota", ""},
	{"GET", "/api/v1/bans", ""},
	{"DELETE", "/api/v1/bans/127.0.0.9", ""},
}

func TestEveryRouteRefusesNoAuthAndWrongToken(t *testing.T) {
	f := start(t, -1, false) // no bans: every wrong token here must stay a 401
	for _, r := range routes {
		if code, _, resp := f.do(req{method: r.method, path: r.path, body: r.body}); code != 401 {
			t.Errorf("%s %s without auth: %d", r.method, r.path, code)
		} else if resp.Header.Get("WWW-Authenticate") != "" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		for _, tok := range []string{"wrong", f.token + "x", "wharf_" + strings.Repeat("A", 43)} {
			if code, _, _ := f.do(req{method: r.method, path: r.path, body: r.body, token: tok}); code != 401 {
				t.Errorf("%s %s with token %q: %d", r.method, r.path, tok, code)
			}
		}
	}
	// Nothing those calls asked for happened.
	if u, err := f.db.GetUser(context.Background(), "alice"); err != nil || u.Disabled || u.QuotaBytes != 10<<20 {
		t.Fatalf("alice after refused calls: %+v, %v", u, err)
	}
	// A Basic header is not a token.
	hr, _ := http.NewRequest("GET", f.http.URL+"/api/v1/users", nil)
	hr.SetBasicAuth("root", "rootpw")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("Basic auth: %d", resp.StatusCode)
	}
}

func TestSessionsListAndKickRunningUpload(t *testing.T) {
	f := start(t, -1, false)
	idle := f.dialFTP("alice", "alicepw")
	_ = idle
	up := f.dialFTP("alice", "alicepw")
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- up.Stor("big.bin", pr) }()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	go func() {
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer pw.CloseWithError(io.ErrClosedPipe)

	var upload map[string]any
	for deadline := time.Now().Add(10 * time.Second); upload == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the running upload never showed in /api/v1/sessions")
		}
		v := f.must(200, "GET", "/api/v1/sessions", "")
		for _, s := range v["sessions"].([]any) {
			s := s.(map[string]any)
			if x, ok := s["transfer"].(map[string]any); ok && x["bytes"].(float64) > 0 {
				upload = s
			}
		}
	}
	x := upload["transfer"].(map[string]any)
	if upload["user"] != "alice" || upload["address"] != "127.0.0.1" || upload["node"] != "n1" || upload["tls"] != false ||
		upload["command"] != "STOR" || upload["login"] == nil || x["upload"] != true || x["path"] != "/big.bin" || x["rate"].(float64) <= 0 {
		t.Fatalf("upload session %v", upload)
	}
	id := strconv.FormatFloat(upload["id"].(float64), 'f', 0, 64)
	f.must(200, "DELETE", "/api/v1/sessions/"+id, "")
	select {
	case err := <-stored:
		if err == nil {
			t.Fatal("kicked upload succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kicked upload still running")
	}
	f.must(404, "DELETE", "/api/v1/sessions/"+id, "")
	f.must(400, "DELETE", "/api/v1/sessions/abc", "")
	f.must(400, "DELETE", "/api/v1/sessions/-1", "")
	// The other session is still there.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v := f.must(200, "GET", "/api/v1/sessions", "")
		if n := len(v["sessions"].([]any)); n == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d sessions after the kick, want 1", n)
		}
	}
}

func TestUsersRoutes(t *testing.T) {
	f := start(t, -1, false)
	c := f.dialFTP("alice", "alicepw")
	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	v := f.must(200, "GET", "/api/v1/users", "")
	users := v["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users %v", users)
	}
	a := users[0].(map[string]any)
	if a["name"] != "alice" || a["perms"] != "full" || a["state"] != "active" || a["quota_bytes"].(float64) != 10<<20 ||
		a["used_bytes"].(float64) != 5 || a["sessions"].(float64) != 1 {
		t.Fatalf("alice %v", a)
	}
	if _, ok := a["password_hash"]; ok {
		t.Fatal("the API shows a password hash")
	}
	q := f.must(200, "GET", "/api/v1/users/alice/quota", "")["quota"].(map[string]any)
	if q["used_bytes"].(float64) != 5 || q["used_files"].(float64) != 1 || q["quota_bytes"].(float64) != 10<<20 {
		t.Fatalf("quota %v", q)
	}

	// Add, with the same validation as `wharf user add`.
	v = f.must(201, "POST", "/api/v1/users", `{"name":"bob","password":"bobpw","quota":"1MiB","rate_up":"500K","perm":"read-only","allow":["127.0.0.1"],"max_files":3}`)
	bob := v["user"].(map[string]any)
	if bob["quota_bytes"].(float64) != 1<<20 || bob["rate_up"].(float64) != 500<<10 || bob["perms"] != "read-only" ||
		bob["quota_files"].(float64) != 3 || bob["allow_from"].([]any)[0] != "127.0.0.1/32" {
		t.Fatalf("bob %v", bob)
	}
	f.dialFTP("bob", "bobpw").Quit()
	f.must(201, "POST", "/api/v1/users", `{"name":"carol","password":"pw","quota":1048576}`) // a number works too
	for _, bad := range []struct {
		body   string
		status int
	}{
		{`{"name":"bob","password":"x"}`, 409},
		{`{"name":"../etc","password":"x"}`, 400},
		{`{"name":"dave"}`, 400},
		{`{"name":"dave","password":"x","quota":"10 parsecs"}`, 400},
		{`{"name":"dave","password":"x","perm":"fly"}`, 400},
		{`{"name":"dave","password":"x","allow":["nowhere"]}`, 400},
		{`{"name":"dave","password":"x","expires":"someday"}`, 400},
		{`{"name":"dave","password":"x","max_sessions":-1}`, 400},
		{`{"name":"dave","password":"x","home":"relative/path"}`, 400},
		{`{"name":"dave","password":"x","colour":"blue"}`, 400},
		{`{"name":"dave","password":"x"} {}`, 400},
		{`{"name":"dave",`, 400},
		{`[1,2]`, 400},
		{``, 400},
		{`{"name":"dave","password":"x","quota":"` + strings.Repeat("9", 70000) + `"}`, 413},
	} {
		if code, v, _ := f.do(req{method: "POST", path: "/api/v1/users", body: bad.body, token: f.token}); code != bad.status {
			t.Errorf("POST users %.60q: %d, want %d: %v", bad.body, code, bad.status, v)
		}
	}
	if _, err := f.db.GetUser(context.Background(), "dave"); err == nil {
		t.Fatal("a refused add created dave")
	}

	// Set.
	v = f.must(200, "PATCH", "/api/v1/users/bob", `{"quota":"2MiB","perm":"full","max_sessions":2}`)
	if b := v["user"].(map[string]any); b["quota_bytes"].(float64) != 2<<20 || b["perms"] != "full" || b["max_sessions"].(float64) != 2 {
		t.Fatalf("bob after PATCH %v", b)
	}
	f.must(200, "PATCH", "/api/v1/users/bob", `{"password":"newpw"}`)
	f.dialFTP("bob", "newpw").Quit()
	f.must(404, "PATCH", "/api/v1/users/nobody", `{"quota":"1MiB"}`)
	f.must(400, "PATCH", "/api/v1/users/bob", `{}`)
	f.must(400, "PATCH", "/api/v1/users/bob", `{"quota":"lots"}`)
	f.must(400, "PATCH", "/api/v1/users/bob", `{"password":""}`)
	f.must(400, "PATCH", "/api/v1/users/bob", `{"name":"eve"}`)
	f.must(400, "PATCH", "/api/v1/users/bob", `not json`)
	f.must(400, "PATCH", "/api/v1/users/-bob", `{"quota":"1MiB"}`)
	f.must(404, "GET", "/api/v1/users/nobody", "")
	f.must(404, "GET", "/api/v1/users/nobody/quota", "")
	f.must(400, "GET", "/api/v1/users/.hidden", "")

	// Disable: new logins refused, the open session closed at its next
	// command; enable again.
	open := f.dialFTP("bob", "newpw")
	if v := f.must(200, "POST", "/api/v1/users/bob/disable", ""); v["user"].(map[string]any)["state"] != "disabled" {
		t.Fatalf("after disable %v", v)
	}
	c2, err := ftp.Dial(f.ftp.Addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Login("bob", "newpw"); err == nil {
		t.Fatal("a disabled user logged in")
	}
	c2.Quit()
	time.Sleep(2 * accounts.DefaultPollInterval)
	if _, err := open.List("/"); err == nil {
		t.Fatal("the disabled user's open session still works")
	}
	f.must(404, "POST", "/api/v1/users/nobody/disable", "")
	f.must(200, "POST", "/api/v1/users/bob/enable", "")
	f.dialFTP("bob", "newpw").Quit()

	// Delete.
	f.must(400, "DELETE", "/api/v1/users/bob?purge=maybe", "")
	if v := f.must(200, "DELETE", "/api/v1/users/bob", ""); v["deleted"] != "bob" || v["purged"] != false {
		t.Fatalf("delete %v", v)
	}
	f.must(404, "DELETE", "/api/v1/users/bob", "")
	f.must(200, "DELETE", "/api/v1/users/carol?purge=true", "")
}

func TestBansListAndLift(t *testing.T) {
	f := start(t, 2, false)
	// The banned client comes from 127.0.0.2, so the admin (127.0.0.1)
	// is not banned with it.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	for range 2 {
		c, err := ftp.Dial(f.ftp.Addr, ftp.DialWithDialFunc(func(n, a string) (net.Conn, error) { return d.Dial(n, a) }))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("alice", "wrong"); err == nil {
			t.Fatal("wrong password accepted")
		}
		c.Quit()
	}
	bans := f.must(200, "GET", "/api/v1/bans", "")["bans"].([]any)
	if len(bans) != 1 || bans[0].(map[string]any)["addr"] != "127.0.0.2" || bans[0].(map[string]any)["failures"].(float64) != 2 {
		t.Fatalf("bans %v", bans)
	}
	f.must(400, "DELETE", "/api/v1/bans/not-an-ip", "")
	f.must(404, "DELETE", "/api/v1/bans/192.0.2.1", "")
	f.must(200, "DELETE", "/api/v1/bans/127.0.0.2", "")
	f.must(404, "DELETE", "/api/v1/bans/127.0.0.2", "")
	if bans := f.must(200, "GET", "/api/v1/bans", "")["bans"].([]any); len(bans) != 0 {
		t.Fatalf("bans after lift %v", bans)
	}
	c, err := ftp.Dial(f.ftp.Addr, ftp.DialWithDialFunc(func(n, a string) (net.Conn, error) { return d.Dial(n, a) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "alicepw"); err != nil {
		t.Fatalf("login after the lift: %v", err)
	}
}

// login signs in with a password and returns the cookie and CSRF token.
func (f *fixture) login(name, pw string) (*http.Cookie, string) {
	f.t.Helper()
	code, v, resp := f.do(req{method: "POST", path: "/api/v1/login", body: `{"name":"` + name + `","password":"` + pw + `"}`})
	if code != 200 {
		f.t.Fatalf("login: %d %v", code, v)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "wharf_admin" {
			return c, v["csrf_token"].(string)
		}
	}
	f.t.Fatal("login set no cookie")
	return nil, ""
}

func TestCookieSessionAndCSRF(t *testing.T) {
	f := start(t, -1, false)
	ck, csrf := f.login("root", "rootpw")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
		t.Fatalf("cookie %+v", ck)
	}
	if code, v, _ := f.do(req{method: "GET", path: "/api/v1/me", cookie: ck}); code != 200 || v["admin"] != "root" || v["csrf_token"] != csrf {
		t.Fatalf("me: %d %v", code, v)
	}
	// Every state change needs the CSRF token with the cookie.
	for _, r := range routes {
		if r.method == "GET" {
			continue
		}
		for _, bad := range []string{"", "wrong", csrf + "x"} {
			if code, _, _ := f.do(req{method: r.method, path: r.path, body: r.body, cookie: ck, csrf: bad}); code != 403 {
				t.Errorf("%s %s with cookie and CSRF %q: %d, want 403", r.method, r.path, bad, code)
			}
		}
	}
	if u, _ := f.db.GetUser(context.Background(), "alice"); u.Disabled || u.QuotaBytes != 10<<20 {
		t.Fatalf("a state change went through without CSRF: %+v", u)
	}
	if code, v, _ := f.do(req{method: "POST", path: "/api/v1/users/alice/disable", cookie: ck, csrf: csrf}); code != 200 {
		t.Fatalf("disable with CSRF: %d %v", code, v)
	}
	// A token does not take a CSRF token.
	f.must(200, "POST", "/api/v1/users/alice/enable", "")

	// Bad logins.
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"name":"root","password":"wrong"}`, 401},
		{`{"name":"nobody","password":"rootpw"}`, 401},
		{`{"name":"alice","password":"alicepw"}`, 401}, // an FTP user is no admin
		{`{"name":"root"}`, 400},
		{`{"name":"root","password":"rootpw","x":1}`, 400},
		{`name=root&password=rootpw`, 400},
	} {
		if code, v, _ := f.do(req{method: "POST", path: "/api/v1/login", body: c.body}); code != c.status {
			t.Errorf("login %s: %d, want %d: %v", c.body, code, c.status, v)
		}
	}
	if code, _, _ := f.do(req{method: "POST", path: "/api/v1/login", body: `{"name":"root","password":"rootpw"}`, origin: "https://evil.example"}); code != 403 {
		t.Errorf("cross-origin login: %d", code)
	}
	if code, _, _ := f.do(req{method: "POST", path: "/api/v1/login", body: `{"name":"root","password":"rootpw"}`, origin: f.http.URL}); code != 200 {
		t.Errorf("same-origin login: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/me", cookie: &http.Cookie{Name: "wharf_admin", Value: "forged"}}); code != 401 {
		t.Errorf("forged cookie: %d", code)
	}

	// Logout ends the session.
	if code, _, _ := f.do(req{method: "POST", path: "/api/v1/logout", cookie: ck, csrf: csrf}); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/me", cookie: ck}); code != 401 {
		t.Fatalf("cookie after logout: %d", code)
	}
	// A deleted admin's session ends at its next request.
	ck, _ = f.login("root", "rootpw")
	if err := f.db.DeleteAdmin(context.Background(), "root"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/me", cookie: ck}); code != 401 {
		t.Fatalf("deleted admin's cookie: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/me", token: f.token}); code != 401 {
		t.Fatalf("deleted admin's token: %d", code)
	}
}

func TestCookieSecureUnderTLS(t *testing.T) {
	f := start(t, -1, true)
	ck, _ := f.login("root", "rootpw")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie under TLS %+v", ck)
	}
}

// Failed admin logins and wrong tokens count on the FTP ban list: the
// address is then refused on FTP too, and its password logins refused.
func TestAdminLoginFailuresBan(t *testing.T) {
	f := start(t, 3, false)
	bad := req{method: "POST", path: "/api/v1/login", body: `{"name":"root","password":"wrong"}`}
	if code, _, _ := f.do(bad); code != 401 {
		t.Fatalf("first failure: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/users", token: "wharf_wrong"}); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _, _ := f.do(bad); code != 403 {
		t.Fatalf("third failure: %d, want 403 (banned)", code)
	}
	if code, _, _ := f.do(req{method: "POST", path: "/api/v1/login", body: `{"name":"root","password":"rootpw"}`}); code != 403 {
		t.Fatalf("right password from a banned address: %d", code)
	}
	if code, _, _ := f.do(req{method: "GET", path: "/api/v1/users", token: f.token}); code != 403 {
		t.Fatalf("token from a banned address: %d", code)
	}
	c, err := net.Dial("tcp", f.ftp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(b), "421") {
		t.Fatalf("FTP from the banned address got %q", b)
	}
	if !f.ftp.Engine.LiftBan(mustAddr("127.0.0.1")) {
		t.Fatal("the engine does not list the ban")
	}
	f.must(200, "GET", "/api/v1/users", "")
}

func TestUnknownRouteAndMethod(t *testing.T) {
	f := start(t, -1, false)
	f.must(404, "GET", "/api/v1/nothing", "")
	f.must(404, "GET", "/api/v2/users", "")
	if code, _, resp := f.do(req{method: "PUT", path: "/api/v1/users", token: f.token}); code != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT users: %d, Allow %q", code, resp.Header.Get("Allow"))
	}
	f.must(405, "GET", "/api/v1/login", "")
	resp, err := http.Get(f.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "# metrics\n" {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, b)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// The page and its assets come from this listener alone, under a CSP that
// lets nothing else load or run.
func TestPageIsSelfContained(t *testing.T) {
	f := start(t, -1, false)
	for _, p := range []string{"/", "/assets/app.js", "/assets/style.css", "/assets/icon.svg"} {
		resp, err := http.Get(f.http.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("%s: %d, CSP %q", p, resp.StatusCode, csp)
		}
		if p == "/assets/icon.svg" {
			continue // its xmlns is a name, not a load
		}
		if s := string(b); strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "//cdn") {
			t.Errorf("%s refers to an outside address", p)
		}
	}
	for _, p := range []string{"/assets/page.html", "/assets/nothing.js", "/assets/../admin.go"} {
		resp, err := http.Get(f.http.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// Admin sign-ins from one address are checked one at a time with the FTP
// failure delay growing per failure, as FTP logins are: three wrong
// passwords sent at once take at least 100+200+400 ms in all.
func TestAdminLoginFailuresAreSerializedAndDelayed(t *testing.T) {
	f := start(t, -1, false, func(c *wftp.Config) { c.LoginFailDelay = 100 * time.Millisecond })
	t0 := time.Now()
	done := make(chan int, 3)
	for range 3 {
		go func() {
			resp, err := http.Post(f.http.URL+"/api/v1/login", "application/json", strings.NewReader(`{"name":"root","password":"wrong"}`))
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	for range 3 {
		if code := <-done; code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	}
	if el := time.Since(t0); el < 700*time.Millisecond {
		t.Fatalf("three wrong passwords at once took %v: not one at a time with a growing delay", el)
	}
	// A right password is not delayed by the failures before it.
	t0 = time.Now()
	f.login("root", "rootpw")
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("a right password waited %v", el)
	}
}
