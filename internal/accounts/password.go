package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the argon2id cost settings for new hashes. Existing hashes
// keep the parameters written in them, so changing these never locks anyone
// out.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 returns OWASP's first argon2id recommendation (19 MiB, 2
// passes, 1 lane). Measured with BenchmarkVerifyDefault -cpu 1 on the
// project's shared 2-core box: 41-82 ms per verification while the load
// average was 5-9 (each process getting about a third of a core), so well
// under 100 ms on a dedicated core, while a GPU still pays 19 MiB per guess.
func DefaultArgon2() Argon2Params { return Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	argonSaltLen = 16
	argonKeyLen  = 32

	// Hashes found in a store are bounded so a corrupted or hostile import
	// cannot make one verification allocate gigabytes or spin for minutes.
	maxArgonMemory = 1 << 20 // KiB (1 GiB)
	maxArgonTime   = 16
	maxBcryptCost  = 14

	// loginCacheTTL bounds how long a successful verification is reused:
	// long enough that a client opening a session per file (many do) pays
	// the hash once, short enough that a stolen cache entry is worth little.
	loginCacheTTL = 5 * time.Minute
	// loginCacheMax bounds the cache's memory (about 200 bytes an entry).
	loginCacheMax = 10000
)

// errBadHash reports a stored hash this package cannot read.
var errBadHash = errors.New("unrecognized password hash")

// verifier hashes and checks passwords. It bounds concurrent hash
// computations with a semaphore, so a login storm queues instead of
// allocating Memory KiB per attempt without limit, and it caches successful
// verifications.
type verifier struct {
	params Argon2Params
	sem    chan struct{}
	dummy  string // a hash of a random password, checked for unknown users

	cacheKey []byte // random per process: cache keys are useless elsewhere
	mu       sync.Mutex
	cache    map[string]cacheEntry // guarded by mu
	// flights are the full verifications running, by cache key: a login
	// storm of one user with one password (50 clients connecting at once)
	// waits for the first verification instead of each paying the hash.
	flights map[string]*flight // guarded by mu

	// fullChecks counts verifications that paid the full hash cost, so
	// tests can see the cache work without timing anything; running and
	// peak count hash computations in progress, to test the bound.
	fullChecks    atomic.Int64
	running, peak atomic.Int64
	cacheHits     atomic.Int64 // successes served by the cache
}

// flight is one full verification others may wait for.
type flight struct {
	done   chan struct{} // closed when good and err are set
	stored string        // the hash checked against
	good   bool
	err    error
}

type cacheEntry struct {
	hash    string // the stored hash the password was checked against
	expires time.Time
}

func newVerifier(p Argon2Params) *verifier {
	if p.Memory == 0 {
		p = DefaultArgon2()
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	if p.Time == 0 {
		p.Time = 1
	}
	v := &verifier{
		params:   p,
		sem:      make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		cacheKey: make([]byte, 32),
		cache:    make(map[string]cacheEntry),
		flights:  make(map[string]*flight),
	}
	rand.Read(v.cacheKey)
	dummy := make([]byte, 24)
	rand.Read(dummy)
	v.dummy = v.hash(string(dummy))
	return v
}

// hash returns the PHC string of a new argon2id hash of password.
func (v *verifier) hash(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	p := v.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Hash is hash behind the semaphore.
func (v *verifier) Hash(ctx context.Context, password string) (string, error) {
	if err := v.acquire(ctx); err != nil {
		return "", err
	}
	defer v.release()
	return v.hash(password), nil
}

func (v *verifier) acquire(ctx context.Context) error {
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	n := v.running.Add(1)
	for p := v.peak.Load(); n > p && !v.peak.CompareAndSwap(p, n); p = v.peak.Load() {
	}
	return nil
}

func (v *verifier) release() {
	v.running.Add(-1)
	<-v.sem
}

// Check reports whether password matches the stored hash of user name. An
// empty stored hash (unknown user) is checked against the dummy hash, so it
// costs what a wrong password costs. Only successes are cached.
func (v *verifier) Check(ctx context.Context, name, stored, password string) (bool, error) {
	if stored != "" {
		key := v.cacheKeyFor(name, password)
		now := time.Now()
		v.mu.Lock()
		e, ok := v.cache[key]
		v.mu.Unlock()
		// A changed hash (new password) no longer matches the entry, so a
		// password change invalidates without any explicit call.
		if ok && now.Before(e.expires) && subtle.ConstantTimeCompare([]byte(e.hash), []byte(stored)) == 1 {
			v.cacheHits.Add(1)
			return true, nil
		}
		return v.shared(ctx, key, name, stored, password, now)
	}
	_, err := v.full(ctx, v.dummy, password)
	return false, err
}

// shared runs the full verification of key against stored, or waits for
// the one already running for the same key and hash. Only the same name,
// password and stored hash share a result, so no caller learns anything
// it would not have learned by paying the hash itself.
func (v *verifier) shared(ctx context.Context, key, name, stored, password string, now time.Time) (bool, error) {
	for {
		v.mu.Lock()
		f := v.flights[key]
		if f == nil || f.stored != stored {
			break // v.mu still held
		}
		v.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if f.err != nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
			continue // the first caller gave up waiting for a hash slot: try again ourselves
		}
		return f.good, f.err
	}
	f := &flight{done: make(chan struct{}), stored: stored}
	v.flights[key] = f
	v.mu.Unlock()
	f.good, f.err = v.full(ctx, stored, password)
	if f.err == nil && f.good {
		v.remember(key, stored, now)
	}
	v.mu.Lock()
	if v.flights[key] == f {
		delete(v.flights, key)
	}
	v.mu.Unlock()
	close(f.done)
	return f.good, f.err
}

func (v *verifier) full(ctx context.Context, stored, password string) (bool, error) {
	if err := v.acquire(ctx); err != nil {
		return false, err
	}
	defer v.release()
	v.fullChecks.Add(1)
	return verifyHash(stored, password)
}

func (v *verifier) cacheKeyFor(name, password string) string {
	m := hmac.New(sha256.New, v.cacheKey)
	m.Write([]byte(password))
	return name + "\x00" + string(m.Sum(nil))
}

func (v *verifier) remember(key, stored string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= loginCacheMax {
		// Drop expired entries first; if the cache is still full, evict
		// arbitrary ones (map order is random enough against an attacker
		// who cannot see the keys).
		for k, e := range v.cache {
			if !now.Before(e.expires) {
				delete(v.cache, k)
			}
		}
		for k := range v.cache {
			if len(v.cache) < loginCacheMax {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[key] = cacheEntry{hash: stored, expires: now.Add(loginCacheTTL)}
}

// forget drops every cached success of user name (after a password change
// or deletion; the hash comparison in Check would also catch the former).
func (v *verifier) forget(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k := range v.cache {
		if strings.HasPrefix(k, name+"\x00") {
			delete(v.cache, k)
		}
	}
}

// verifyHash checks password against a PHC argon2id string or a bcrypt hash.
func verifyHash(stored, password string) (bool, error) {
	switch {
	case strings.HasPrefix(stored, "$argon2id$"):
		p, salt, key, err := parseArgon2(stored)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		// bcrypt compares in constant time itself.
		err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%w: %v", errBadHash, err)
		}
		return true, nil
	}
	return false, errBadHash
}

// ValidateHash checks that stored is a hash this package can verify, with
// bounded cost: imports call it before accepting a record.
func ValidateHash(stored string) error {
	switch {
	case strings.HasPrefix(stored, "$argon2id$"):
		_, _, _, err := parseArgon2(stored)
		return err
	case strings.HasPrefix(stored, "$2a$"), strings.HasPrefix(stored, "$2b$"), strings.HasPrefix(stored, "$2y$"):
		cost, err := bcrypt.Cost([]byte(stored))
		if err != nil {
			return fmt.Errorf("%w: %v", errBadHash, err)
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d above %d", errBadHash, cost, maxBcryptCost)
		}
		return validBcryptBody(stored)
	}
	return fmt.Errorf("%w: want $argon2id$ or bcrypt $2a$/$2b$/$2y$", errBadHash)
}

// validBcryptBody checks what bcrypt.Cost does not read: the 22-character
// salt and 31-character checksum after "$2x$NN$". A salt outside bcrypt's
// alphabet makes every verification fail ("illegal base64 data") and a
// checksum of another length or with stray low bits can never equal a
// computed one, so such a hash would lock its user out. Parsing is cheap;
// running bcrypt here would cost up to 2^maxBcryptCost rounds per record.
func validBcryptBody(stored string) error {
	const saltLen, sumLen = 22, 31
	// bcrypt's own base64 alphabet (not RFC 4648's order), unpadded.
	bcryptB64 := base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)
	body := stored[len("$2a$NN$"):]
	if len(stored) != len("$2a$NN$")+saltLen+sumLen || stored[6] != '$' {
		return fmt.Errorf("%w: bcrypt hash must be 60 characters, $2x$NN$ then 53", errBadHash)
	}
	// The salt decodes leniently, as bcrypt itself reads it.
	if _, err := bcryptB64.DecodeString(body[:saltLen]); err != nil {
		return fmt.Errorf("%w: bcrypt salt: %v", errBadHash, err)
	}
	// The checksum is compared as text with what bcrypt encodes, which is
	// always canonical: Strict refuses the ones that could never match.
	if _, err := bcryptB64.Strict().DecodeString(body[saltLen:]); err != nil {
		return fmt.Errorf("%w: bcrypt checksum: %v", errBadHash, err)
	}
	return nil
}

func parseArgon2(s string) (p Argon2Params, salt, key []byte, err error) {
	// $argon2id$v=19$m=19456,t=2,p=1$salt$key
	f := strings.Split(s, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	for _, kv := range strings.Split(f[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(val, 10, 32)
		if !ok || perr != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, errBadHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, errBadHash
		}
	}
	if p.Memory == 0 || p.Memory > maxArgonMemory || p.Time == 0 || p.Time > maxArgonTime ||
		p.Threads == 0 || p.Memory < 8*uint32(p.Threads) {
		return p, nil, nil, fmt.Errorf("%w: argon2id parameters out of range", errBadHash)
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(f[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(f[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
