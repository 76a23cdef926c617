package accounts

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzUserSettings feeds the admin API's user JSON through the decoding
// and checking that `wharf user` flags share: it never panics, a refusal
// leaves the user unchanged, and what it accepts is a user every engine
// check can take (no negative limit, permissions inside the known set).
func FuzzUserSettings(f *testing.F) {
	for _, s := range []string{
		`{"quota":"10GiB","perm":"read-only","allow":["10.0.0.0/8","192.0.2.1"],"rate_up":"2MiB/s"}`,
		`{"quota":1048576,"max_files":3,"max_sessions":2,"expires":"2030-01-02","tls_required":true}`,
		`{"quota":-1}`, `{"quota":1e30}`, `{"rate_down":"-5K"}`, `{"max_files":-1}`, `{"allow":["any"]}`,
		`{"expires":"never","disabled":true}`, `{"perm":"list,,download"}`, `{"quota":"1.5GB"}`, `{"quota":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s UserSettings
		if json.Unmarshal(b, &s) != nil {
			return
		}
		orig := User{Name: "u", Home: "/h", Perms: PresetReadOnly, QuotaBytes: 7}
		u := orig
		if err := s.Apply(&u); err != nil {
			if !reflect.DeepEqual(u, orig) {
				t.Fatalf("refused %s (%v) but changed the user: %+v", b, err, u)
			}
			return
		}
		if u.QuotaBytes < 0 || u.QuotaFiles < 0 || u.RateUp < 0 || u.RateDown < 0 || u.MaxSessions < 0 {
			t.Fatalf("accepted %s as negative limits: %+v", b, u)
		}
		if u.Perms&^PresetFull != 0 {
			t.Fatalf("accepted %s with unknown permission bits %#x", b, uint32(u.Perms))
		}
		for _, p := range u.AllowFrom {
			if !p.IsValid() || p.Masked() != p {
				t.Fatalf("accepted %s with prefix %v", b, p)
			}
		}
	})
}

// A number in JSON reads as its decimal text, and text as itself; other
// JSON types are refused.
func TestTextTakesNumbersAndStrings(t *testing.T) {
	for in, want := range map[string]Text{`"10GiB"`: "10GiB", `1048576`: "1048576", `1.5`: "1.5", `"0"`: "0"} {
		var x Text
		if err := json.Unmarshal([]byte(in), &x); err != nil || x != want {
			t.Errorf("%s: %q, %v", in, x, err)
		}
	}
	for _, in := range []string{`true`, `[1]`, `{"a":1}`} {
		var x Text
		if err := json.Unmarshal([]byte(in), &x); err == nil {
			t.Errorf("%s accepted as %q", in, x)
		}
	}
}
