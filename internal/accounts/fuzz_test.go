package accounts

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func FuzzParsePerm(f *testing.F) {
	for _, s := range []string{"full", " Read-Only ", "uploadonly", "none", "list,download", "LIST, mkdir ,rmdir",
		"list,,download", "", ",", "settime,settime", "everything"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePerm(s)
		if err != nil {
			return
		}
		if p&^PresetFull != 0 {
			t.Fatalf("ParsePerm(%q) = %#x: bits outside every permission", s, uint32(p))
		}
		back, err := ParsePerm(p.String())
		if err != nil || back != p {
			t.Fatalf("ParsePerm(%q) = %v, printed %q, read back %v (%v)", s, p, p.String(), back, err)
		}
		var u Perm
		text, _ := p.MarshalText()
		if err := u.UnmarshalText(text); err != nil || u != p {
			t.Fatalf("text round trip of %v: %v %v", p, u, err)
		}
	})
}

// FuzzValidateHash checks the promise imports rely on: a hash ValidateHash
// accepts can be verified (no error, only yes or no), at a bounded cost.
// Verifying is only tried when the hash is cheap, to keep the fuzzer fast.
func FuzzValidateHash(f *testing.F) {
	v := newVerifier(Argon2Params{Memory: 64, Time: 1, Threads: 1})
	f.Add(v.hash("pw"))
	b, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	f.Add(string(b))
	for _, s := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,m=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=9$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde",
		"$2a$04$" + strings.Repeat("!", 60),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateHash(s) != nil {
			return
		}
		switch {
		case strings.HasPrefix(s, "$argon2id$"):
			p, _, _, err := parseArgon2(s)
			if err != nil {
				t.Fatalf("ValidateHash accepted %q that parseArgon2 refuses: %v", s, err)
			}
			if p.Memory > maxArgonMemory || p.Time > maxArgonTime || p.Threads == 0 {
				t.Fatalf("%q: cost %+v beyond the bounds", s, p)
			}
			if uint64(p.Memory)*uint64(p.Time) > 1024 {
				return
			}
		default:
			cost, err := bcrypt.Cost([]byte(s))
			if err != nil || cost > maxBcryptCost {
				t.Fatalf("%q: bcrypt cost %d %v", s, cost, err)
			}
			if cost > 5 {
				return
			}
		}
		if _, err := verifyHash(s, "pw"); err != nil {
			t.Fatalf("ValidateHash accepted %q but verifying it fails: %v", s, err)
		}
	})
}
