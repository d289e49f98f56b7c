package shard

import "time"

// banState is one node's ban with exponential backoff. The wire layer bans a
// node when opening or using a connection to it fails at the connection
// level (refused, reset, FATAL at startup); a banned node takes no reads.
//
// The rules, in the order a node meets them:
//
//   - The first ban lasts base; each further ban doubles it, up to max. The
//     level is the number of bans since the node was last stable.
//   - A ban while the node is already banned and its time has not run out
//     changes nothing: the connections of a pool that break together (a
//     restart ends all of them) are one failure, not twenty.
//   - When the time has run out, the node stays banned until a poll that
//     started at or after that moment succeeds: it rejoins because it was
//     seen healthy, not because time passed. A ban arriving in between (the
//     node still refuses) escalates.
//   - A node that stayed unbanned for max after rejoining is stable: its next
//     ban starts at base again.
type banState struct {
	level    int       // bans since the node was last stable
	banned   bool      // banned and not yet rejoined
	until    time.Time // end of the current backoff; meaningful while banned
	rejoined time.Time // when the node last rejoined; zero if never banned
	err      error     // what caused the current or last ban
}

// ban applies a ban at now and reports whether it took effect.
func (b *banState) ban(now time.Time, base, maxBackoff time.Duration, err error) bool {
	if b.banned && now.Before(b.until) {
		return false
	}
	if !b.banned && !b.rejoined.IsZero() && now.Sub(b.rejoined) >= maxBackoff {
		b.level = 0
	}
	b.level++
	b.banned = true
	b.until = now.Add(backoff(base, maxBackoff, b.level))
	b.err = err
	return true
}

// pollSucceeded lifts the ban if the successful poll started once the
// backoff had run out, and reports whether it did.
func (b *banState) pollSucceeded(started, now time.Time) bool {
	if !b.banned || started.Before(b.until) {
		return false
	}
	b.banned = false
	b.rejoined = now
	return true
}

// backoff is base·2^(level−1), capped at maxBackoff, without overflowing
// for any level.
func backoff(base, maxBackoff time.Duration, level int) time.Duration {
	d := base
	for i := 1; i < level && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
