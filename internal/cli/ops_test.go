package cli

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logAddr waits for a "serving WHAT" log line and returns its address.
func logAddr(t *testing.T, logs *syncBuffer, what string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving ` + what + `" listen=(\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %q log line:\n%s", what, logs)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeMetricsListenAndAdminListenFromEnv(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, logs := startServe(t, []string{"WHARF_ADMIN_LISTEN=127.0.0.1:0"}, "--init", "--data", data, "--listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0")
	rawFTP(t, addr, "USER nobody", "PASS x", "QUIT")
	m := logAddr(t, logs, "metrics")
	a := logAddr(t, logs, "admin")
	code, body := get(t, "http://"+m+"/metrics")
	if code != 200 || !strings.Contains(body, `wharf_logins_total{result="failed"} 1`) || !strings.Contains(body, "wharf_sessions_total 1") {
		t.Fatalf("metrics listener: %d\n%s", code, body)
	}
	if code, _ := get(t, "http://"+m+"/api/v1/sessions"); code != 404 {
		t.Errorf("metrics listener serves the API: %d", code)
	}
	if code, body := get(t, "http://"+a+"/metrics"); code != 200 || !strings.Contains(body, "wharf_sessions_total") {
		t.Errorf("admin listener /metrics: %d", code)
	}
}
