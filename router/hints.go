package router

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pgshard/pgshard/shard"
)

// hint is a routing override written in a comment:
// /* pgshard: shard=1 */ or /* pgshard: shard_key=42 */.
type hint struct {
	shardIndex int // -1 when not given
	key        string
	hasKey     bool
	target     string // "primary", "replica" or "" (automatic)
	// session: the key comes from SET pgshard.shard_key, and applies only
	// to statements that name no key of their own.
	session bool
}

// sessionKeyHint marks the shard key a session set with SET
// pgshard.shard_key, passed with the statement's own hints (NUL cannot
// appear in a comment).
const sessionKeyHint = "\x00shard_key="

func parseHints(hints []string) (*hint, error) {
	if len(hints) == 0 {
		return nil, nil
	}
	h := &hint{shardIndex: -1}
	for _, text := range hints {
		if key, ok := strings.CutPrefix(text, sessionKeyHint); ok {
			// SET pgshard.shard_key: the value as given, spaces and all.
			if !h.hasKey {
				h.key, h.hasKey, h.session = key, true, true
			}
			continue
		}
		for _, f := range strings.Fields(text) {
			name, val, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("hint %q is not name=value", f)
			}
			val = strings.Trim(val, `'"`)
			switch strings.ToLower(name) {
			case "shard":
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("hint shard=%s: want a shard index (0, 1, ...)", val)
				}
				h.shardIndex = n
			case "shard_key":
				h.key, h.hasKey = val, true
			case "target":
				switch v := strings.ToLower(val); v {
				case "primary", "replica":
					h.target = v
				case "auto":
				default:
					return nil, fmt.Errorf("hint target=%s: want primary, replica or auto", val)
				}
			default:
				return nil, fmt.Errorf("unknown hint %q", name)
			}
		}
	}
	if h.shardIndex < 0 && !h.hasKey && h.target == "" {
		return nil, nil
	}
	return h, nil
}

// shard returns the shard a hint names. A key hint hashes with the key type
// of the statement's sharded table, or as an integer when it has none.
func (h *hint) shard(m *shard.Map, p *Plan) (shard.ShardID, error) {
	if h.shardIndex >= 0 {
		for _, id := range m.Shards() {
			if int(id) == h.shardIndex {
				return id, nil
			}
		}
		return 0, fmt.Errorf("hint shard=%d: there is no such shard (the database has %d)", h.shardIndex, len(m.Shards()))
	}
	kt := shard.KeyInt
	switch {
	case len(p.Class) > 0:
		kt = p.Class[0].Table.KeyType
	case p.Insert != nil:
		kt = p.Insert.Table.KeyType
	case p.Arrays != nil:
		kt = p.Arrays.Table.KeyType
	}
	pt, err := shard.PointFromText(kt, h.key)
	if err != nil {
		return 0, fmt.Errorf("hint shard_key=%s: %v", h.key, err)
	}
	return m.Lookup(pt), nil
}
