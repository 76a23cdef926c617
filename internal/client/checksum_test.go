package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// hidingProxy sits on the control connection in front of a real wharf
// server and makes it look older: the keywords in hide are cut from the
// FEAT reply and, when sent anyway, answered "500" without reaching the
// server. refuse keeps a keyword in FEAT but answers its command 500 (a
// server that advertises more than it does). Data connections bypass it:
// EPSV names only a port, which the client dials on the proxy's address,
// 127.0.0.1, where the server listens.
type hidingProxy struct {
	addr         string
	hide, refuse map[string]bool

	mu   sync.Mutex
	sent []string // verbs the client sent, as the proxy saw them
}

func newHidingProxy(t *testing.T, server string, hide, refuse []string) *hidingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hidingProxy{addr: ln.Addr().String(), hide: set(hide), refuse: set(refuse)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c, server) })
		}
	})
	return p
}

func set(words []string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

func (p *hidingProxy) serve(client net.Conn, server string) {
	defer client.Close()
	s, err := net.Dial("tcp", server)
	if err != nil {
		return
	}
	defer s.Close()
	var wmu sync.Mutex // both directions write to the client
	toClient := func(line string) {
		wmu.Lock()
		client.Write([]byte(line))
		wmu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(s)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				client.Close()
				return
			}
			// FEAT lines are " KEYWORD params" inside a "211-" reply.
			if f := strings.Fields(line); strings.HasPrefix(line, " ") && len(f) > 0 && p.hide[strings.ToUpper(f[0])] {
				continue
			}
			toClient(line)
		}
	}()
	r := bufio.NewReader(client)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		p.mu.Lock()
		p.sent = append(p.sent, verb)
		p.mu.Unlock()
		if p.hide[verb] || p.refuse[verb] {
			toClient("500 Unknown command.\r\n")
			continue
		}
		if _, err := s.Write([]byte(line)); err != nil {
			break
		}
	}
	s.Close()
	<-done
}

func (p *hidingProxy) verbs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

func (p *hidingProxy) target() *Target {
	host, port, _ := net.SplitHostPort(p.addr)
	return &Target{Host: host, Port: port, User: "alice", Password: "secret", HasPassword: true}
}

// The client verifies with the strongest checksum the server offers and
// falls back step by step to older servers' commands, each computed by the
// real server, and a tampered file is caught at every step.
func TestChecksumFallsBackThroughXCommandsToSize(t *testing.T) {
	srv, _, home := wharfServer(t, ftptest.Options{})
	steps := []struct {
		hide []string
		algo string // what the client reports as Verified
		cmd  string // the command it used
	}{
		{nil, "SHA-256", "HASH"},
		{[]string{"HASH"}, "SHA-256", "XSHA256"},
		{[]string{"HASH", "XSHA256"}, "SHA-512", "XSHA512"},
		{[]string{"HASH", "XSHA256", "XSHA512"}, "SHA-1", "XSHA1"},
		{[]string{"HASH", "XSHA256", "XSHA512", "XSHA1"}, "MD5", "XMD5"},
		{[]string{"HASH", "XSHA256", "XSHA512", "XSHA1", "XMD5"}, "CRC32", "XCRC"},
		{[]string{"HASH", "XSHA256", "XSHA512", "XSHA1", "XMD5", "XCRC"}, "size", "SIZE"},
	}
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "up.bin")
	want := randomFile(t, src, 50_000)
	for _, st := range steps {
		t.Run(st.cmd, func(t *testing.T) {
			p := newHidingProxy(t, srv.Addr, st.hide, nil)
			c := login(t, p.target(), Options{})
			if got := cmpOr(c.HashAlgo(), "size"); got != st.algo {
				t.Fatalf("client chose %q with %v hidden, want %q", got, st.hide, st.algo)
			}
			remote := "f-" + st.cmd

			res, err := Put(ctx, c, src, remote, TransferOptions{})
			if err != nil || res[0].Verified != st.algo {
				t.Fatalf("upload: %v, verified %q, want %q", err, res[0].Verified, st.algo)
			}
			if !slices.Contains(p.verbs(), st.cmd) {
				t.Fatalf("%s never sent; the client sent %v", st.cmd, p.verbs())
			}
			for _, h := range st.hide {
				if slices.Contains(p.verbs(), h) {
					t.Fatalf("the client sent %s, which FEAT did not offer", h)
				}
			}
			dst := filepath.Join(t.TempDir(), "down.bin")
			if res, err := Get(ctx, c, remote, dst, TransferOptions{}); err != nil || res[0].Verified != st.algo {
				t.Fatalf("download: %v, verified %q", err, res[0].Verified)
			}
			if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
				t.Fatal("download differs")
			}

			// Tampering: the size check only sees a change of length, the
			// checksums see one changed byte.
			tamper := func(name string) {
				b, _ := os.ReadFile(name)
				if st.algo == "size" {
					b = b[:len(b)-1]
				} else {
					b[len(b)/2] ^= 1
				}
				os.WriteFile(name, b, 0o644)
			}
			_, err = Put(ctx, c, src, remote+".t", TransferOptions{BeforeVerify: func(_, r string) { tamper(filepath.Join(home, r)) }})
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), st.algo) && st.algo != "size" {
				t.Fatalf("upload changed on the server: %v, want a %s mismatch", err, st.algo)
			}
			dst = filepath.Join(t.TempDir(), "bad.bin")
			_, err = Get(ctx, c, remote, dst, TransferOptions{BeforeVerify: func(local, _ string) { tamper(local) }})
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("download changed here: %v, want a %s mismatch", err, st.algo)
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Fatal("a download that failed verification was renamed into place")
			}
		})
	}
}

// A server whose FEAT promises more than it does: HASH and XSHA256 listed
// but answered 500. The client drops each refused method once for the
// connection and verifies with the next one the server does compute.
func TestChecksumSkipsMethodsFeatOffersButServerRefuses(t *testing.T) {
	srv, _, home := wharfServer(t, ftptest.Options{})
	p := newHidingProxy(t, srv.Addr, nil, []string{"HASH", "XSHA256"})
	c := login(t, p.target(), Options{})
	src := filepath.Join(t.TempDir(), "up.bin")
	randomFile(t, src, 20_000)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		res, err := Put(ctx, c, src, name, TransferOptions{})
		if err != nil || res[0].Verified != "SHA-512" {
			t.Fatalf("upload %s: %v, verified %q, want SHA-512", name, err, res[0].Verified)
		}
	}
	count := func(verb string) (n int) {
		for _, v := range p.verbs() {
			if v == verb {
				n++
			}
		}
		return n
	}
	if count("HASH") != 1 || count("XSHA256") != 1 || count("XSHA512") != 2 {
		t.Fatalf("HASH sent %d times, XSHA256 %d, XSHA512 %d; want 1, 1, 2: %v", count("HASH"), count("XSHA256"), count("XSHA512"), p.verbs())
	}
	_, err := Put(ctx, c, src, "c", TransferOptions{BeforeVerify: func(_, r string) {
		os.WriteFile(filepath.Join(home, r), make([]byte, 20_000), 0o644)
	}})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "SHA-512") {
		t.Fatalf("tampered upload: %v, want a SHA-512 mismatch", err)
	}
}
