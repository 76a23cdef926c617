package progress

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/client"
)

func TestPlainModeWritesOneSummaryLinePerFileAndNoEscapes(t *testing.T) {
	var out bytes.Buffer
	pr := New(&out, Plain)
	pr.Plan(3, 3<<20)
	tr := pr.Begin("a.bin", 2<<20, 0)
	tr.Add(2 << 20)
	tr.End(client.Result{Name: "a.bin", Size: 2 << 20, Moved: 2 << 20, Elapsed: time.Second, Verified: "SHA-256"}, nil)
	pr.Begin("b.bin", 1<<20, 1<<20).End(client.Result{Name: "b.bin", Size: 1 << 20, Skipped: "identical: same size and SHA-256"}, nil)
	pr.Begin("c.bin", 10, 0).End(client.Result{}, errors.New("boom"))
	pr.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"a.bin  2MiB  2MiB/s  verified SHA-256",
		"b.bin  1MiB  skipped, identical: same size and SHA-256",
	}
	if len(lines) != 3 || lines[0] != want[0] || lines[1] != want[1] || !strings.HasPrefix(lines[2], "total  3 files") {
		t.Fatalf("plain output:\n%s\nwant lines like\n%s", out.String(), strings.Join(want, "\n"))
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Fatal("escape codes in plain output")
	}
}

func TestQuietModeWritesNothing(t *testing.T) {
	var out bytes.Buffer
	pr := New(&out, Quiet)
	pr.Begin("a", 1, 0).End(client.Result{Size: 1, Verified: "SHA-256"}, nil)
	pr.Wait()
	if out.Len() != 0 {
		t.Fatalf("quiet wrote %q", out.String())
	}
}

type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

func TestBarsRedrawOnlyWhenWhatTheyShowChanges(t *testing.T) {
	w := &countingWriter{}
	pr := New(w, Bars)
	tr := pr.Begin("big.bin", 1<<30, 0)
	time.Sleep(3 * tick)
	idle := w.count()
	time.Sleep(6 * tick) // nothing moves: nothing to redraw
	if got := w.count(); got != idle {
		t.Fatalf("idle bar redrawn %d times", got-idle)
	}
	for range 5 {
		tr.Add(100 << 20)
		time.Sleep(2 * tick)
	}
	if got := w.count(); got <= idle {
		t.Fatal("bar not redrawn while bytes moved")
	}
	tr.End(client.Result{Name: "big.bin", Size: 1 << 30, Moved: 500 << 20, Elapsed: time.Second, Verified: "SHA-256"}, nil)
	pr.Wait()
	s := w.buf.String()
	for _, want := range []string{"big.bin", "verified SHA-256", "\x1b["} {
		if !strings.Contains(s, want) {
			t.Errorf("bar output lacks %q:\n%q", want, s)
		}
	}
}

// Regression (QA round 2, #7): a checksum the server offers but refused to
// this user was reported as "server offers no checksum or size".
func TestResultSaysWhatTheServerRefused(t *testing.T) {
	var out bytes.Buffer
	pr := New(&out, Plain)
	why := "the server refused its checksum: 550 Permission denied."
	pr.Begin("a", 1, 0).End(client.Result{Name: "a", Size: 1, Unchecked: why}, nil)
	pr.Begin("b", 1, 0).End(client.Result{Name: "b", Size: 1, Verified: "size", Unchecked: why}, nil)
	pr.Begin("c", 1, 0).End(client.Result{Name: "c", Size: 1}, nil)
	pr.Wait()
	for _, want := range []string{
		"a  1B  -  not verified (" + why + ")\n",
		"b  1B  -  verified size only (" + why + ")\n",
		"c  1B  -  not verified (server offers no checksum or size)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// Regression (QA round 2, #3): the bars' total printed the rate twice (its
// rate column and again in the summary); plain lines keep the one rate
// they have.
func TestSummaryRateOnlyWhereThereIsNoRateColumn(t *testing.T) {
	pr := New(&bytes.Buffer{}, Plain)
	for _, n := range []string{"a", "b"} {
		tr := pr.Begin(n, 1000, 0)
		tr.Add(1000)
		tr.End(client.Result{Name: n, Size: 1000, Moved: 1000, Elapsed: time.Second, Verified: "SHA-256"}, nil)
	}
	if s := pr.summary(false); s != "2 verified SHA-256" {
		t.Errorf("summary for the bar: %q", s)
	}
	if s := pr.summary(true); !strings.HasSuffix(s, "/s, 2 verified SHA-256") {
		t.Errorf("summary for the plain line: %q", s)
	}
}

// Regression (#10): after put -r -c resumed files, the total bar ended at
// "60% ... 150MiB / 250MiB" though every file was verified: bytes already
// in place at Begin were counted for the file but not for the total.
func TestTotalCountsResumedBytes(t *testing.T) {
	w := &countingWriter{}
	pr := New(w, Bars)
	pr.Plan(3, 300)
	a := pr.Begin("a", 100, 60) // resumed at 60
	a.Add(40)
	a.End(client.Result{Name: "a", Size: 100, Moved: 40, Verified: "SHA-256"}, nil)
	pr.Begin("b", 100, 100).End(client.Result{Name: "b", Size: 100, Skipped: "identical: same size and SHA-256"}, nil)
	c := pr.Begin("c", 100, 0)
	c.Add(100)
	c.End(client.Result{Name: "c", Size: 100, Moved: 100, Verified: "SHA-256"}, nil)
	pr.Wait()
	if got := pr.total.view().cur; got != 300 {
		t.Fatalf("total counted %d of 300 bytes", got)
	}
	if s := w.buf.String(); !strings.Contains(s, "300B / 300B") {
		t.Fatalf("the total bar does not end at 300B / 300B:\n%q", s)
	}
}

// Files left alone because they exist are named in the summary, not
// counted as failures.
func TestSummaryNamesFilesNotReplaced(t *testing.T) {
	var out bytes.Buffer
	pr := New(&out, Plain)
	pr.Begin("new", 1, 0).End(client.Result{Name: "new", Size: 1, Verified: "SHA-256"}, nil)
	for _, n := range []string{"x.txt", "y.txt"} {
		pr.Begin(n, 1, 0).End(client.Result{Name: n, Size: 1, Skipped: client.ErrExists.Error()}, fmt.Errorf("get %s: %w", n, client.ErrExists))
	}
	pr.Wait()
	if s := out.String(); !strings.Contains(s, "2 not replaced (exist: x.txt, y.txt)") || strings.Contains(s, "failed") {
		t.Fatalf("summary:\n%s", s)
	}
}
