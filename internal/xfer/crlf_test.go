package xfer

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// refToCRLF and refFromCRLF are the byte-at-a-time definitions the streaming
// converters must match whatever the read sizes.
func refToCRLF(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func refFromCRLF(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			continue
		}
		out = append(out, c)
	}
	return out
}

// chunkReader hands out its data in pieces whose sizes cycle through sizes,
// so CRs and LFs land at every position relative to read boundaries.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.sizes[r.i%len(r.sizes)]
	r.i++
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// readAllSized reads r to EOF with reads of at most size bytes.
func readAllSized(t testing.TB, r io.Reader, size int) []byte {
	t.Helper()
	var out []byte
	p := make([]byte, size)
	for zeros := 0; ; {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			if zeros++; zeros > 1000 {
				t.Fatal("reader makes no progress")
			}
		}
	}
}

func sizesFrom(seed uint8) []int {
	return []int{1 + int(seed%7), 1, 2 + int(seed%3), 3, 1 + int(seed)}
}

var crlfCases = []string{
	"",
	"\n",
	"\r",
	"\r\n",
	"\n\n",
	"\r\r\n",
	"a\nb\r\nc\rd\n",
	"no line ends",
	"trailing CR\r",
	"\n\r\n\r\r\n\n\r",
	"line\n" + string(bytes.Repeat([]byte("x"), crlfBufSize-1)) + "\r\nafter the buffer edge\n",
}

func TestToCRLFMatchesDefinitionAcrossReadBoundaries(t *testing.T) {
	for _, in := range crlfCases {
		want := refToCRLF([]byte(in))
		for _, outSize := range []int{1, 2, 3, 7, 4096} {
			for seed := range uint8(8) {
				got := readAllSized(t, ToCRLF(&chunkReader{data: []byte(in), sizes: sizesFrom(seed)}), outSize)
				if !bytes.Equal(got, want) {
					t.Fatalf("ToCRLF(%q) read %d/seed %d = %q, want %q", in, outSize, seed, got, want)
				}
			}
		}
	}
}

func TestFromCRLFMatchesDefinitionAcrossReadBoundaries(t *testing.T) {
	for _, in := range crlfCases {
		want := refFromCRLF([]byte(in))
		for _, outSize := range []int{1, 2, 3, 7, 4096} {
			for seed := range uint8(8) {
				got := readAllSized(t, FromCRLF(&chunkReader{data: []byte(in), sizes: sizesFrom(seed)}), outSize)
				if !bytes.Equal(got, want) {
					t.Fatalf("FromCRLF(%q) read %d/seed %d = %q, want %q", in, outSize, seed, got, want)
				}
			}
		}
	}
}

func TestCRLFSplitAcrossReadsIsOneLineEnd(t *testing.T) {
	// The CR ends one read of the source and the LF starts the next.
	src := iotest.OneByteReader(bytes.NewReader([]byte("a\r\nb")))
	if got := readAllSized(t, FromCRLF(src), 64); string(got) != "a\nb" {
		t.Fatalf("FromCRLF = %q", got)
	}
	src = iotest.OneByteReader(bytes.NewReader([]byte("a\r\nb")))
	if got := readAllSized(t, ToCRLF(src), 64); string(got) != "a\r\nb" {
		t.Fatalf("ToCRLF = %q", got)
	}
}

func TestCRLFReadersPassErrorsThrough(t *testing.T) {
	boom := errors.New("boom")
	for name, conv := range map[string]func(io.Reader) io.Reader{"ToCRLF": ToCRLF, "FromCRLF": FromCRLF} {
		r := conv(io.MultiReader(bytes.NewReader([]byte("ab\r")), iotest.ErrReader(boom)))
		var got []byte
		p := make([]byte, 16)
		var err error
		for range 10 {
			var n int
			n, err = r.Read(p)
			got = append(got, p[:n]...)
			if err != nil {
				break
			}
		}
		if !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want boom", name, err)
		}
		if string(got) != "ab\r" {
			t.Errorf("%s: data before the error %q, want %q", name, got, "ab\r")
		}
	}
}

// endless repeats its text forever without allocating.
type endless struct {
	text []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.text[e.off:])
		n += c
		e.off = (e.off + c) % len(e.text)
	}
	return n, nil
}

func TestCRLFReadDoesNotAllocate(t *testing.T) {
	p := make([]byte, 8192)
	for name, conv := range map[string]func(io.Reader) io.Reader{"ToCRLF": ToCRLF, "FromCRLF": FromCRLF} {
		r := conv(&endless{text: []byte("some text\nand\r\nmore\r")})
		if a := testing.AllocsPerRun(200, func() { r.Read(p) }); a != 0 {
			t.Errorf("%s: %v allocations per Read, want 0", name, a)
		}
	}
}

func FuzzToCRLF(f *testing.F) {
	for _, c := range crlfCases[:10] {
		f.Add([]byte(c), uint8(1), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, inSeed, outSize uint8) {
		got := readAllSized(t, ToCRLF(&chunkReader{data: data, sizes: sizesFrom(inSeed)}), 1+int(outSize))
		if want := refToCRLF(data); !bytes.Equal(got, want) {
			t.Fatalf("ToCRLF(%q) = %q, want %q", data, got, want)
		}
	})
}

func FuzzFromCRLF(f *testing.F) {
	for _, c := range crlfCases[:10] {
		f.Add([]byte(c), uint8(2), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, inSeed, outSize uint8) {
		got := readAllSized(t, FromCRLF(&chunkReader{data: data, sizes: sizesFrom(inSeed)}), 1+int(outSize))
		if want := refFromCRLF(data); !bytes.Equal(got, want) {
			t.Fatalf("FromCRLF(%q) = %q, want %q", data, got, want)
		}
	})
}

// FuzzCRLFRoundTrip checks the converters against each other, independently
// of the reference definitions: a download converted back by an uploading
// client gives what a direct conversion gives, ToCRLF is idempotent, and text
// without CR survives the round trip unchanged.
func FuzzCRLFRoundTrip(f *testing.F) {
	for _, c := range crlfCases[:10] {
		f.Add([]byte(c), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint8) {
		rd := func(r io.Reader) []byte { return readAllSized(t, r, 1+int(seed)*3) }
		src := func() io.Reader { return &chunkReader{data: data, sizes: sizesFrom(seed)} }

		back := rd(FromCRLF(ToCRLF(src())))
		if direct := rd(FromCRLF(src())); !bytes.Equal(back, direct) {
			t.Fatalf("FromCRLF(ToCRLF(%q)) = %q, FromCRLF alone = %q", data, back, direct)
		}
		once := rd(ToCRLF(src()))
		if twice := rd(ToCRLF(ToCRLF(src()))); !bytes.Equal(once, twice) {
			t.Fatalf("ToCRLF not idempotent on %q: %q then %q", data, once, twice)
		}
		if !bytes.Contains(data, []byte{'\r'}) && !bytes.Equal(back, data) {
			t.Fatalf("CR-free %q came back as %q", data, back)
		}
	})
}
