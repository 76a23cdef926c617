package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/client"
)

type segmentState struct {
	Size     int64 `json:"size"`
	Segments []struct {
		Start, End, Done int64
	} `json:"segments"`
}

func readSegments(name string) (st segmentState, done int64, ok bool) {
	b, err := os.ReadFile(name)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, 0, false
	}
	for _, s := range st.Segments {
		done += s.Done
	}
	return st, done, true
}

// get -n killed with SIGKILL mid-way, then get -c -n: only the unfinished
// ranges are fetched again (one download each, counted by the server),
// and the file is the server's, SHA-256 for SHA-256.
func TestSegmentedGetKilledAndResumed(t *testing.T) {
	srv, _, ev := startServer(t, false)
	u := srv.Users.Set(accounts.User{Name: "slow", Perms: accounts.PresetFull, RateDown: 3 << 20}, "pw")
	want := sum(writeRandom(t, filepath.Join(u.Home, "big.iso"), 8<<20+333))
	e := newClientEnv(t)
	local := filepath.Join(t.TempDir(), "big.iso")
	url := "ftp://slow:pw@" + srv.Addr + "/big.iso"
	killWhen(t, e, func() bool {
		_, done, ok := readSegments(client.StateFile(local))
		return ok && done > 2<<20 && done < 6<<20
	}, "get", "-n", "4", "-q", url, local)
	waitAborted(t, ev, false)
	st, done, ok := readSegments(client.StateFile(local))
	if !ok || len(st.Segments) != 4 {
		t.Fatalf("state after the kill: %+v", st)
	}
	unfinished := 0
	for _, s := range st.Segments {
		if s.Done < s.End-s.Start {
			unfinished++
		}
	}
	t.Logf("killed with %d of %d bytes written down, %d of 4 ranges unfinished", done, st.Size, unfinished)
	time.Sleep(100 * time.Millisecond) // the cut downloads' events
	before := len(ev.transfers())
	code, out, errs := e.run("", "get", "-c", "-n", "4", url, local)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
	if got := fileSum(t, local); got != want {
		t.Fatal("the resumed file differs from the server's")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(ev.transfers()) - before; n != unfinished {
		t.Errorf("the resume made %d downloads, want one per unfinished range (%d)", n, unfinished)
	}
	if _, err := os.Stat(client.StateFile(local)); err == nil {
		t.Error("the state file is still there")
	}
	for _, args := range [][]string{{"get", "-n", "0", url}, {"get", "-n", "33", url}, {"get", "-n", "2", "-r", url}} {
		if code, _, _ := e.run("", args...); code != ExitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
