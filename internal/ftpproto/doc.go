// Package ftpproto is the FTP wire format shared by wharf's server and
// client: reply codes, a bounded command-line reader, command parsing and
// (multi-line) reply writing, per RFC 959 section 4.2.
//
// It must never interpret what a command means, touch files or hold session
// state: it turns bytes into lines and commands and replies into bytes, and
// refuses input it cannot represent rather than guessing.
package ftpproto
