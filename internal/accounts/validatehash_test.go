package accounts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Regression: ValidateHash("$2a$04$" + 60×"!") returned nil because
// bcrypt.Cost reads only the prefix; the user was imported and every login
// then failed with "illegal base64 data". Import must refuse such hashes and
// still take every hash bcrypt itself writes.
func TestValidateHashRefusesBcryptWithBadSaltOrChecksum(t *testing.T) {
	good, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	last := strings.IndexByte(bcryptB64Alphabet, g[len(g)-1])
	bad := map[string]string{
		"fuzzer's find":         "$2a$04$" + strings.Repeat("!", 60),
		"salt outside alphabet": g[:7] + "!" + g[8:],
		"checksum too long":     g + "a",
		"checksum too short":    g[:len(g)-1],
		"stray low bits":        g[:len(g)-1] + string(bcryptB64Alphabet[last|1]),
		"no $ after cost":       g[:6] + "x" + g[7:],
	}
	for name, h := range bad {
		if err := ValidateHash(h); err == nil {
			t.Errorf("%s: ValidateHash(%q) = nil", name, h)
		}
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		if err := ValidateHash(prefix + g[4:]); err != nil {
			t.Errorf("ValidateHash(%s...) of a real hash: %v", prefix, err)
		}
	}

	ctx := context.Background()
	db := openTestDB(t, t.TempDir(), Options{})
	file := fmt.Sprintf(`{"format":"wharf-users","version":1,"users":[{"name":"x","password_hash":%q}]}`, bad["fuzzer's find"])
	if _, err := db.Import(ctx, strings.NewReader(file), ImportOptions{}); err == nil {
		t.Fatal("Import accepted a bcrypt hash no password can match")
	}
}

const bcryptB64Alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
