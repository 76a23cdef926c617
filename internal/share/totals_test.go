package share

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitTemp waits until an upload's temporary file exists in dir: the HTTP
// handler has passed its "exists?" check and is streaming.
func waitTemp(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload never started: %v", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSummaryCountsOnlyCompletedTransfersNotRaceLosersOrRefusedRanges pins
// QA round 2 (issue #5): same.bin uploaded over HTTP and FTP at once (HTTP
// loses with 409) was summarised as the bytes of both, and a 416 reply was
// logged as "sent /big.bin (33 B) INCOMPLETE". Files and bytes now count
// completed transfers only; the loser is an incomplete upload; a refused
// range is no transfer at all.
func TestSummaryCountsOnlyCompletedTransfersNotRaceLosersOrRefusedRanges(t *testing.T) {
	dir := t.TempDir()
	s := startShare(t, Options{Dir: dir, Write: true})

	// HTTP starts first and is past its "exists?" check...
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", s.httpURL()+"/same.bin", pr)
	req.ContentLength = -1
	httpDone := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			httpDone <- -1
			return
		}
		resp.Body.Close()
		httpDone <- resp.StatusCode
	}()
	if _, err := pw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	waitTemp(t, dir)

	// ...when FTP stores the same name completely.
	ftpData := randomBytes(t, 1_500_000)
	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	if err := c.Stor("same.bin", bytes.NewReader(ftpData)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	pw.Write(make([]byte, 1<<20))
	pw.Close()
	if code := <-httpDone; code != http.StatusConflict {
		t.Fatalf("HTTP upload that lost the race = %d, want 409", code)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "same.bin")); !bytes.Equal(got, ftpData) {
		t.Fatalf("same.bin on disk is %d bytes, want FTP's %d", len(got), len(ftpData))
	}
	tot := s.Totals()
	if tot.FilesReceived != 1 || tot.BytesReceived != int64(len(ftpData)) || tot.IncompleteReceived != 1 {
		t.Errorf("after the race: %+v, want 1 file of %d bytes received and 1 incomplete", tot, len(ftpData))
	}
	var loser string
	s.mu.Lock()
	for _, e := range s.events {
		if e.Proto == "http" && e.Kind == EventUpload {
			loser = FormatEvent(e)
		}
	}
	s.mu.Unlock()
	if !strings.Contains(loser, "NOT KEPT") || strings.Contains(loser, "INCOMPLETE") {
		t.Errorf("the losing upload's line = %q, want it marked NOT KEPT", loser)
	}

	// A range past the end: 416, and nothing sent, counted or shown.
	req, _ = http.NewRequest("GET", s.httpURL()+"/same.bin", nil)
	req.Header.Set("Range", "bytes=99999999-")
	resp, _ := do(t, req)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end = %d, want 416", resp.StatusCode)
	}
	if kinds := s.eventKinds(); kinds["http download"] != 0 {
		t.Errorf("a 416 was reported as a download: %v", kinds)
	}

	// A download cut by the visitor: incomplete, its bytes not counted.
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, 32<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.HTTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadFull(conn, make([]byte, 64<<10))
	conn.(*net.TCPConn).SetLinger(0) // a reset, as a killed client sends
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.eventKinds()["http download"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cut download was never reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tot = s.Totals()
	if tot.FilesSent != 0 || tot.BytesSent != 0 || tot.IncompleteSent != 1 {
		t.Errorf("after a 416 and a cut download: %+v, want nothing sent and 1 incomplete", tot)
	}
}

// TestTallyCountsFilesAndBytesTogether: a transfer either counts as a file
// with its bytes, or as incomplete without them.
func TestTallyCountsFilesAndBytesTogether(t *testing.T) {
	var tl tally
	tl.add(Event{Kind: EventUpload, Bytes: 3 << 20, Err: io.ErrUnexpectedEOF})
	tl.add(Event{Kind: EventUpload, Bytes: 50_000})
	tl.add(Event{Kind: EventDownload, Bytes: 33, Err: io.ErrUnexpectedEOF})
	tl.add(Event{Kind: EventDownload, Bytes: 1000})
	want := Totals{FilesSent: 1, BytesSent: 1000, FilesReceived: 1, BytesReceived: 50_000, IncompleteSent: 1, IncompleteReceived: 1}
	if got := tl.totals(); got != want {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
}
