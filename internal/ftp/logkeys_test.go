package ftp_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// topKeys returns the keys of a JSON object in order, repeats included
// (decoding into a map would hide them).
func topKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Regression (log lines repeated user=): "command failed" and "data
// connection failed" added a user key on top of the session logger that has
// one after login.
func TestNoLogLineHasAKeyTwice(t *testing.T) {
	logs := &lockedBuffer{}
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	r := dialRaw(t, srv.Addr)
	r.must("USER alice", 331)
	r.must("RETR before-login", 530)
	r.must("PASS secret", 230)
	r.must("RETR nope", 550) // "command failed"
	r.must("SIZE nope", 550)
	// A PORT to a closed port: "data connection failed".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r.must(fmt.Sprintf("PORT 127,0,0,1,%d,%d", port>>8, port&255), 200)
	if code, _ := r.send("LIST"); code == 150 {
		r.read()
	}
	r.must("QUIT", 221)
	r.closed()
	srv.Engine.Shutdown(t.Context())

	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	seen := map[string]bool{}
	for sc.Scan() {
		keys, err := topKeys(sc.Text())
		if err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		count := map[string]int{}
		for _, k := range keys {
			count[k]++
			if count[k] == 2 {
				t.Errorf("key %q twice in %s", k, sc.Text())
			}
		}
		var m struct{ Msg string }
		json.Unmarshal(sc.Bytes(), &m)
		seen[m.Msg] = true
	}
	for _, msg := range []string{"login", "command failed", "data connection failed"} {
		if !seen[msg] {
			t.Errorf("no %q line was logged; the test did not exercise it", msg)
		}
	}
}
