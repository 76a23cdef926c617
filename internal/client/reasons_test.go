package client

import (
	"testing"

	"github.com/wharfftp/wharf/internal/ftp"
)

// The client classifies a refusal by its code and, for the overloaded 550,
// its words; every reason wharf's server gives must land in the kind it
// means (exit codes and retries follow from it). Regression: "550 File
// exists and may not be replaced." read as "not found".
func TestServerReasonsHaveTheirKind(t *testing.T) {
	want := map[ftp.Reason]Kind{
		ftp.ReasonNotFound:   KindNotFound,
		ftp.ReasonPermission: KindPermission,
		ftp.ReasonNoReplace:  KindPermission,
		ftp.ReasonBusy:       KindTransient,
		ftp.ReasonQuota:      KindQuota,
		ftp.ReasonNoSpace:    KindQuota,
		ftp.ReasonHidden:     KindPermission,
		ftp.ReasonBadName:    KindPermission,
	}
	for r, k := range want {
		code, text := r.FTP()
		if got := (&Error{Code: code, Msg: text}).Kind(); got != k {
			t.Errorf("%d %s: kind %v, want %v", code, text, got, k)
		}
	}
}
