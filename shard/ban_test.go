package shard

import (
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for level, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second,
		6: 30 * time.Second, 7: 30 * time.Second, 1000: 30 * time.Second,
	} {
		if got := backoff(time.Second, 30*time.Second, level); got != want {
			t.Errorf("backoff level %d = %v, want %v", level, got, want)
		}
	}
}

func TestBanStateMachine(t *testing.T) {
	const base, maxB = time.Second, 30 * time.Second
	refused := errors.New("connection refused")
	var b banState
	at := func(s float64) time.Time { return sec(s) }

	// First ban: 1s.
	if !b.ban(at(0), base, maxB, refused) || !b.banned || !b.until.Equal(at(1)) || b.level != 1 {
		t.Fatalf("first ban: %+v", b)
	}
	// The other connections of the pool failing at once: no escalation.
	if b.ban(at(0.1), base, maxB, refused) || !b.until.Equal(at(1)) || b.level != 1 {
		t.Fatalf("ban during ban escalated: %+v", b)
	}
	// A poll that started before the backoff ran out does not lift it.
	if b.pollSucceeded(at(0.9), at(1.05)) || !b.banned {
		t.Fatalf("early poll lifted the ban: %+v", b)
	}
	// Time ran out but no poll yet: still banned; another failure escalates to 2s.
	if !b.ban(at(1.2), base, maxB, refused) || !b.until.Equal(at(3.2)) || b.level != 2 {
		t.Fatalf("second ban: %+v", b)
	}
	// Third: 4s.
	if !b.ban(at(3.2), base, maxB, refused) || !b.until.Equal(at(7.2)) || b.level != 3 {
		t.Fatalf("third ban: %+v", b)
	}
	// A poll started after the backoff and succeeding rejoins the node.
	if !b.pollSucceeded(at(7.2), at(7.3)) || b.banned || !b.rejoined.Equal(at(7.3)) {
		t.Fatalf("rejoin: %+v", b)
	}
	// Failing again soon after rejoining: not stable, escalates to 8s.
	if !b.ban(at(10), base, maxB, refused) || !b.until.Equal(at(18)) || b.level != 4 {
		t.Fatalf("ban after a short rejoin: %+v", b)
	}
	// Escalation is capped at max.
	for s := 18.0; b.level < 8; s += 31 {
		b.ban(at(s), base, maxB, refused)
	}
	if d := b.until.Sub(at(18 + 31*3)); d != maxB {
		t.Fatalf("capped ban lasts %v, want %v (%+v)", d, maxB, b)
	}
	end := b.until
	if !b.pollSucceeded(end, end) {
		t.Fatal("no rejoin")
	}
	// Unbanned for max: stable, so the next ban starts at base.
	if !b.ban(end.Add(maxB), base, maxB, refused) || b.level != 1 || b.until.Sub(end.Add(maxB)) != base {
		t.Fatalf("ban after a stable period: %+v", b)
	}
	if b.err != refused {
		t.Errorf("err = %v", b.err)
	}
}
