package accounts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/units"
)

// UserSettings are changes to a user's settings as a person writes them
// (sizes like "10GiB", rates like "2MiB/s", permissions by name): the one
// reading of `wharf user add/set` flags and of the admin API's JSON, so
// both accept and refuse exactly the same input. A nil field is left as
// it is.
type UserSettings struct {
	Home        *string   `json:"home,omitempty"`
	Quota       *Text     `json:"quota,omitempty"` // size; 0: unlimited
	MaxFiles    *int64    `json:"max_files,omitempty"`
	Perm        *string   `json:"perm,omitempty"`
	MaxSessions *int      `json:"max_sessions,omitempty"`
	Allow       *[]string `json:"allow,omitempty"` // CIDR or address; "any" or none: all
	RateUp      *Text     `json:"rate_up,omitempty"`
	RateDown    *Text     `json:"rate_down,omitempty"`
	TLSRequired *bool     `json:"tls_required,omitempty"`
	Expires     *string   `json:"expires,omitempty"` // 2026-12-31, RFC 3339, or "never"
	Disabled    *bool     `json:"disabled,omitempty"`
}

// Text is a setting written as text; in JSON a bare number is taken as
// its decimal text, so {"quota": 1048576} and {"quota": "1MiB"} both work.
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a number or a string, got %s", b)
	}
	*t = Text(n.String())
	return nil
}

// SettingError is a refused setting; Field is its name as in
// UserSettings' JSON (the command line shows it as a flag).
type SettingError struct {
	Field string
	Msg   string
}

func (e *SettingError) Error() string { return e.Field + ": " + e.Msg }

func settingErr(field string, err error) error {
	return &SettingError{Field: field, Msg: err.Error()}
}

// Apply checks every given setting and writes them to u; on an error u
// is unchanged. The home is checked later, by AddUser or UpdateUser.
func (s UserSettings) Apply(u *User) error {
	n := *u
	if s.Home != nil {
		n.Home = *s.Home
	}
	if s.Quota != nil {
		v, err := units.ParseSize(string(*s.Quota))
		if err != nil {
			return settingErr("quota", err)
		}
		n.QuotaBytes = v
	}
	if s.MaxFiles != nil {
		if *s.MaxFiles < 0 {
			return settingErr("max_files", fmt.Errorf("%d is negative", *s.MaxFiles))
		}
		n.QuotaFiles = *s.MaxFiles
	}
	if s.Perm != nil {
		p, err := ParsePerm(*s.Perm)
		if err != nil {
			return settingErr("perm", err)
		}
		n.Perms = p
	}
	if s.MaxSessions != nil {
		if *s.MaxSessions < 0 {
			return settingErr("max_sessions", fmt.Errorf("%d is negative", *s.MaxSessions))
		}
		n.MaxSessions = *s.MaxSessions
	}
	if s.Allow != nil {
		p, err := ParseAllow(*s.Allow)
		if err != nil {
			return settingErr("allow", err)
		}
		n.AllowFrom = p
	}
	for _, r := range []struct {
		field string
		val   *Text
		dst   *int64
	}{{"rate_up", s.RateUp, &n.RateUp}, {"rate_down", s.RateDown, &n.RateDown}} {
		if r.val != nil {
			v, err := units.ParseRate(string(*r.val))
			if err != nil {
				return settingErr(r.field, err)
			}
			*r.dst = v
		}
	}
	if s.TLSRequired != nil {
		n.TLSRequired = *s.TLSRequired
	}
	if s.Expires != nil {
		t, err := ParseExpiry(*s.Expires)
		if err != nil {
			return settingErr("expires", err)
		}
		n.Expires = t
	}
	if s.Disabled != nil {
		n.Disabled = *s.Disabled
	}
	*u = n
	return nil
}

// ParseAllow reads allowed client addresses: CIDR prefixes or bare
// addresses; "any" (or nothing) clears the restriction.
func ParseAllow(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" || strings.EqualFold(v, "any") {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not a CIDR prefix or address", strconv.Quote(v))
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ParseExpiry reads an expiry: "2026-12-31" (the start of that day, local
// time), an RFC 3339 time, or "never" / "" for none.
func ParseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "never") {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (2026-12-31) or RFC 3339 time", s)
	}
	return t, nil
}
