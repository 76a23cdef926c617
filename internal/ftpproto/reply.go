package ftpproto

import (
	"bufio"
	"strconv"
	"strings"
)

// WriteReply writes one reply to w without flushing. A text with several
// lines (separated by "\n") becomes a multi-line reply per RFC 959 section
// 4.2: "code-first", the middle lines indented by one space so none can be
// mistaken for the end, and "code last".
func WriteReply(w *bufio.Writer, code int, text string) error {
	first, rest, multi := strings.Cut(text, "\n")
	w.WriteString(strconv.Itoa(code))
	if !multi {
		w.WriteByte(' ')
		w.WriteString(first)
		_, err := w.WriteString("\r\n")
		return err
	}
	w.WriteByte('-')
	w.WriteString(first)
	w.WriteString("\r\n")
	for {
		line, more, ok := strings.Cut(rest, "\n")
		if !ok {
			w.WriteString(strconv.Itoa(code))
			w.WriteByte(' ')
			w.WriteString(line)
			_, err := w.WriteString("\r\n")
			return err
		}
		w.WriteByte(' ')
		w.WriteString(line)
		w.WriteString("\r\n")
		rest = more
	}
}

// Quote doubles the double quotes in a path for a 257 reply (RFC 959
// appendix II), so "a"b" comes back as "a""b".
func Quote(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}
