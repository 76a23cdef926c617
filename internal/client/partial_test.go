package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestDescribeInterrupted(t *testing.T) {
	cut := func(p *PartialError) error { p.Err = context.Canceled; return fmt.Errorf("wrapped: %w", p) }
	for _, tc := range []struct {
		err  error
		want string
		ok   bool
	}{
		{errors.New("plain"), "", false},
		{cut(&PartialError{Name: "a.bin", Part: "a.bin.part", Done: 1 << 20, Size: 2 << 20}), "a.bin is partly downloaded: 1MiB of 2MiB kept as a.bin.part; get -c resumes it", true},
		{cut(&PartialError{Upload: true, Name: "u", Done: 10, Size: -1}), "u is partly uploaded: the server keeps what arrived (up to 10B); get -c resumes it", true},
		{errors.Join(cut(&PartialError{Name: "a", Done: 1}), cut(&PartialError{Name: "b", Done: 2}), cut(&PartialError{Name: "c"})),
			"2 files are partly downloaded (kept as NAME.part): a, b; get -c resumes them", true},
		{cut(&PartialError{Name: "z"}), "stopped before any byte moved; nothing to resume", true},
	} {
		got, ok := DescribeInterrupted(tc.err, "get -c")
		if got != tc.want || ok != tc.ok {
			t.Errorf("DescribeInterrupted(%v) = %q %v, want %q %v", tc.err, got, ok, tc.want, tc.ok)
		}
	}
}
