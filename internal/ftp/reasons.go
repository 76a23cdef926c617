package ftp

import (
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wharfftp/wharf/internal/ftpproto"
)

// Reason is a refusal that both of wharf's protocols give: the engine's FTP
// reply and the HTTP answer of the share's web side (internal/share). A
// person who tries the same thing over FTP and in a browser reads the same
// reason; the table in row is the only place its words live.
type Reason int

const (
	ReasonNotFound    Reason = iota + 1 // nothing by that name
	ReasonPermission                    // the account's permissions refuse it
	ReasonNoReplace                     // an upload over an existing file, for an account that may not replace
	ReasonExists                        // a new folder where a name exists
	ReasonBusy                          // another upload is writing that file
	ReasonChanged                       // another upload changed that file between the command and the data
	ReasonQuota                         // the account's quota is used up
	ReasonNoSpace                       // the storage is full
	ReasonHidden                        // a dot name while dot names are hidden
	ReasonBadName                       // a name the storage cannot hold
	ReasonNotEmpty                      // deleting a folder that is not empty
	ReasonNotFolder                     // a folder operation on a file
	ReasonUnavailable                   // the storage did not answer (an outage): try again
	reasonEnd
)

// Reasons lists every reason, for tests that walk the table.
func Reasons() []Reason {
	out := make([]Reason, 0, reasonEnd-1)
	for r := Reason(1); r < reasonEnd; r++ {
		out = append(out, r)
	}
	return out
}

type reasonRow struct {
	ftp  int    // reply code (RFC 959 4.2; 553 for names, RFC 959 too)
	http int    // status
	text string // lower case, no final stop: both protocols shape it
}

func (r Reason) row() reasonRow {
	switch r {
	case ReasonNotFound:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusNotFound, "no such file or directory"}
	case ReasonPermission:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusForbidden, "permission denied"}
	case ReasonNoReplace:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusConflict, "file exists and may not be replaced"}
	case ReasonExists:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusConflict, "already exists"}
	case ReasonBusy:
		return reasonRow{ftpproto.CodeFileBusy, http.StatusConflict, "file busy: another upload is writing it"}
	case ReasonChanged:
		return reasonRow{ftpproto.CodeFileBusy, http.StatusConflict, "file changed by another upload meanwhile: try again"}
	case ReasonQuota:
		return reasonRow{ftpproto.CodeExceededStorage, http.StatusInsufficientStorage, "quota exceeded"}
	case ReasonNoSpace:
		return reasonRow{ftpproto.CodeInsufficientSpace, http.StatusInsufficientStorage, "insufficient storage space"}
	case ReasonHidden:
		return reasonRow{ftpproto.CodeBadFileName, http.StatusForbidden, "file name not allowed: names starting with a dot are hidden"}
	case ReasonBadName:
		return reasonRow{ftpproto.CodeBadFileName, http.StatusBadRequest, "file name not allowed"}
	case ReasonNotEmpty:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusConflict, "directory not empty"}
	case ReasonNotFolder:
		return reasonRow{ftpproto.CodeFileUnavailable, http.StatusConflict, "not a directory"}
	case ReasonUnavailable:
		// RFC 959: 451 "local error in processing", which a client may
		// retry; HTTP's 503 says the same.
		return reasonRow{ftpproto.CodeLocalError, http.StatusServiceUnavailable, "storage temporarily unavailable; try again later"}
	}
	return reasonRow{ftpproto.CodeLocalError, http.StatusInternalServerError, "local error in processing"}
}

// Text is the reason's words, as both protocols say them.
func (r Reason) Text() string { return r.row().text }

// FTP is the reply: its code and text ("File exists and may not be replaced.").
func (r Reason) FTP() (int, string) {
	row := r.row()
	c, n := utf8.DecodeRuneInString(row.text)
	return row.ftp, string(unicode.ToUpper(c)) + row.text[n:] + "."
}

// HTTP is the answer: its status and body line ("409 file exists and may
// not be replaced"); detail, when given, says which operation was refused
// ("upload" gives "403 permission denied: upload not allowed").
func (r Reason) HTTP(detail string) (int, string) {
	row := r.row()
	line := strconv.Itoa(row.http) + " " + row.text
	if detail = strings.TrimSpace(detail); detail != "" {
		line += ": " + detail + " not allowed"
	}
	return row.http, line
}

// reply makes the reason a handler's error.
func (r Reason) reply() error {
	code, text := r.FTP()
	return replyErr(code, text)
}
