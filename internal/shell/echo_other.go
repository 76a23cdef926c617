//go:build !linux

package shell

// quietTerminal is a no-op where termios is not wired up: echo stays on
// while a command runs (see echo_linux.go).
func quietTerminal(any) func() { return func() {} }
