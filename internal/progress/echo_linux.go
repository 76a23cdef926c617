package progress

import (
	"os"

	"golang.org/x/sys/unix"
)

// QuietInput turns echo off on the terminal in (when it is one) while bars
// are drawn, and returns what puts it back. In cooked mode (a one-shot
// command, or the shell once its line editor handed the terminal back) the
// driver would echo a Ctrl-C as "^C" (or any key typed) right where the
// bars are drawn: the cursor is then no longer at the start of a row, and
// the next redraw writes the bar beside its old self ("f1f1 48% ...").
// ISIG stays on, so Ctrl-C still interrupts.
func QuietInput(in any) func() {
	f, ok := in.(*os.File)
	if !ok {
		return func() {}
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {} // not a terminal
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO | unix.ECHOCTL | unix.ECHONL
	if unix.IoctlSetTermios(fd, unix.TCSETS, &quiet) != nil {
		return func() {}
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}
