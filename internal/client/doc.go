// Package client is wharf's FTP/FTPS client: the protocol (one control
// connection, passive or active data connections, explicit and implicit TLS,
// trust on first use), the typed errors that carry the server's reply, and the
// file transfers built on it (resume, end-to-end checksums, trees, parallel
// workers).
//
// It owns the wire and the local files a transfer writes. It must never draw
// on a terminal (progress reaches an Observer), never prompt by itself (a
// caller-provided Ask decides on unknown certificates), and never hold
// package-level state: everything lives in a *Conn or in the options passed in.
// A *Conn is not safe for concurrent use; parallel transfers dial more
// connections.
package client
