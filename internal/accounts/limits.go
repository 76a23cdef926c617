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
//
// In a cluster the process's limiters get a share of the user's rates
// (setShare; see DB.shareRates), so the user's sessions on all nodes split
// them.
type limits struct {
	mu       sync.Mutex
	up, down *rate.Limiter // guarded by mu; nil until first limited
	// share is the part of the user's rates this process may use, in
	// (0, 1]; 0 means 1 (a process of its own).
	share            float64 // guarded by mu
	rateUp, rateDown int64   // guarded by mu; the user's rates as last seen
}

// get returns the limiters for u's current rates (nil: unlimited), changing
// the existing ones in place when an admin changed a rate, so transfers
// already running slow down or speed up at their next chunk.
func (l *limits) get(u User) (up, down *rate.Limiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rateUp, l.rateDown = u.RateUp, u.RateDown
	return follow(&l.up, l.part(u.RateUp)), follow(&l.down, l.part(u.RateDown))
}

// part is this process's part of bps; mu must be held.
func (l *limits) part(bps int64) int64 {
	if bps <= 0 || l.share <= 0 || l.share >= 1 {
		return bps
	}
	return max(1, int64(float64(bps)*l.share))
}

// setShare sets the part of the user's rates this process may use and
// applies it to the limiters at once (running transfers follow at their
// next chunk).
func (l *limits) setShare(f float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f == l.share {
		return
	}
	l.share = f
	if l.up != nil {
		follow(&l.up, l.part(l.rateUp))
	}
	if l.down != nil {
		follow(&l.down, l.part(l.rateDown))
	}
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
