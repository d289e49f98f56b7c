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
//	RESET pgshard.<name>
var pgshardSetting = regexp.MustCompile(`(?is)^\s*(set|reset)\s+(?:session\s+)?pgshard\.([a-z_]+)\s*(?:(?:=|to)\s*(.*?))?\s*;?\s*$`)

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
	verb, name := strings.ToUpper(m[1]), strings.ToLower(m[2])
	val := strings.ToLower(strings.Trim(strings.TrimSpace(m[3]), `'"`))
	reset := verb == "RESET" || val == "default"
	bad := func(want string) (bool, error) {
		return true, s.refuse(errorf("22023", "pgshard: invalid value for pgshard."+name+": "+m[3]+"; want "+want))
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
			s.ryw = s.srv.cfg.Reads.ReadYourWrites
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
	default:
		return true, s.refuse(errorf("42704", "pgshard: unrecognized configuration parameter \"pgshard."+name+"\""))
	}
	return true, s.complete(verb)
}
