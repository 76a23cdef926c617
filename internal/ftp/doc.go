// Package ftp is wharf's FTP/FTPS server engine.
//
// It owns the control-connection state machine, the declarative command
// table and its single gate, passive and active data connections, explicit
// and implicit FTPS, per-IP limits and bans, and the upload and download
// rules (atomic uploads, quota accounting, permissions). It must never decide
// who a user is (package accounts does), never reach a file except through the
// session's vfs.Storage, and never send raw error or panic text to a client:
// internal errors go to the log, clients get the RFC reply code.
//
// # Shape
//
// One goroutine per control connection reads commands (session.serve, after
// net/http's conn.serve: deferred recover-and-close, TLS handshakes under
// their own deadline, the idle deadline re-armed before each read). Each
// command is a row of the table in commands.go; the gate in handleLine
// answers 500/501/503/530/550 from the row before the handler runs, and
// replyFor turns a handler's error into the one reply code for it. A second
// goroutine exists only while a transfer runs, so ABOR, STAT and NOOP are
// read meanwhile; commands that are not marked for that wait for the
// transfer to end. The idle timer is off while a transfer runs; a stalled
// data connection is caught by a watchdog reading the kernel's TCP byte
// counters, so the zero-copy paths (sendfile, splice, in package xfer) never
// see a wrapper. A session's context is cancelled by QUIT, ABOR (for its
// transfer) and Shutdown. Shutdown closes idle sessions with 421 but lets a
// session that just finished a transfer close it (checksum, SIZE, MDTM,
// QUIT: the rows marked closes) for Config.CloseGrace.
//
// Files: server.go (Config, lifecycle, limits, bans), session.go (the
// command loop), commands.go (table, gate, error mapping), handle_auth.go,
// handle_dirs.go, handle_files.go, handle_misc.go (one per command family),
// transfer.go (data connections, PASV/EPSV/PORT/EPRT, ABOR), listing.go
// (LIST/NLST/MLSD formatting), watchdog.go (data timeout, xferlog),
// recover.go (uploads left behind by a crash), reasons.go (the refusals
// both protocols give, as Reason: the share's HTTP side answers with the
// same table, so one case reads alike on FTP and in a browser).
//
// # Upload policy
//
// Files are reached only through vfs.Storage (local disk, an S3 bucket);
// the engine never asks which. A STOR (or STOU, or APPE of a new file)
// writes into a vfs.Upload that appears under the target's name only when
// the engine commits it at the end of the transfer (on a local disk a
// hidden temporary file, ".wharf-upload-*", never listed, never addressable
// by clients, renamed over the target; on an object store a multipart
// upload completed then), so no other session ever reads a half-written
// file as complete. The 226 reply
// is sent only once the file is in place (and, with Config.Durable, fsynced
// together with its folder).
//
// A broken upload (the client vanished or reset the connection, ABOR, a data
// timeout, a TLS data connection that ended without close_notify) answers
// 426. What arrived is kept only when its uploader may finish it, that is
// has PermAppend or PermOverwrite on the target: it is then moved under the
// target's name, replacing any previous file, and standard clients resume
// with SIZE and REST+STOR or APPE (or upload it again). For anyone else (an
// upload-only drop box) a partial file would only pass for a complete one
// that can never be finished or replaced, so it is discarded, any previous
// file stays untouched, and its room is given back. In stream mode a FIN on
// the data connection ends the file, and a killed client's kernel sends
// just that; so for such a user an upload whose client also closed the
// control connection (seen within clientGoneGrace of the data's end) counts
// as broken too.
// The quota is different, because a refusal never loses data: a new file
// stopped at the limit keeps what arrived (exactly up to the limit,
// resumable once room is freed, under the same permission rule) and answers
// 552, but an upload that would replace an existing file is discarded and
// the original stays untouched, and a new file of which nothing could be
// stored is not created. Resumes and appends write in place, since the file
// is by then known to be partial; one that would pass the quota stops
// exactly at the limit and keeps what the file held before. A data
// connection that never opened changes nothing.
//
// A crash mid-upload leaves the temporary file behind; its name says which
// file it was for and whether it was to replace one, and the first login to
// a home after the server starts settles every one that no upload of this
// process owns under these same rules (recover.go): a new file its user may
// resume is put in place, anything else is discarded, an original kept.
//
// # Quota accounting
//
// Usage changes only through the session's accounts.Quota, by deltas, and
// must equal what is stored after any interleaving of sessions (ledger.go
// holds the commit rule, shared with the HTTP side of `wharf share`): a
// new file takes one file (Adjust(0, +1)) before any byte moves, so the
// file quota answers 552 at once; uploaded bytes come through
// Reserve/Commit in xfer.Receive, so concurrent sessions never together
// pass the byte quota; an upload replacing a file may use that file's
// room once data flows (one upload of a name at a time; the original stays
// counted until the commit takes it away); what a commit,
// DELE or RNTO replaced or removed is counted from what the name held
// under its lock, never from a look taken earlier; REST below a file's end
// writes a new version through a temporary file (its first bytes copied,
// nothing cut until the commit replaces it, so a refusal keeps the
// original), and only one writer in place (REST at the end, APPE) holds a
// name (450 to any other change of it meanwhile); RMD of an empty folder changes
// nothing. The first login to a home after a start counts it after
// settling crashed uploads (recover.go), so deltas lost in a crash do not
// outlive the restart.
//
// Permissions are decided by the operation they guard: an upload or RNTO
// that may not replace commits with the storage's refusal of an existing
// name (RENAME_NOREPLACE, link+unlink, If-None-Match: *), never with a look
// and then a rename (see ledger.go for a storage that has no such rename).
//
// Reply codes come from the seam's typed errors (vfs.ErrNotExist,
// vfs.ErrNoSpace, vfs.ErrTransient ...) in errorReply, never from errno: a
// storage outage is 451 on a command and on a transfer, never 426 or 226.
package ftp
