package xfer

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/wharfftp/wharf/internal/testenv"
)

const zeroCopyChildEnv = "WHARF_XFER_ZEROCOPY_CHILD"

// Sizes of the traced transfers: several limiter chunks and several quota
// reservations each.
const (
	traceSendSize  = 2 << 20
	traceBurst     = 256 << 10
	traceRecvSize  = 3 << 20
	traceRecvQuota = 2<<20 + 777
	// An unlimited Send of a LimitedReader: one sendfile of exactly this
	// count, distinct from every limited chunk.
	traceWindow = 1<<20 + 3
)

// TestZeroCopyChild is the traced half of TestZeroCopySurvivesLimits: it
// runs only inside the strace started there.
func TestZeroCopyChild(t *testing.T) {
	if os.Getenv(zeroCopyChildEnv) != "1" {
		t.Skip("run by TestZeroCopySurvivesLimits under strace")
	}
	dir := t.TempDir()
	f := tempFile(t, dir, randomBytes(traceSendSize, 20))
	srv, cli := tcpPair(t)
	got := drain(cli)
	n, err := Send(context.Background(), srv, f, rate.NewLimiter(rate.Limit(1<<34), traceBurst))
	srv.Close()
	if err != nil || n != traceSendSize || len(<-got) != traceSendSize {
		t.Fatalf("Send = %d, %v", n, err)
	}

	srv, cli = tcpPair(t)
	got = drain(cli)
	if _, err := f.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n, err = Send(context.Background(), srv, &io.LimitedReader{R: f, N: traceWindow}, nil)
	srv.Close()
	if err != nil || n != traceWindow || len(<-got) != traceWindow {
		t.Fatalf("unlimited Send = %d, %v", n, err)
	}

	srv, cli = tcpPair(t)
	upload(cli, randomBytes(traceRecvSize, 21))
	dst := createFile(t, dir, "up")
	n, err = Receive(context.Background(), dst, srv, quotaOf(t, traceRecvQuota), nil)
	if n != traceRecvQuota {
		t.Fatalf("Receive = %d, %v", n, err)
	}
}

var straceCall = regexp.MustCompile(`^(sendfile|splice)\((.*)\)\s+=\s+(-?\d+)`)

// TestZeroCopySurvivesLimits proves with strace that an unlimited Send of a
// LimitedReader is one sendfile(2), that a rate-limited Send
// reaches sendfile(2) in chunks of at most the burst, and that a
// quota-checked Receive reaches splice(2), rather than merely trusting the
// type switches that choose the path.
func TestZeroCopySurvivesLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a traced child")
	}
	if os.Getenv(zeroCopyChildEnv) == "1" {
		return
	}
	strace := testenv.Tool(t, "strace")
	// -ff writes one file per thread, so a call is never split into
	// "<unfinished ...>" and "<... resumed>" halves by another thread's.
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-ff", "-qq", "-e", "trace=sendfile,splice", "-o", out,
		os.Args[0], "-test.run=^TestZeroCopyChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), zeroCopyChildEnv+"=1")
	if res, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(res, []byte("ptrace")) {
			t.Skipf("strace cannot trace here: %s", res)
		}
		t.Fatalf("traced child failed: %v\n%s", err, res)
	}

	files, err := filepath.Glob(out + ".*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no trace files: %v", err)
	}
	var trace []byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		trace = append(trace, b...)
	}
	var sendfiles, splices int
	var sent, spliced int64
	sc := bufio.NewScanner(bytes.NewReader(trace))
	for sc.Scan() {
		m := straceCall.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ret, _ := strconv.ParseInt(m[3], 10, 64)
		args := strings.Split(m[2], ", ")
		count, _ := strconv.ParseInt(args[len(args)-1], 10, 64)
		switch m[1] {
		case "sendfile":
			sendfiles++
			if count > traceBurst && count != traceWindow {
				t.Errorf("sendfile asked for %d bytes, more than the limiter burst %d: %s", count, traceBurst, sc.Text())
			}
			sent += max(ret, 0)
		case "splice":
			splices++
			// The last argument is the flags; the length is before it.
			count, _ = strconv.ParseInt(args[len(args)-2], 10, 64)
			if count > traceRecvQuota {
				t.Errorf("splice asked for %d bytes, more than the quota: %s", count, sc.Text())
			}
			spliced += max(ret, 0)
		}
	}
	if sent != traceSendSize+traceWindow {
		t.Errorf("sendfile moved %d bytes in %d calls, want %d+%d: a Send left the zero-copy path", sent, sendfiles, traceSendSize, traceWindow)
	}
	// Each spliced byte crosses two calls: socket to pipe, pipe to file.
	if spliced != 2*traceRecvQuota {
		t.Errorf("splice moved %d bytes in %d calls, want 2x%d: the quota-checked Receive left the zero-copy path", spliced, splices, traceRecvQuota)
	}
	t.Logf("sendfile: %d calls, %d bytes; splice: %d calls, %d bytes", sendfiles, sent, splices, spliced)
}
