package share

import (
	"mime"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// A visitor names the files they upload; checkName is the gate.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"report.pdf", "..", ".", "a/b", "a\x00b", "a\nb", ".wharf-upload-x", "\xff", "ü.txt", strings.Repeat("a", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		if name == "." || name == ".." || strings.ContainsAny(name, "/\x00\r\n") || !utf8.ValidString(name) ||
			len(name) > maxNameLen || strings.HasPrefix(name, tempPrefix) {
			t.Fatalf("checkName accepted %q", name)
		}
		// What the page sends for a name checkName accepts reads back as
		// that name: the download header and the link.
		cd := contentDisposition(name)
		if strings.ContainsAny(cd, "\r\n") {
			t.Fatalf("header %q breaks the line", cd)
		}
		if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != name {
			t.Fatalf("Content-Disposition %q reads back as %q (%v), want %q", cd, params["filename"], err, name)
		}
		p := "/dir/" + name
		u, err := url.Parse(escapePath(p))
		if err != nil || u.Path != p || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("escapePath(%q) = %q reads back as %+v (%v)", p, escapePath(p), u, err)
		}
	})
}
