package accounts

import (
	"sync"

	"golang.org/x/time/rate"
)

// minLimiterBurst is the least burst a user's rate limiter gets: the engine
// copies in chunks of at most the burst (so sendfile and splice survive a
// limit), and a chunk this small keeps the syscall count sane at low rates,
// while an eighth of the rate keeps pacing smooth (and a data-timeout
// watchdog fed) at high ones.
const minLimiterBurst = 16 << 10

// limiterBurst is the burst of a limiter of bps bytes a second.
func limiterBurst(bps int64) int { return int(max(bps/8, minLimiterBurst)) }

// limits holds a user's bandwidth limiters, shared by all the user's
// sessions in the process: RateUp and RateDown are the user's, so N
// concurrent transfers split the rate instead of getting N times it.
type limits struct {
	mu       sync.Mutex
	up, down *rate.Limiter // guarded by mu; nil until first limited
}

// get returns the limiters for u's current rates (nil: unlimited), changing
// the existing ones in place when an admin changed a rate, so transfers
// already running slow down or speed up at their next chunk.
func (l *limits) get(u User) (up, down *rate.Limiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return follow(&l.up, u.RateUp), follow(&l.down, u.RateDown)
}

func follow(lim **rate.Limiter, bps int64) *rate.Limiter {
	if bps <= 0 {
		if *lim != nil {
			// Transfers already running hold it: let them go free too.
			// It is kept for a later limit to reuse.
			(*lim).SetLimit(rate.Inf)
		}
		return nil
	}
	if *lim == nil {
		*lim = rate.NewLimiter(rate.Limit(bps), limiterBurst(bps))
		return *lim
	}
	if l := *lim; l.Limit() != rate.Limit(bps) {
		// Burst first: a transfer reads it to size its next chunk, and a
		// chunk bigger than the burst could never be paid for.
		if b := limiterBurst(bps); b < l.Burst() {
			l.SetBurst(b)
			l.SetLimit(rate.Limit(bps))
		} else {
			l.SetLimit(rate.Limit(bps))
			l.SetBurst(b)
		}
	}
	return *lim
}
