package share

import "testing"

// TestSplitNameKeepsDistinctEnds pins QA round 2 (issue #5): names cut only
// at their end looked the same on a phone. The tail kept whole holds the
// part that tells them apart and the extension.
func TestSplitNameKeepsDistinctEnds(t *testing.T) {
	for _, c := range []struct{ name, head, tail string }{
		{"short.txt", "short.txt", ""},
		{"exactly16chars.x", "exactly16chars.x", ""},
		{"file_with_a_rather_long_name_number_1.txt", "file_with_a_rather_long_name_", "number_1.txt"},
		{"file_with_a_rather_long_name_number_10.txt", "file_with_a_rather_long_name_", "number_10.txt"},
		{"a rather long file name that has to be cut on a narrow phone screen.mp4", "a rather long file name that has to be cut on a narrow ", "phone screen.mp4"},
		{"no extension at all in this long name", "no extension at all in this ", "long name"},
		{"ünïcödé-ñämé-wïth-äccents.jpeg", "ünïcödé-ñämé-", "wïth-äccents.jpeg"},
	} {
		h, tl := splitName(c.name)
		if h+tl != c.name || h != c.head || tl != c.tail {
			t.Errorf("splitName(%q) = %q + %q, want %q + %q", c.name, h, tl, c.head, c.tail)
		}
	}
}
