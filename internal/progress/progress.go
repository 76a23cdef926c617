// Package progress shows file transfers to a person: on a terminal a bar per
// file (percent, bytes, rate, ETA) drawn by mpb, plus a total when there are
// several; elsewhere one plain summary line per file and no escape codes.
//
// It owns drawing only. Counting happens in the transfer (client.Tracker.Add
// bumps an atomic counter); a single refresher goroutine turns counters into
// what is shown and asks mpb to redraw only when that text changed. It must
// never touch the network or files, and never write to the terminal outside
// mpb while bars are live.
package progress

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/wharfftp/wharf/internal/client"
	"github.com/wharfftp/wharf/internal/units"
)

// Mode is how progress is shown.
type Mode int

const (
	Plain Mode = iota // one summary line per file
	Bars              // live bars (a terminal)
	Quiet             // nothing
)

// Detect picks Bars when out is a terminal that says how wide it is, Plain
// otherwise, Quiet when asked. A terminal of width 0 (a pty nobody sized:
// serial consoles, some containers and CI runners) gets Plain: mpb cuts
// every line to the terminal's width and would show nothing at all.
func Detect(out io.Writer, quiet bool) Mode {
	if quiet {
		return Quiet
	}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return Bars
		}
	}
	return Plain
}

// tick is how often counters are looked at; a redraw happens only when the
// text they produce changed.
const tick = 100 * time.Millisecond

// Progress shows the transfers of one command. It implements
// client.Observer. Call Wait when the command is done.
type Progress struct {
	mode Mode
	out  io.Writer

	mu       sync.Mutex // guards files, the plain writer, totals
	files    []*file
	nFiles   int   // planned
	nBytes   int64 // planned
	started  time.Time
	ended    int
	moved    int64
	skipped  int
	failed   int
	kept     []string // not replaced: the destination existed
	cut      []string // uploads the quota cut short, with how much was stored
	partial  []string // downloads of files the server marks partial
	verified map[string]int

	p       *mpb.Progress
	refresh chan any
	total   *file
	stop    chan struct{}
	done    chan struct{}
}

// New starts showing progress on out.
func New(out io.Writer, mode Mode) *Progress {
	pr := &Progress{mode: mode, out: out, started: time.Now(), verified: map[string]int{}}
	if mode == Bars {
		pr.refresh = make(chan any, 1)
		pr.stop = make(chan struct{})
		pr.done = make(chan struct{})
		pr.p = mpb.New(mpb.WithOutput(out), mpb.ForceTTY(), mpb.WithManualRefresh(pr.refresh), mpb.WithWidth(100))
		go pr.refresher()
	}
	return pr
}

// Plan is told how many files and bytes are coming, so a total can be shown.
func (pr *Progress) Plan(files int, bytes int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.nFiles, pr.nBytes = files, bytes
	if pr.mode == Bars && files > 1 && pr.total == nil {
		pr.total = pr.newBar(fmt.Sprintf("total (%d files)", files), bytes, 0, true)
	}
}

// file is one bar or one summary line.
type file struct {
	pr      *Progress
	name    string
	size    int64        // -1 unknown; fixed at Begin
	already atomic.Int64 // bytes in place before this run (resumed, or skipped files for the total)
	n       atomic.Int64 // bytes moved this run
	start   time.Time
	bar     *mpb.Bar
	isTotal bool

	shown  atomic.Pointer[view] // what the decorators print
	ended  atomic.Bool
	result string
}

type view struct {
	cur                    int64
	pct, bytes, rate, info string
}

func (pr *Progress) newBar(name string, size, already int64, isTotal bool) *file {
	name = client.Printable(name) // a remote name may hold terminal escapes
	f := &file{pr: pr, name: name, size: size, start: time.Now(), isTotal: isTotal}
	f.already.Store(already)
	f.shown.Store(f.view())
	if pr.mode != Bars {
		return f
	}
	total := size
	if total <= 0 {
		total = 1
	}
	// Fixed minimum widths keep the bar from jittering as numbers change;
	// names are aligned across bars.
	str := func(width int, get func(*view) string) decor.Decorator {
		return decor.Any(func(decor.Statistics) string { return get(f.shown.Load()) }, decor.WC{W: width})
	}
	opts := []mpb.BarOption{
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), str(5, func(v *view) string { return v.pct })),
		mpb.AppendDecorators(
			str(22, func(v *view) string { return v.bytes }),
			str(12, func(v *view) string { return v.rate }),
			decor.Any(func(decor.Statistics) string { return " " + f.shown.Load().info }, decor.WC{W: 26, C: decor.DindentRight}),
		),
	}
	if isTotal {
		opts = append(opts, mpb.BarPriority(math.MaxInt32)) // drawn below the files
	}
	f.bar = pr.p.AddBar(total, opts...)
	if already > 0 {
		f.bar.SetCurrent(min(already, total))
	}
	return f
}

func (f *file) view() *view {
	cur := f.already.Load() + f.n.Load()
	v := &view{cur: cur}
	if f.size > 0 {
		v.pct = fmt.Sprintf("%3d%%", min(cur*100/f.size, 100))
		v.bytes = units.FormatSize(cur) + " / " + units.FormatSize(f.size)
	} else {
		v.pct = "  -%"
		v.bytes = units.FormatSize(cur)
	}
	el := time.Since(f.start)
	moved := f.n.Load()
	if (el > 200*time.Millisecond || f.ended.Load()) && moved > 0 && el > 0 { // early rates are noise
		rate := int64(float64(moved) / el.Seconds())
		v.rate = units.FormatRate(rate)
		if f.size > 0 && rate > 0 && !f.ended.Load() {
			left := time.Duration(float64(f.size-cur) / float64(rate) * float64(time.Second))
			v.info = "ETA " + left.Round(time.Second).String()
		}
	}
	if f.ended.Load() {
		v.info = f.result
	}
	return v
}

// Begin implements client.Observer.
func (pr *Progress) Begin(name string, total, done int64) client.Tracker {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	f := pr.newBar(name, total, done, false)
	pr.files = append(pr.files, f)
	if t := pr.total; t != nil && done > 0 {
		// Bytes already in place (a resumed file, a skipped one) are done
		// for the total too, or a resumed batch ends short of 100%.
		t.already.Add(done)
	}
	return f
}

// Add implements client.Tracker: counting only, drawing is the refresher's.
func (f *file) Add(n int64) {
	f.n.Add(n)
	if t := f.pr.total; t != nil {
		t.n.Add(n)
	}
}

// End implements client.Tracker.
func (f *file) End(r client.Result, err error) {
	pr := f.pr
	exists := errors.Is(err, client.ErrExists)
	var cut *client.QuotaCutError
	errors.As(err, &cut)
	switch {
	case exists:
		f.result = "not replaced: exists (-f replaces it)"
	case cut != nil && cut.Stored >= 0:
		f.result = fmt.Sprintf("cut short by the quota: %s of %s stored", units.FormatSize(cut.Stored), units.FormatSize(cut.Size))
	case cut != nil:
		f.result = "cut short by the quota"
	case err != nil:
		f.result = "failed"
	case r.Partial != "":
		f.result = "partial upload (the server marks it cut short: " + r.Partial + "), copied as it is"
	case r.Skipped != "":
		f.result = "skipped, " + r.Skipped
	case r.Verified == "size":
		f.result = "verified size only (" + cmpOr(r.Unchecked, "server offers no checksum") + ")"
	case r.Verified != "":
		f.result = "verified " + r.Verified
	default:
		f.result = "not verified (" + cmpOr(r.Unchecked, "server offers no checksum or size") + ")"
	}
	pr.mu.Lock()
	pr.ended++
	pr.moved += r.Moved
	switch {
	case exists:
		pr.kept = append(pr.kept, f.name)
	case cut != nil:
		what := f.name
		if cut.Stored >= 0 {
			what += fmt.Sprintf(" %s of %s", units.FormatSize(cut.Stored), units.FormatSize(cut.Size))
		}
		pr.cut = append(pr.cut, what)
	case err != nil:
		pr.failed++
	case r.Partial != "":
		pr.partial = append(pr.partial, f.name)
	case r.Skipped != "":
		pr.skipped++ // its bytes were counted done at Begin
	case r.Verified != "":
		pr.verified[r.Verified]++
	}
	pr.mu.Unlock()
	f.ended.Store(true)
	switch pr.mode {
	case Plain:
		if err != nil {
			return // the caller reports errors once, with their cause
		}
		pr.mu.Lock()
		defer pr.mu.Unlock()
		fmt.Fprintln(pr.out, plainLine(f.name, r, f.result))
	case Bars:
		v := f.view()
		f.shown.Store(v)
		if err != nil {
			f.bar.Abort(false)
		} else {
			if f.size > 0 {
				f.bar.SetCurrent(min(v.cur, f.size))
			}
			f.bar.SetTotal(-1, true) // completes the bar at what it shows
		}
		pr.kick()
	}
}

func plainLine(name string, r client.Result, result string) string {
	parts := []string{name, units.FormatSize(r.Size)}
	if r.Skipped == "" {
		rate := "-"
		if r.Elapsed > 0 && r.Moved > 0 {
			rate = units.FormatRate(int64(float64(r.Moved) / r.Elapsed.Seconds()))
		}
		parts = append(parts, rate)
	}
	return strings.Join(append(parts, result), "  ")
}

func (pr *Progress) kick() {
	select {
	case pr.refresh <- struct{}{}:
	default:
	}
}

// refresher turns counters into text every tick and redraws only when some
// text changed: an idle or stalled transfer costs no terminal writes.
func (pr *Progress) refresher() {
	defer close(pr.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-t.C:
		}
		pr.mu.Lock()
		live := append([]*file(nil), pr.files...)
		if pr.total != nil {
			live = append(live, pr.total)
		}
		pr.mu.Unlock()
		changed := false
		for _, f := range live {
			if f.ended.Load() {
				continue
			}
			old, v := f.shown.Load(), f.view()
			if *old != *v {
				f.shown.Store(v)
				if f.size > 0 {
					f.bar.SetCurrent(min(v.cur, f.size))
				}
				changed = true
			}
		}
		if changed {
			pr.kick()
		}
	}
}

// Wait finishes drawing and, for several files, prints the total.
func (pr *Progress) Wait() {
	if pr.mode == Bars {
		close(pr.stop)
		<-pr.done
		if t := pr.total; t != nil {
			t.result = pr.summary(false) // the rate has its own column
			t.ended.Store(true)
			v := t.view()
			t.shown.Store(v)
			// The bar is filled to what it counted before it is completed:
			// completing alone would draw "100%" over an empty bar.
			if t.size > 0 {
				t.bar.SetCurrent(min(v.cur, t.size))
			}
			if t.size > 0 && v.cur < t.size {
				t.bar.Abort(false) // some failed: leave it showing how far it got
			} else {
				t.bar.SetTotal(-1, true)
			}
		}
		pr.mu.Lock()
		for _, f := range pr.files {
			if !f.ended.Load() {
				f.bar.Abort(false)
			}
		}
		pr.mu.Unlock()
		pr.p.Wait()
		return
	}
	if pr.mode == Plain && pr.ended > 1 {
		fmt.Fprintf(pr.out, "total  %d files  %s moved  %s\n", pr.ended, units.FormatSize(pr.moved), pr.summary(true))
	}
}

// nameList names files for a summary line: all of a few, the first of many.
func nameList(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// summary is what the total says after the files: the average rate when
// withRate (plain lines have no rate column), how many were verified how,
// skipped and failed.
func (pr *Progress) summary(withRate bool) string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	el := time.Since(pr.started)
	var parts []string
	if withRate && el > 0 && pr.moved > 0 {
		parts = append(parts, units.FormatRate(int64(float64(pr.moved)/el.Seconds())))
	}
	for _, algo := range slices.Sorted(maps.Keys(pr.verified)) { // the same order every time
		parts = append(parts, fmt.Sprintf("%d verified %s", pr.verified[algo], algo))
	}
	if pr.skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", pr.skipped))
	}
	if pr.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", pr.failed))
	}
	if len(pr.cut) > 0 {
		parts = append(parts, fmt.Sprintf("%d cut short by the quota (%s)", len(pr.cut), nameList(pr.cut)))
	}
	if len(pr.partial) > 0 {
		parts = append(parts, fmt.Sprintf("%d partial uploads copied as they are (%s)", len(pr.partial), nameList(pr.partial)))
	}
	if len(pr.kept) > 0 {
		parts = append(parts, fmt.Sprintf("%d not replaced (exist: %s)", len(pr.kept), nameList(pr.kept)))
	}
	return strings.Join(parts, ", ")
}
