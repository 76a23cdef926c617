package progress

import (
	"testing"

	"github.com/creack/pty"
)

// Regression: a pty of size 0x0 got Bars, which mpb cuts to zero columns:
// nothing was shown. Detect must give it Plain, and Bars once it is sized.
func TestDetectZeroSizeTerminalIsPlain(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if got := Detect(tty, false); got != Plain {
		t.Errorf("0x0 terminal: Detect = %v, want Plain", got)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	if got := Detect(tty, false); got != Bars {
		t.Errorf("80x24 terminal: Detect = %v, want Bars", got)
	}
	if got := Detect(tty, true); got != Quiet {
		t.Errorf("quiet: Detect = %v", got)
	}
}
