package ftp_test

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

func TestJlaffayeUploadDownloadListRoundTrip(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	c := login(t, srv.Addr, "alice", "secret")
	data := randomBytes(t, 3<<20)
	if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if got := fileSum(t, filepath.Join(home, "big.bin")); got != sum(data) {
		t.Fatalf("stored file differs")
	}
	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("RETR content differs (err %v, %d bytes)", err, len(got))
	}
	if err := c.MakeDir("sub"); err != nil {
		t.Fatal(err)
	}
	ents, err := c.List("/")
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
		if e.Name == "big.bin" && e.Size != uint64(len(data)) {
			t.Errorf("LIST size %d, want %d", e.Size, len(data))
		}
	}
	if strings.Join(names, ",") != "big.bin,sub" && strings.Join(names, ",") != "sub,big.bin" {
		t.Fatalf("LIST names %v", names)
	}
	size, err := c.FileSize("big.bin")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("SIZE %d %v", size, err)
	}
}
