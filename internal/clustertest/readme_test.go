package clustertest

import (
	"os"
	"strings"
	"testing"
)

// readmeMarker opens the README's copy of the HAProxy configuration.
const readmeMarker = "<!-- haproxy.cfg: rendered from internal/clustertest/testdata/haproxy.cfg.tmpl -->\n```\n"

// The README's HAProxy configuration is the tested template rendered with
// the README's example values: the two cannot drift apart.
func TestReadmeQuotesTheTestedHAProxyConfig(t *testing.T) {
	example := &cluster{t: t, Bind: "*", ControlPort: 21, Nodes: []*node{
		{Name: "n1", Host: "10.0.0.11", Port: 21, PassiveLow: 40000, PassiveHigh: 40999},
		{Name: "n2", Host: "10.0.0.12", Port: 21, PassiveLow: 41000, PassiveHigh: 41999},
	}}
	want := example.renderHAProxy()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), readmeMarker)
	if !ok {
		t.Fatal("README lacks the HAProxy configuration marker")
	}
	got, _, ok := strings.Cut(rest, "```\n")
	if !ok || got != want {
		if os.Getenv("WHARF_UPDATE_README") == "1" {
			os.WriteFile("../../README.md", []byte(strings.Replace(string(b), readmeMarker+got, readmeMarker+want, 1)), 0o644)
			return
		}
		t.Fatalf("README's HAProxy configuration differs from the template (WHARF_UPDATE_README=1 rewrites it); want:\n%s", want)
	}
}
