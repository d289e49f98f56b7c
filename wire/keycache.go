package wire

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// Keys taken ahead from a sequence whose CACHE is above 1. Every INSERT
// that leaves its shard key to the default costs a round trip to the
// default shard for the key (genkeys.go). A sequence declared with CACHE n
// (ALTER SEQUENCE users_user_id_seq CACHE 100) says the application accepts
// what PostgreSQL itself then does per session: values handed out ahead,
// out of order across sessions, lost when the holder goes away. pgshard
// does the same per database: the keys query takes n values at once, and
// the next INSERTs into that table use them without a round trip, as
// Vitess's sequence tables cache blocks of ids. With the default CACHE 1
// nothing is kept and every key is taken when needed, as one PostgreSQL
// would give it.
//
// A block belongs to the table as the statement names it and to the
// session's settings (its search_path decides which table that is). DDL,
// TRUNCATE and setval() through pgshard drop every block, since they may
// restart the sequence; done on the shards directly, they are not seen,
// as PostgreSQL's own sessions keep their cached values after ALTER
// SEQUENCE RESTART.

// keyCacheMax bounds the values taken ahead for one table and settings.
const keyCacheMax = 1000

// keyCache holds a database's keys taken ahead.
type keyCache struct {
	mu     sync.Mutex
	blocks map[keyBlockID]*router.GeneratedKeys
	held   atomic.Bool // any block: the statements that drop them are looked for
}

type keyBlockID struct {
	table        *router.Table
	schema, name string // as written
	settings     string // the session's settings' fingerprint
}

// take returns n keys from the block, or nil when it holds fewer.
func (c *keyCache) take(id keyBlockID, n int) *router.GeneratedKeys {
	if !c.held.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.blocks[id]
	if b == nil || len(b.Values) < n {
		return nil
	}
	out := &router.GeneratedKeys{Values: b.Values[:n:n], Always: b.Always, Type: b.Type}
	b.Values = b.Values[n:]
	if len(b.Values) == 0 {
		delete(c.blocks, id)
	}
	return out
}

// keep stores the keys taken beyond those an INSERT needed, after any the
// block still holds (in sequence order either way).
func (c *keyCache) keep(id keyBlockID, extra *router.GeneratedKeys) {
	if len(extra.Values) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocks == nil {
		c.blocks = map[keyBlockID]*router.GeneratedKeys{}
	}
	b := c.blocks[id]
	if b == nil {
		b = &router.GeneratedKeys{Always: extra.Always, Type: extra.Type}
		c.blocks[id] = b
	}
	b.Values = append(b.Values, extra.Values...)
	c.held.Store(true)
}

// drop forgets every block.
func (c *keyCache) drop() {
	if !c.held.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.blocks)
	c.held.Store(false)
}

// dropsKeys says whether a statement planned as p may restart a sequence:
// DDL (ALTER SEQUENCE, DROP and CREATE TABLE), TRUNCATE (RESTART
// IDENTITY), a call of setval.
func dropsKeys(p *router.Plan, text string) bool {
	if p != nil && p.DDL {
		return true
	}
	if w := sqltext.FirstWords(text); w.Is(0, "truncate") {
		return true
	}
	return strings.Contains(strings.ToLower(text), "setval")
}

// keyBlock is where the session's keys for req are kept.
func (s *session) keyBlock(req *router.KeyRequest) keyBlockID {
	return keyBlockID{table: req.Table.Table, schema: req.Table.Schema, name: req.Table.Name, settings: s.settings.fp}
}

// cachedKeys returns req's keys from the database's cache, or nil. Not
// while the transaction has changed settings of its own (SET LOCAL
// search_path), which the block's settings do not show, nor after it ran
// DDL: the table and its sequence it sees may be new, not yet the ones
// other sessions see.
func (s *session) cachedKeys(req *router.KeyRequest) *router.GeneratedKeys {
	if !s.mayCacheKeys() {
		return nil
	}
	gen := s.db.keys.take(s.keyBlock(req), req.Rows)
	if gen != nil {
		s.db.dbm.GeneratedKeys(req.Rows, true)
	}
	return gen
}

// keepKeys splits gen, as the keys query gave it, into req's keys and the
// ones taken ahead, which it keeps.
func (s *session) keepKeys(req *router.KeyRequest, gen *router.GeneratedKeys) *router.GeneratedKeys {
	s.db.dbm.GeneratedKeys(req.Rows, false)
	if len(gen.Values) <= req.Rows {
		return gen
	}
	if s.mayCacheKeys() {
		s.db.keys.keep(s.keyBlock(req), &router.GeneratedKeys{Values: gen.Values[req.Rows:], Always: gen.Always, Type: gen.Type})
	}
	return &router.GeneratedKeys{Values: gen.Values[:req.Rows:req.Rows], Always: gen.Always, Type: gen.Type}
}

// mayCacheKeys: the session sees the tables and settings the cache's
// blocks were kept for (see cachedKeys).
func (s *session) mayCacheKeys() bool { return len(s.settings.staged) == 0 && !s.ranDDL }
