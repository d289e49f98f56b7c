package sharding_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// randomRun runs a random differential test in both pool modes: with
// seed and count, or PGSHARD_<name>_SEED and PGSHARD_<name> from the
// environment, to explore other seeds by hand.
func randomRun(t *testing.T, name string, seed uint64, count int, run func(t *testing.T, pool string, seed uint64, count int)) {
	if v, err := strconv.ParseUint(os.Getenv("PGSHARD_"+name+"_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("PGSHARD_" + name)); err == nil {
		count = v
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			run(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}", seed, count)
		})
	}
}

// tally judges each statement's outcome in a random differential test:
// the same answer, the same error, or 0A000 (counted by message).
type tally struct {
	answered, refused int
	refusals          map[string]int
}

// judge says whether both servers answered, so the caller compares the
// answers; it reports pgshard's errors where one PostgreSQL's differs.
// what names the statement in a failure.
func (tl *tally) judge(t *testing.T, what string, werr, gerr error) bool {
	t.Helper()
	var we, ge *pgconn.PgError
	switch {
	case errors.As(gerr, &ge) && ge.Code == "0A000":
		tl.refused++
		if tl.refusals == nil {
			tl.refusals = map[string]int{}
		}
		tl.refusals[ge.Message]++
	case werr != nil:
		if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code {
			t.Errorf("%s\nreference server: %v\npgshard: %v", what, werr, gerr)
		}
	case gerr != nil:
		t.Errorf("%s\npgshard: %v", what, gerr)
	default:
		tl.answered++
		return true
	}
	return false
}

// report logs the outcome (refusals by message under -v) and fails the
// test when none was answered or more than 1/(ratio+1) were refused: a
// pgshard that refused everything would pass every comparison.
func (tl *tally) report(t *testing.T, seed uint64, ratio int) {
	t.Helper()
	for msg, n := range tl.refusals {
		t.Logf("refused %d times: %s", n, msg)
	}
	t.Logf("seed %d: %d statements answered as by one PostgreSQL, %d refused with 0A000", seed, tl.answered, tl.refused)
	if tl.answered == 0 || tl.answered < ratio*tl.refused {
		t.Errorf("only %d of %d statements answered", tl.answered, tl.answered+tl.refused)
	}
}

// label names statement i of a random test in a failure.
func label(kind string, seed uint64, i int, extended bool, sql string, args []string) string {
	return fmt.Sprintf("seed %d %s %d (extended %v): %s %v", seed, kind, i, extended, sql, args)
}
