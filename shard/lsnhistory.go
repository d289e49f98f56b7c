package shard

import "time"

// lsnSample is one observation of a primary's pg_current_wal_lsn().
type lsnSample struct {
	at  time.Time
	lsn LSN
}

// lsnHistory is the primary poller's record of when the primary reached which
// LSN, in a fixed-size ring, oldest first. It is what lag in time is computed
// from (see lagTime).
//
// Only the first observation of each LSN is stored: an idle primary whose LSN
// does not move adds nothing, so the ring spans minutes of idleness instead of
// filling with copies, and every stored sample means "the primary had reached
// this LSN by this time, and had not by the previous sample". LSNs in the ring
// strictly increase. An LSN lower than the newest (a different server now
// answers as primary, e.g. after a failover or a restore) empties the ring:
// positions of two WAL histories cannot be compared.
type lsnHistory struct {
	buf      []lsnSample
	start, n int
}

func newLSNHistory(size int) *lsnHistory {
	return &lsnHistory{buf: make([]lsnSample, size)}
}

// at returns the i-th stored sample, 0 being the oldest.
func (h *lsnHistory) at(i int) lsnSample { return h.buf[(h.start+i)%len(h.buf)] }

func (h *lsnHistory) add(at time.Time, l LSN) {
	if h.n > 0 {
		newest := h.at(h.n - 1)
		if l == newest.lsn {
			return
		}
		if l < newest.lsn {
			h.start, h.n = 0, 0
		}
	}
	if h.n < len(h.buf) {
		h.buf[(h.start+h.n)%len(h.buf)] = lsnSample{at, l}
		h.n++
		return
	}
	h.buf[h.start] = lsnSample{at, l} // overwrite the oldest
	h.start = (h.start + 1) % len(h.buf)
}

// latest returns the newest LSN observed, and false when there is none.
func (h *lsnHistory) latest() (LSN, bool) {
	if h.n == 0 {
		return 0, false
	}
	return h.at(h.n - 1).lsn, true
}

// lagTime is how far behind the primary a replica that has replayed up to
// replay is, in time, as of now. The replica holds what the primary held at
// the last moment the primary's LSN was still ≤ replay; the lag is the time
// since that moment, estimated from the samples:
//
//   - replay ≥ the newest primary LSN: 0. The replica has everything the
//     primary was last seen at, however long ago the primary wrote it; this
//     is why an idle primary gives no lag (unlike
//     now() − pg_last_xact_replay_timestamp(), which grows while nothing is
//     written).
//   - otherwise, with S the earliest stored sample whose LSN is > replay:
//     now − S.at. The primary moved past replay after the poll before S and
//     no later than S, so the true lag is at least this and at most one
//     primary poll gap (one Interval while its poller succeeds) more. A
//     replay position that stops moving keeps its lag growing with now, even
//     if the primary later idles.
//   - every stored LSN is > replay (the replica is older than the whole
//     history, or was already behind when the primary was first polled): the
//     primary moved past replay before the oldest sample, so the lag is more
//     than now − oldest.at; that value is returned with lowerBound true.
//
// S is the first sample strictly past replay, not the first at or past it:
// a replica stopped exactly at an LSN the primary sat idle on for an hour is
// behind only since the primary's next write, not by an hour.
//
// ok is false when there is no history (the primary has not been polled).
func (h *lsnHistory) lagTime(now time.Time, replay LSN) (lag time.Duration, lowerBound, ok bool) {
	if h.n == 0 {
		return 0, false, false
	}
	if replay >= h.at(h.n-1).lsn {
		return 0, false, true
	}
	// Binary search for the earliest sample with lsn > replay; one exists
	// because the newest is.
	lo, hi := 0, h.n-1
	for lo < hi {
		mid := (lo + hi) / 2
		if h.at(mid).lsn > replay {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	lag = max(now.Sub(h.at(lo).at), 0)
	return lag, lo == 0, true
}

// copyFrom replaces h's samples with o's newest ones that fit.
func (h *lsnHistory) copyFrom(o *lsnHistory) {
	h.start, h.n = 0, 0
	for i := max(0, o.n-len(h.buf)); i < o.n; i++ {
		s := o.at(i)
		h.buf[h.n] = s
		h.n++
	}
}
