package cli

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/wharfftp/wharf/internal/testenv"
)

// Regression (issue 10): the terminal QR code drew dark modules in the
// terminal's own background colour, so on a light terminal it came out
// inverted and did not scan, and in 80x24 it pushed the "Sharing" line and
// the FTP address off the screen. Run in a real 80x24 pty: the whole
// banner fits, the essential lines come after the code, every cell of the
// code sets both colours, and the code decodes (zbarimg) to the web
// address.
func TestShareBannerFitsAn80x24TerminalWithAQRCodeThatScans(t *testing.T) {
	zbar := testenv.Tool(t, "zbarimg")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("x"), 0o644)
	e := newClientEnv(t)
	sc := startScreenSize(t, e, &pty.Winsize{Rows: 24, Cols: 80},
		"share", dir, "--listen", "127.0.0.1", "--ftp-port", "0", "--http-port", "0")
	sc.waitFor("Press Ctrl-C to stop.", 1)
	raw := strings.ReplaceAll(sc.raw(), "\r", "")
	raw = raw[:strings.Index(raw, "Press Ctrl-C to stop.")+len("Press Ctrl-C to stop.\n\n")]
	lines := strings.Split(strings.TrimSuffix(raw, "\n"), "\n")

	// Lines on an 80-column screen, wrapping counted.
	rows := 0
	for _, l := range lines {
		rows += max(1, (utf8.RuneCountInString(ansi.ReplaceAllString(l, ""))+79)/80)
	}
	if rows > 24 {
		t.Errorf("banner takes %d rows of an 80x24 terminal:\n%s", rows, sc.text())
	}

	// The code, then the essential lines.
	var code []string
	for len(code) < len(lines) && strings.Contains(lines[len(code)], upperHalfBlk) {
		code = append(code, lines[len(code)])
	}
	rest := ansi.ReplaceAllString(strings.Join(lines[len(code):], "\n"), "")
	web := regexp.MustCompile(`(?m)^  Web  (http://127\.0\.0\.1:\d+/)  \(the QR code above, for a phone\)$`).FindStringSubmatch(rest)
	if len(code) == 0 || web == nil {
		t.Fatalf("want the QR code first, then the web address:\n%s", sc.text())
	}
	for _, want := range []string{"Sharing " + dir, "  FTP  ftp://127.0.0.1:", "  Open TCP "} {
		if !strings.Contains(rest, want) {
			t.Errorf("after the code, no %q:\n%s", want, rest)
		}
	}

	// Read the modules back from the escape sequences: each cell is an
	// upper half block, foreground the upper module, background the lower.
	// Each line starts from the terminal's defaults, so a cell is only
	// explicit if both colours were set on its line before it.
	cell := regexp.MustCompile(`((?:\x1b\[[0-9;]*m)*)` + upperHalfBlk)
	var mod [][]bool
	for i, l := range code {
		fg, bg := "", ""
		var top, bottom []bool
		for _, m := range cell.FindAllStringSubmatch(l, -1) {
			for _, sgr := range regexp.MustCompile(`\x1b\[([0-9;]*)m`).FindAllStringSubmatch(m[1], -1) {
				switch sgr[1] {
				case "30", "97":
					fg = sgr[1]
				case "40", "107":
					bg = sgr[1]
				default:
					t.Fatalf("line %d: unexpected SGR %q", i, sgr[1])
				}
			}
			if fg == "" || bg == "" {
				t.Fatalf("line %d: a cell drawn in the terminal's own colour (fg %q bg %q)", i, fg, bg)
			}
			top, bottom = append(top, fg == "30"), append(bottom, bg == "40")
		}
		mod = append(mod, top, bottom)
	}
	want, err := qrModules(web[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(mod) < len(want) || len(mod[0]) != len(want) {
		t.Fatalf("drawn %dx%d modules, encoded %dx%d", len(mod[0]), len(mod), len(want), len(want))
	}
	for y := range want {
		for x := range want[y] {
			if mod[y][x] != want[y][x] {
				t.Fatalf("module (%d,%d) drawn %v, encoded %v", x, y, mod[y][x], want[y][x])
			}
			edge := x < qrQuietZone || y < qrQuietZone || x >= len(want)-qrQuietZone || y >= len(want)-qrQuietZone
			if edge && mod[y][x] {
				t.Fatalf("quiet zone module (%d,%d) is dark", x, y)
			}
		}
	}

	// And a real decoder reads the drawn modules (as a phone would, from
	// a picture of the screen).
	const scale = 8
	img := image.NewGray(image.Rect(0, 0, len(mod[0])*scale, len(mod)*scale))
	for y := range mod {
		for x := range mod[y] {
			c := color.Gray{Y: 255}
			if mod[y][x] {
				c = color.Gray{}
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	pngFile := filepath.Join(t.TempDir(), "qr.png")
	f, _ := os.Create(pngFile)
	png.Encode(f, img)
	f.Close()
	out, err := exec.Command(zbar, "--raw", "-q", pngFile).Output()
	if err != nil || strings.TrimSpace(string(out)) != web[1] {
		t.Errorf("zbarimg read %q (%v), want %q", out, err, web[1])
	}
}
