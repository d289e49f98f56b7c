package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestMergesUnderOtherOutputStyles: a session may make its servers write
// dates, intervals and bytea in another style (DateStyle German,
// IntervalStyle iso_8601, bytea_output escape). A merge over several
// shards that must compare such values in text gets 0A000 naming the
// setting through the extended protocol, never values misread or
// misordered; as a simple query it is answered on one shard over the
// rows pulled up, and with binary results (pgx's cached statements) as
// usual, both equal to one PostgreSQL's, as are text results under
// settings that keep the format pgshard reads (DateStyle ISO with DMY
// order, another TimeZone).
func TestMergesUnderOtherOutputStyles(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through, ref := loadedPair(ctx, t, p)
	const (
		dates     = "SELECT user_id, created FROM users ORDER BY created DESC, user_id LIMIT 12"
		stamps    = "SELECT user_id, (created::timestamp + interval '17 minutes' * score)::timestamptz AS t FROM users ORDER BY t, user_id LIMIT 12"
		intervals = "SELECT max((created - DATE '2024-01-01') * interval '1 hour'), min(score * interval '1 minute') FROM users"
		bytes     = "SELECT user_id, decode(lpad(to_hex(score), 2, '0'), 'hex') AS b FROM users ORDER BY b, user_id LIMIT 25"
	)
	for _, c := range []struct {
		set     string
		queries []string
		refused string // the setting named in the text-format refusal; "" when text results match
	}{
		{"SET DateStyle = 'German'", []string{dates, stamps}, "DateStyle"},
		{"SET DateStyle = 'SQL, DMY'", []string{dates, stamps}, "DateStyle"},
		{"SET IntervalStyle = 'iso_8601'", []string{intervals}, "IntervalStyle"},
		{"SET bytea_output = 'escape'", []string{bytes}, "bytea_output"},
		{"SET DateStyle = 'ISO, DMY'", []string{dates, stamps}, ""},
		{"SET TimeZone = 'America/St_Johns'", []string{stamps}, ""},
	} {
		mustExec(ctx, t, through, c.set)
		mustExec(ctx, t, ref, c.set)
		for _, q := range c.queries {
			got, want := orderedAnswer(ctx, through, pgx.QueryExecModeCacheStatement, q), orderedAnswer(ctx, ref, pgx.QueryExecModeCacheStatement, q)
			if got != want {
				t.Errorf("%s; %s in binary:\n pgshard:    %s\n PostgreSQL: %s", c.set, q, got, want)
			}
			// A simple query whose merge fails once the rows are back is
			// answered by pulling the rows up to one shard (staged).
			got, want = orderedAnswer(ctx, through, pgx.QueryExecModeSimpleProtocol, q), orderedAnswer(ctx, ref, pgx.QueryExecModeSimpleProtocol, q)
			if got != want {
				t.Errorf("%s; %s as a simple query:\n pgshard:    %s\n PostgreSQL: %s", c.set, q, got, want)
			}
			res, err := run(ctx, through, query{sql: q, args: []string{}}) // extended, text results
			if c.refused == "" {
				wantRes, _ := run(ctx, ref, query{sql: q, args: []string{}})
				if err != nil || wantRes == nil {
					t.Errorf("%s; %s in text: %v", c.set, q, err)
				} else if d := compare(wantRes, res, true); d != "" {
					t.Errorf("%s; %s in text: %s", c.set, q, d)
				}
				continue
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, c.refused) {
				t.Errorf("%s; %s in text: %v, want 0A000 naming %s", c.set, q, err, c.refused)
			}
		}
		mustExec(ctx, t, through, "RESET ALL")
		mustExec(ctx, t, ref, "RESET ALL")
	}
}
