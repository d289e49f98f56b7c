package wire

import (
	"regexp"
	"strings"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// pgshard's own session settings, answered by pgshard and never sent to a
// server:
//
//	SET pgshard.target = primary | auto       reads of this session go to the primary, or follow the policy
//	SET pgshard.read_your_writes = on | off   this session's reads see its own commits (default reads.read_your_writes)
//	SET pgshard.min_lsn = '16/B374D848'       reads only from nodes that replayed this position (causality across services)
//	SET [LOCAL] pgshard.shard_key = '42'      statements naming no shard key run on this key's shard (LOCAL: until the transaction ends)
//	RESET pgshard.<name>
var pgshardSetting = regexp.MustCompile(`(?is)^\s*(set|reset)\s+(session\s+|local\s+)?pgshard\.([a-z_]+)\s*(?:(?:=|to)\s*(.*?))?\s*;?\s*$`)

// pgshardSet handles a SET or RESET of a pgshard.* setting; ok is false for
// any other statement.
func (s *session) pgshardSet(q string) (bool, error) {
	if !sqltext.ContainsFold(q, "pgshard.") {
		return false, nil
	}
	m := pgshardSetting.FindStringSubmatch(q)
	if m == nil {
		return false, nil
	}
	verb, local, name := strings.ToUpper(m[1]), strings.TrimSpace(strings.ToLower(m[2])) == "local", strings.ToLower(m[3])
	raw := strings.Trim(strings.TrimSpace(m[4]), `'"`)
	val := strings.ToLower(raw)
	reset := verb == "RESET" || val == "default"
	bad := func(want string) (bool, error) {
		return true, s.refuse(errorf("22023", "pgshard: invalid value for pgshard."+name+": "+m[4]+"; want "+want))
	}
	switch name {
	case "target":
		switch {
		case reset || val == "auto":
			s.target = targetAuto
		case val == "primary":
			s.target = targetPrimary
		default:
			return bad("primary or auto")
		}
	case "read_your_writes":
		switch {
		case reset:
			s.ryw = s.srv.conf().Reads.ReadYourWrites
		case val == "on" || val == "true" || val == "1":
			s.ryw = true
		case val == "off" || val == "false" || val == "0":
			s.ryw = false
		default:
			return bad("on or off")
		}
	case "min_lsn":
		if reset {
			s.minLSN = 0
			break
		}
		lsn, err := shard.ParseLSN(strings.ToUpper(val))
		if err != nil {
			return bad("a WAL position such as '16/B374D848' (from pg_current_wal_lsn())")
		}
		s.minLSN = lsn
	case "shard_key":
		switch {
		case reset:
			s.txKeyHint = ""
			if !local {
				s.keyHint = ""
			}
		case raw == "":
			return bad("a shard key value")
		case local:
			if s.txStatus == 'I' {
				// Like SET LOCAL outside a transaction: no effect (Postgres
				// warns).
				break
			}
			s.txKeyHint = raw
		default:
			s.keyHint = raw
		}
	default:
		return true, s.refuse(errorf("42704", "pgshard: unrecognized configuration parameter \"pgshard."+name+"\""))
	}
	return true, s.complete(verb)
}
