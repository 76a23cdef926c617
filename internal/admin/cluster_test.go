package admin_test

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/admin"
	wftp "github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/pgtest"
)

// startNode is one node of a cluster on the PostgreSQL database url.
func startNode(t *testing.T, url, node string) *fixture {
	t.Helper()
	db, err := accounts.Open(context.Background(), t.TempDir(), accounts.Options{DB: url, Argon2: fastArgon2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *wftp.Config) {
		c.Auth = db
		c.SharedBans = db.SharedBans()
		c.BanAfter = 2
		c.LoginFailDelay = -1
		c.Node = node
	}})
	hs := httptest.NewServer(admin.New(admin.Options{DB: db, Engine: srv.Engine, Node: node}))
	t.Cleanup(hs.Close)
	return &fixture{t: t, db: db, ftp: srv, http: hs, node: node}
}

// In a cluster each node's admin shows its own live sessions, and the
// shared users and bans: a ban earned on one node is listed and lifted on
// another, and the lift holds on the first.
func TestClusterNodesShareUsersAndBans(t *testing.T) {
	url := pgtest.Start(t).NewDB(t)
	a := startNode(t, url, "n1")
	b := startNode(t, url, "n2")
	ctx := context.Background()
	if err := a.db.AddAdmin(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	tok, err := a.db.NewAdminToken(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	a.token, b.token = tok, tok

	// A user added on n2 logs in on n1, and shows in n1's list.
	b.must(201, "POST", "/api/v1/users", `{"name":"alice","password":"alicepw"}`)
	a.dialFTP("alice", "alicepw")
	users := a.must(200, "GET", "/api/v1/users", "")["users"].([]any)
	if len(users) != 1 || users[0].(map[string]any)["sessions"].(float64) != 1 {
		t.Fatalf("n1 users %v", users)
	}
	// Live sessions are the node's own.
	if s := a.must(200, "GET", "/api/v1/sessions", "")["sessions"].([]any); len(s) != 1 || s[0].(map[string]any)["node"] != "n1" {
		t.Fatalf("n1 sessions %v", s)
	}
	if s := b.must(200, "GET", "/api/v1/sessions", "")["sessions"].([]any); len(s) != 0 {
		t.Fatalf("n2 lists n1's session: %v", s)
	}

	// Banned on n1 over FTP, from 127.0.0.2.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	dial := ftp.DialWithDialFunc(func(n, addr string) (net.Conn, error) { return d.Dial(n, addr) })
	for range 2 {
		c, err := ftp.Dial(a.ftp.Addr, dial)
		if err != nil {
			t.Fatal(err)
		}
		c.Login("alice", "wrong")
		c.Quit()
	}
	bans := b.must(200, "GET", "/api/v1/bans", "")["bans"].([]any)
	if len(bans) != 1 || bans[0].(map[string]any)["addr"] != "127.0.0.2" {
		t.Fatalf("n2 bans %v", bans)
	}
	b.must(200, "DELETE", "/api/v1/bans/127.0.0.2", "")
	// n1 drops its own count when the database's notice arrives (a
	// deadline for eventual state, not a speed claim).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		bans := a.must(200, "GET", "/api/v1/bans", "")["bans"].([]any)
		if len(bans) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 bans 5 s after the lift on n2: %v", bans)
		}
	}
	// And its FTP takes the address again.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := ftp.Dial(a.ftp.Addr, dial)
		if err == nil {
			err = c.Login("alice", "alicepw")
			c.Quit()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 still refuses 127.0.0.2 after the lift: %v", err)
		}
	}
}
