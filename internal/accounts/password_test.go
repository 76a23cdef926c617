package accounts

import (
	"context"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestDefaultHashIsPHCArgon2idAndVerifies(t *testing.T) {
	v := newVerifier(DefaultArgon2())
	h, err := v.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not the expected PHC string", h)
	}
	if err := ValidateHash(h); err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if got, err := verifyHash(h, pw); got != want || err != nil {
			t.Errorf("verify %q = %v, %v; want %v", pw, got, err, want)
		}
	}
}

func TestBcryptHashesVerify(t *testing.T) {
	b, _ := bcrypt.GenerateFromPassword([]byte("imported"), bcrypt.MinCost)
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := prefix + string(b[4:])
		if err := ValidateHash(h); err != nil {
			t.Fatalf("ValidateHash(%s...): %v", prefix, err)
		}
		ok, err := verifyHash(h, "imported")
		if !ok || err != nil {
			t.Errorf("%s hash: verify = %v, %v", prefix, ok, err)
		}
		if ok, _ := verifyHash(h, "other"); ok {
			t.Errorf("%s hash accepted a wrong password", prefix)
		}
	}
}

func TestHostileHashesAreRefused(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$1$abc$def", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde",
	} {
		if err := ValidateHash(h); err == nil {
			t.Errorf("ValidateHash(%q) accepted it", h)
		}
	}
}

// BenchmarkVerifyDefault measures one argon2id verification at the default
// parameters on one core (GOMAXPROCS does not matter: one lane).
func BenchmarkVerifyDefault(b *testing.B) {
	v := newVerifier(DefaultArgon2())
	h := v.hash("pw")
	for b.Loop() {
		if ok, err := verifyHash(h, "pw"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestLoginStormIsBoundedBySemaphore(t *testing.T) {
	// Slow enough (a few ms a hash) that 8x the bound would overlap
	// without the semaphore.
	v := newVerifier(Argon2Params{Memory: 4096, Time: 1, Threads: 1})
	h := v.hash("pw")
	limit := cap(v.sem)
	var wg sync.WaitGroup
	for range 8 * limit {
		wg.Go(func() { v.Check(context.Background(), "u", h, "wrong") })
	}
	wg.Wait()
	if p := v.peak.Load(); p > int64(limit) || p < 1 {
		t.Fatalf("peak concurrent hashes %d, bound %d", p, limit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range limit {
		v.sem <- struct{}{} // every slot taken: a login must wait, and give up with its context
	}
	if _, err := v.Check(ctx, "u", h, "pw"); err == nil {
		t.Fatal("Check with a cancelled context and no free slot succeeded")
	}
}

func TestConcurrentLoginsOfOnePasswordPayOneHash(t *testing.T) {
	v := newVerifier(Argon2Params{Memory: 4096, Time: 1, Threads: 1})
	h := v.hash("pw")
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 50 {
		wg.Go(func() {
			if ok, err := v.Check(context.Background(), "u", h, "pw"); !ok || err != nil {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 50 concurrent correct logins refused", bad.Load())
	}
	if n := v.fullChecks.Load(); n != 1 {
		t.Fatalf("50 concurrent logins of one password paid %d hashes, want 1", n)
	}
	// A different password is never answered from another's verification.
	if ok, _ := v.Check(context.Background(), "u", h, "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
}
