//go:build !linux

package progress

// QuietInput is a no-op where termios is not wired up: echo stays on
// while a command runs (see echo_linux.go).
func QuietInput(any) func() { return func() {} }
