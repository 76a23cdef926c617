package shell

import (
	"os"

	"golang.org/x/sys/unix"
)

// quietTerminal turns the terminal's echo off while a command runs, and
// returns what puts it back. Between prompts the line editor has handed
// the terminal back in cooked mode, so the driver would echo a Ctrl-C as
// "^C" (or any key typed) right where the progress bars are drawn: the
// cursor is then no longer at the start of a row, and the next redraw
// writes the bar beside its old self ("f1f1 48% ..."). ISIG stays on, so
// Ctrl-C still interrupts.
func quietTerminal(in any) func() {
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
