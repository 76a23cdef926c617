// Package share is `wharf share`: one folder offered at once over FTP (the
// real engine, package ftp) and over HTTP (a listing page for browsers and
// phones, with downloads, resumable ranges and, when allowed, uploads).
//
// It owns the HTTP handler and its embedded page, the share's throwaway
// accounts (anonymous, or one named user), one ban list for failed logins of
// both protocols, the choice of ports and the addresses printed for
// visitors, the running tally of completed and cut transfers, and the
// terminal logger that keeps engine diagnostics out of the share's lines.
//
// It must never reach a file except through a vfs.Storage (so the os.Root jail
// holds for HTTP exactly as for FTP), never decide a permission other than
// from the accounts.Perm bits of the logged-in session, never fetch anything
// from the network at run time (the page's assets are embedded), and never
// send raw error text to a visitor: that goes to the log.
//
// Permissions of the share's one account, by flag:
//
//	(default)    PermList | PermDownload                 read-only
//	--write      + PermUpload | PermMkdir                new files and folders
//	--overwrite  + PermOverwrite | PermAppend            replace and resume (implies --write)
//	--delete     + PermDelete | PermRmdir | PermRename   remove and rename (implies --write)
package share
