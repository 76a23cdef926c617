package xfer

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/testenv"
)

// Published test vectors (FIPS 180, RFC 1321, the CRC-32 check value), so
// the table pins the output format, not just "same as the library".
func TestHashKnownVectors(t *testing.T) {
	for _, tc := range []struct{ algo, in, want string }{
		{"SHA-256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"SHA-512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{"SHA-1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"MD5", "abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"CRC32", "123456789", "cbf43926"},
		{"crc32", "", "00000000"},
		{"sha-256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		got, err := Hash(context.Background(), tc.algo, strings.NewReader(tc.in), 0, -1)
		if err != nil || got != tc.want {
			t.Errorf("Hash(%s, %q) = %s, %v; want %s", tc.algo, tc.in, got, err, tc.want)
		}
	}
}

func TestHashRangesOfARealFile(t *testing.T) {
	data := randomBytes(700_001, 11)
	f := tempFile(t, t.TempDir(), data)
	for _, r := range [][2]int64{{0, -1}, {0, 700_001}, {1, 2}, {262_143, 524_289}, {699_999, -1}, {700_001, -1}, {5, 5}, {600_000, 900_000}} {
		start, end := r[0], r[1]
		want := data[start:]
		if end >= 0 {
			want = data[start:min(end, int64(len(data)))]
		}
		for _, algo := range Algorithms() {
			got, err := Hash(context.Background(), algo, f, start, end)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := Hash(context.Background(), algo, bytes.NewReader(want), 0, -1)
			if got != ref {
				t.Errorf("%s [%d,%d) = %s, want %s", algo, start, end, got, ref)
			}
		}
	}
}

func TestHashMatchesCoreutils(t *testing.T) {
	data := randomBytes(1<<20+5, 12)
	f := tempFile(t, t.TempDir(), data)
	for algo, tool := range map[string]string{"SHA-256": "sha256sum", "SHA-512": "sha512sum", "SHA-1": "sha1sum", "MD5": "md5sum"} {
		out, err := exec.Command(testenv.Tool(t, tool), f.Name()).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Hash(context.Background(), algo, f, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Fields(string(out))[0]; got != want {
			t.Errorf("%s = %s, %s says %s", algo, got, tool, want)
		}
	}
}

func TestHashRefusesUnknownAlgorithmAndBadRange(t *testing.T) {
	r := strings.NewReader("data")
	if _, err := Hash(context.Background(), "SHA-3", r, 0, -1); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("unknown algorithm: %v", err)
	}
	if _, err := Hash(context.Background(), "MD5", r, 3, 2); !errors.Is(err, ErrBadRange) {
		t.Errorf("end before start: %v", err)
	}
	if _, err := Hash(context.Background(), "MD5", r, -1, 2); !errors.Is(err, ErrBadRange) {
		t.Errorf("negative start: %v", err)
	}
	f := tempFile(t, t.TempDir(), []byte("short"))
	if _, err := Hash(context.Background(), "MD5", f, 6, -1); !errors.Is(err, ErrBadRange) {
		t.Errorf("start past EOF: %v", err)
	}
}

func TestHashStopsOnCancelledContext(t *testing.T) {
	f := tempFile(t, t.TempDir(), randomBytes(1<<20, 13))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, "SHA-256", f, 0, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a cancelled context = %v", err)
	}
}
