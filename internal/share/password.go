package share

import "crypto/rand"

// passwordAlphabet leaves out the look-alikes 0/o and 1/l/i: the password is
// read off a terminal and typed on a phone.
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// passwordGroups and passwordGroupLen give 16 symbols of log2(31) bits,
// about 79 bits: out of reach of online guessing, in four groups easy to
// read aloud.
const (
	passwordGroups   = 4
	passwordGroupLen = 4
)

// GeneratePassword returns a fresh random password like "k7fq-m2xp-9rwa-tc3e".
func GeneratePassword() string {
	n := len(passwordAlphabet)
	// Bytes at or above limit are drawn again, so every symbol is equally
	// likely (no modulo bias).
	limit := byte(256 / n * n)
	out := make([]byte, 0, passwordGroups*(passwordGroupLen+1))
	var buf [32]byte
	count := 0
	for count < passwordGroups*passwordGroupLen {
		rand.Read(buf[:])
		for _, b := range buf {
			if b >= limit || count == passwordGroups*passwordGroupLen {
				continue
			}
			if count > 0 && count%passwordGroupLen == 0 {
				out = append(out, '-')
			}
			out = append(out, passwordAlphabet[int(b)%n])
			count++
		}
	}
	return string(out)
}
