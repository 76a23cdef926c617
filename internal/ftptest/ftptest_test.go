package ftptest_test

import (
	"strings"
	"testing"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func TestStartServesAddedUsersOverPlainAndTLS(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{ImplicitTLS: true})
	srv.Users.Add("alice", "pw", accounts.PresetFull)
	for _, tc := range []struct {
		addr string
		opt  jftp.DialOption
	}{
		{srv.Addr, jftp.DialWithExplicitTLS(srv.ClientTLS())},
		{srv.ImplicitAddr, jftp.DialWithTLS(srv.ClientTLS())},
	} {
		c, err := jftp.Dial(tc.addr, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("alice", "pw"); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("x", strings.NewReader("hi")); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	c, err := jftp.Dial(srv.ImplicitAddr, jftp.DialWithTLS(srv.ClientTLS()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if !strings.Contains(srv.Logs(), "login failed") {
		t.Fatal("failed login not in the server log")
	}
}

func TestStartIPv6(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{IPv6: true})
	srv.Users.Add("bob", "pw", accounts.PresetReadOnly)
	if !strings.HasPrefix(srv.Addr, "[::1]:") {
		t.Fatalf("Addr %s", srv.Addr)
	}
	c, err := jftp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("x", strings.NewReader("hi")); err == nil {
		t.Fatal("read-only user could upload")
	}
}
