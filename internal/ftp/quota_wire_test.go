package ftp_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
)

// The "double truncate" and "concurrent overwrites" of issue 9 against a
// server process on a data directory, as `wharf serve` runs: usage is
// read as a client and an admin read it, SITE QUOTA over the wire and the
// store that `wharf user show` reads, and both must equal a walk of the
// home (TestDoubleTruncateCannotBypassTheQuota and
// TestConcurrentOverwritesCountWhatIsStored check the same in process).

// open sends REST (rest >= 0) and cmd on a fresh data connection and
// returns that connection once the server answered 150.
func (fc *fclient) open(t *testing.T, rest int64, cmd string) *net.TCPConn {
	t.Helper()
	if rest >= 0 {
		if code, msg, err := fc.cmd(fmt.Sprintf("REST %d", rest)); err != nil || code != 350 {
			t.Fatalf("REST %d: %d %s %v", rest, code, msg, err)
		}
	}
	dc, err := fc.data()
	if err != nil {
		t.Fatal(err)
	}
	if code, msg, err := fc.cmd(cmd); err != nil || code != 150 {
		t.Fatalf("%s: %d %s %v, want 150", cmd, code, msg, err)
	}
	return dc
}

// finish ends an upload and checks the reply is one of want.
func (fc *fclient) finish(t *testing.T, dc *net.TCPConn, want ...int) {
	t.Helper()
	dc.Close()
	code, msg, err := fc.read()
	if err != nil || !slices.Contains(want, code) {
		t.Fatalf("end of the transfer: %d %s %v, want one of %v", code, msg, err, want)
	}
}

func twoClients(t *testing.T, addr string) (*fclient, *fclient) {
	t.Helper()
	var fcs [2]*fclient
	for i := range fcs {
		fc, err := dialClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fc.close)
		fcs[i] = fc
	}
	return fcs[0], fcs[1]
}

func TestDoubleTruncateOverTheWireCountsWhatIsStored(t *testing.T) {
	const quota = 10 << 20
	dir, home := newDataDir(t, quota, 0)
	p := startProc(t, dir)
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 3 {
		fc, err := dialClient(p.addr)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := fc.upload(rng, "STOR", "victim.bin", -1, 5<<20, endComplete); err != nil || code != 226 {
			t.Fatalf("round %d: STOR of 5 MiB: %d %v", round, code, err)
		}
		fc.close()
		a, b := twoClients(t, p.addr)
		da := a.open(t, 1, "STOR victim.bin")
		db := b.open(t, 1, "STOR victim.bin") // both 150 before any data
		// The first to finish rewrites the file to its first byte. The
		// second copies its byte when its data connection is taken,
		// which under load can come after that: the file is then just
		// the kept byte, and the rewrite is refused with 450 (a REST
		// at the end now, which asked again writes in place).
		if round%2 == 0 {
			a.finish(t, da, 226)
			b.finish(t, db, 226, 450)
		} else {
			b.finish(t, db, 226)
			a.finish(t, da, 226, 450)
		}
		checkStored(t, p.addr, dir, home, quota, fmt.Sprintf("round %d, after two REST 1 + STOR without data", round))
	}
}

func TestConcurrentOverwritesOverTheWireCountWhatIsStored(t *testing.T) {
	const quota = 10 << 20
	dir, home := newDataDir(t, quota, 0)
	p := startProc(t, dir)
	rng := rand.New(rand.NewPCG(7, 7))
	fc, err := dialClient(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.close()
	if code, err := fc.upload(rng, "STOR", "only.bin", -1, 5<<20, endComplete); err != nil || code != 226 {
		t.Fatalf("STOR of 5 MiB: %d %v", code, err)
	}
	mib := make([]byte, 1<<20)
	for round := range 3 {
		a, b := twoClients(t, p.addr)
		da := a.open(t, -1, "STOR only.bin")
		db := b.open(t, -1, "STOR only.bin")
		da.Write(mib)
		db.Write(mib)
		if round%2 == 0 {
			a.finish(t, da, 226)
			b.finish(t, db, 226)
		} else {
			b.finish(t, db, 226)
			a.finish(t, da, 226)
		}
		checkStored(t, p.addr, dir, home, quota, fmt.Sprintf("round %d, after two overwrites at once", round))
	}
	if code, err := fc.upload(rng, "STOR", "big.bin", -1, 8<<20, endComplete); err != nil || code != 226 {
		t.Fatalf("8 MiB with 1 MiB of 10 used: %d %v", code, err)
	}
	checkStored(t, p.addr, dir, home, quota, "after the 8 MiB upload")
}
