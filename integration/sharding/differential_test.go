package sharding_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// query is one corpus entry. Ordered queries are compared row by row; the
// others as multisets (SQL promises no order without ORDER BY).
type query struct {
	sql     string
	args    []string // text parameters: run with the extended protocol
	ordered bool
}

// corpus returns hand-written shapes followed by generated ones.
func corpus() []query {
	q := func(sql string, ordered bool, args ...string) query {
		return query{sql: sql, ordered: ordered, args: args}
	}
	c := []query{
		q(`SELECT * FROM users WHERE user_id = 42`, false),
		q(`SELECT * FROM users WHERE user_id = '42'`, false),
		q(`SELECT * FROM users WHERE user_id = 42::bigint`, false),
		q(`SELECT * FROM users WHERE user_id = -1`, false),
		q(`SELECT * FROM users WHERE user_id = -(-42)::bigint`, false), // a minus over a cast is an operator
		q(`SELECT name FROM users WHERE user_id IN (- -7::int, +8::bigint, -9::int2)`, false),
		q(`SELECT name FROM users WHERE user_id IN (1, 2, 3, 400, 599, 9999)`, false),
		q(`SELECT name FROM users WHERE user_id = ANY(ARRAY[5, 6, 7])`, false),
		q(`SELECT name FROM users WHERE user_id = 8 OR user_id = 9`, false),
		// Keys compared in another type: numeric, float8, text.
		q("SELECT * FROM users WHERE user_id = '4'\n'2'", false), // one string, '42'
		q(`SELECT * FROM users WHERE user_id = 42.0`, false),
		q(`SELECT * FROM users WHERE user_id = 42.5`, false),
		q(`SELECT * FROM users WHERE user_id = 99999999999999999999`, false),
		q(`SELECT * FROM users WHERE user_id = 42.5::bigint`, false),
		q(`SELECT name FROM users WHERE user_id IN (3.0, 4.5, 5e0, 6)`, false),
		q(`SELECT name FROM users WHERE user_id = ANY(ARRAY[7.0, 8.5])`, false),
		q(`SELECT * FROM users WHERE user_id::text = '42'`, false),
		q(`SELECT * FROM users WHERE user_id::float8 = 42`, false),
		q(`SELECT count(*) FROM users WHERE user_id::int::bool = true`, true),
		q(`SELECT count(*) FROM users u JOIN orders o ON u.user_id::text = o.user_id::text`, true),
		q(`SELECT * FROM users WHERE user_id = $1::float8`, false, "42"),
		q(`SELECT * FROM users WHERE user_id = $1::numeric`, false, "42.000"),
		q(`SELECT * FROM users WHERE user_id = $1::numeric`, false, "42.5"),
		q(`SELECT name FROM users WHERE user_id = ANY($1::float8[])`, false, "{7,8.5,9}"),
		q(`SELECT name FROM users WHERE user_id = ANY($1::numeric[])`, false, "{10.0,11}"),
		q(`SELECT * FROM users`, false),
		q(`SELECT count(*) FROM users`, true),
		q(`SELECT count(*), count(country), count(balance) FROM users`, true),
		q(`SELECT sum(balance), sum(score), min(balance), max(balance), min(name), max(name), min(created), max(created) FROM users`, true),
		q(`SELECT avg(score), avg(balance) FROM users`, true),
		q(`SELECT avg(score) FROM users WHERE user_id < 0`, true),
		q(`SELECT count(*), sum(score) FROM users WHERE user_id < 0`, true),
		q(`SELECT bool_and(score > 5), bool_or(score > 98) FROM users`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country ORDER BY country NULLS FIRST`, true),
		q(`SELECT country, count(*), sum(balance), avg(balance), min(score), max(score) FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country HAVING count(*) > 80 ORDER BY 1`, true),
		q(`SELECT country, avg(score) FROM users GROUP BY country HAVING avg(score) > 49 AND count(*) > 10 ORDER BY 1`, true),
		q(`SELECT country FROM users GROUP BY country ORDER BY 1 DESC NULLS LAST`, true),
		q(`SELECT score % 10 AS bucket, count(*) FROM users GROUP BY score % 10 ORDER BY bucket`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country ORDER BY count(*) DESC, country LIMIT 3`, true),
		q(`SELECT country, sum(balance) FROM users WHERE score > 50 GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1 LIMIT 4 OFFSET 1`, true),
		q(`SELECT count(DISTINCT country) FROM users`, true),
		q(`SELECT user_id FROM users WHERE score > 50 INTERSECT SELECT user_id FROM orders WHERE amount > 300 ORDER BY 1 LIMIT 20`, true),
		q(`SELECT user_id, country FROM users EXCEPT SELECT user_id, status FROM orders`, false),
		q(`SELECT user_id FROM orders EXCEPT ALL SELECT user_id FROM users WHERE score < 50`, false),
		q(`SELECT o.user_id FROM orders o INTERSECT ALL SELECT user_id FROM orders WHERE status = 'paid'`, false),
		q(`SELECT DISTINCT ON (o.status) o.status, o.user_id, count(*) FROM orders o GROUP BY o.status, o.user_id ORDER BY o.status, count(*) DESC, o.user_id`, true),
		q(`SELECT user_id, array_agg(order_id ORDER BY order_id), string_agg(status, ',' ORDER BY order_id DESC) FROM orders GROUP BY user_id ORDER BY user_id LIMIT 25`, true),
		q(`SELECT user_id, count(*), sum(amount) FROM orders GROUP BY user_id HAVING count(*) > 3 ORDER BY sum(amount) DESC NULLS LAST, user_id LIMIT 10 OFFSET 2`, true),
		q(`SELECT o.user_id, u.name, percentile_disc(0.5) WITHIN GROUP (ORDER BY o.amount), max(o.amount) - min(o.amount) FROM orders o JOIN users u USING (user_id) WHERE u.score > 50 GROUP BY o.user_id, u.name`, false),
		q(`SELECT DISTINCT count(*) FROM orders GROUP BY user_id`, false),
		q(`SELECT user_id, jsonb_agg(order_id ORDER BY order_id) FROM orders WHERE user_id IN (1, 2, 3, 50, 60, 70) GROUP BY user_id ORDER BY 1`, true),
		q(`SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) AS n FROM users u ORDER BY u.user_id LIMIT 50`, true),
		q(`SELECT u.user_id, (SELECT max(o.amount) FROM orders o WHERE o.user_id = u.user_id AND o.status = 'paid') FROM users u WHERE u.score > 90`, false),
		q(`SELECT user_id, (SELECT o.order_id FROM orders o WHERE o.user_id = u.user_id ORDER BY o.amount DESC NULLS LAST, o.order_id LIMIT 1) FROM users u WHERE score < 10`, false),
		q(`SELECT t.user_id, t.n FROM (SELECT user_id, count(*) AS n FROM orders GROUP BY user_id) t WHERE t.n > 2 ORDER BY t.n DESC, t.user_id LIMIT 20`, true),
		q(`SELECT count(*) FROM (SELECT DISTINCT user_id FROM orders) d`, true),
		q(`SELECT u.user_id, x.total FROM users u JOIN (SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id) x ON x.user_id = u.user_id WHERE u.score > 90`, false),
		q(`SELECT u.name, x.n FROM users u LEFT JOIN (SELECT user_id AS uid, count(*) AS n FROM orders WHERE status = 'paid' GROUP BY user_id) x ON u.user_id = x.uid ORDER BY u.user_id LIMIT 30`, true),
		q(`SELECT x.* FROM (SELECT o.user_id, max(o.amount) FROM orders o GROUP BY o.user_id) AS x(k, top) WHERE x.k = 42`, false),
		q(`SELECT country, sum(x.total) FROM users u JOIN (SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id) x USING (user_id) GROUP BY country ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT avg(n), count(*) FROM (SELECT user_id, sum(amount) AS n FROM orders GROUP BY user_id HAVING sum(amount) > 100) s`, true),
		q(`SELECT name FROM users WHERE user_id IN (SELECT user_id FROM orders GROUP BY user_id HAVING count(*) > 3)`, false),
		q(`SELECT user_id, order_id, row_number() OVER (PARTITION BY user_id ORDER BY amount DESC NULLS LAST, order_id) AS rn FROM orders ORDER BY user_id, rn LIMIT 40`, true),
		q(`SELECT * FROM (SELECT o.user_id, o.order_id, rank() OVER (PARTITION BY o.user_id ORDER BY o.amount, o.order_id) r FROM orders o) x WHERE r = 1 ORDER BY user_id`, true),
		q(`SELECT o.user_id, o.order_id, sum(o.amount) OVER (PARTITION BY o.user_id) FROM orders o JOIN users u USING (user_id) WHERE u.score > 95`, false),
		q(`SELECT count(DISTINCT country), count(DISTINCT score) FROM users`, true),
		q(`SELECT sum(DISTINCT score), avg(DISTINCT balance), count(*), max(name) FROM users`, true),
		q(`SELECT country, count(DISTINCT score % 10), sum(DISTINCT score), avg(balance) FROM users GROUP BY country HAVING count(DISTINCT created) > 3 ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT user_id FROM users WHERE score > 90 UNION ALL SELECT user_id FROM orders WHERE amount > 900 ORDER BY 1 DESC LIMIT 10 OFFSET 3`, true),
		q(`SELECT country AS c FROM users UNION SELECT status FROM orders ORDER BY c NULLS FIRST`, true),
		q(`SELECT country FROM users UNION SELECT status FROM orders ORDER BY country DESC LIMIT 3 OFFSET 1`, true),
		q(`SELECT user_id, score FROM users WHERE score < 5 UNION ALL SELECT user_id, 0 FROM orders WHERE amount < 10 ORDER BY score, user_id DESC`, true),
		q(`SELECT user_id FROM users WHERE score > 80 UNION SELECT user_id FROM orders ORDER BY user_id LIMIT $1`, true, "7"),
		q(`SELECT DISTINCT ON (country) country, user_id, score FROM users ORDER BY country, score DESC, user_id`, true),
		q(`SELECT DISTINCT ON (country) user_id FROM users ORDER BY country NULLS FIRST, user_id DESC`, true),
		q(`SELECT DISTINCT ON (1) country, user_id FROM users ORDER BY country DESC, user_id`, true),
		q(`SELECT DISTINCT ON (score % 5, country) score % 5 AS m, country, name FROM users ORDER BY score % 5, country, user_id LIMIT 7 OFFSET 2`, true),
		q(`SELECT DISTINCT ON (o.user_id) o.user_id, o.order_id, o.amount FROM orders o ORDER BY o.user_id, o.amount DESC NULLS LAST, o.order_id LIMIT 20`, true),
		q(`SELECT DISTINCT ON (country) country FROM users`, false),
		q(`SELECT DISTINCT ON (country) country, user_id FROM users WHERE score > $1 ORDER BY country, user_id`, true, "40"),
		q(`SELECT count(DISTINCT score), count(*), sum(balance), min(DISTINCT score), max(name) FROM users`, true),
		q(`SELECT country, count(DISTINCT score), avg(balance) FROM users GROUP BY country ORDER BY 2 DESC, 1 NULLS FIRST`, true),
		q(`SELECT country, count(DISTINCT score % 7) AS k FROM users GROUP BY country HAVING count(DISTINCT score % 7) > 6 ORDER BY 1`, true),
		q(`SELECT o.status, count(DISTINCT o.user_id) FROM orders o GROUP BY o.status ORDER BY count(DISTINCT o.user_id) DESC, 1 LIMIT 2`, true),
		q(`SELECT count(DISTINCT balance) FROM users WHERE user_id < 0`, true),
		q(`SELECT count(DISTINCT created) FROM users WHERE score > $1`, true, "40"),
		q(`SELECT sum(DISTINCT score), avg(DISTINCT score), count(DISTINCT score), sum(balance) FROM users`, true),
		q(`SELECT sum(DISTINCT balance), avg(DISTINCT balance) FROM users`, true),
		q(`SELECT country, sum(DISTINCT score % 13), avg(DISTINCT score % 13) FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT sum(DISTINCT user_id), avg(DISTINCT user_id) FROM orders`, true),
		q(`SELECT sum(DISTINCT score), avg(DISTINCT score) FROM users WHERE user_id < 0`, true),
		q(`SELECT DISTINCT country FROM users ORDER BY 1`, true),
		q(`SELECT DISTINCT country FROM users`, false),
		q(`SELECT DISTINCT score / 10 FROM users ORDER BY 1 DESC`, true),
		q(`SELECT user_id, name FROM users ORDER BY user_id LIMIT 10`, true),
		q(`SELECT user_id, name FROM users ORDER BY user_id DESC LIMIT 10 OFFSET 20`, true),
		q(`SELECT user_id, balance FROM users ORDER BY balance NULLS FIRST, user_id LIMIT 15`, true),
		q(`SELECT user_id, balance FROM users ORDER BY balance DESC NULLS LAST, user_id DESC LIMIT 15`, true),
		q(`SELECT name FROM users ORDER BY created, user_id LIMIT 5`, true),
		q(`SELECT user_id FROM users ORDER BY score * 2 - user_id, user_id LIMIT 7`, true),
		q(`SELECT * FROM users ORDER BY name LIMIT 3`, true),
		// Positions count the columns a "*" expands to; names after it
		// are output columns too.
		q(`SELECT * FROM users WHERE user_id = ANY('{3,17,42,5000}'::bigint[]) ORDER BY user_id`, true),
		q(`SELECT count(*), sum(amount) FROM orders WHERE user_id = ANY('{5, 6, 7, NULL}')`, false),
		q(`SELECT user_id FROM users WHERE user_id = ANY('{42.0,43.5}'::numeric[])`, false),
		q(`SELECT * FROM users ORDER BY 1 LIMIT 5`, true),
		q(`SELECT * FROM users ORDER BY 5 DESC, 1 LIMIT 7`, true),
		q(`SELECT * FROM users ORDER BY 4, name, 1 LIMIT 6`, true),
		q(`SELECT o.*, u.name FROM orders o JOIN users u USING (user_id) ORDER BY 1, 2 LIMIT 10`, true),
		q(`SELECT u.*, o.amount FROM users u JOIN orders o USING (user_id) ORDER BY 7 DESC NULLS LAST, o.order_id, 1 LIMIT 8`, true),
		q(`SELECT *, score * 2 AS doubled FROM users ORDER BY doubled DESC NULLS LAST, user_id LIMIT 5`, true),
		q(`SELECT *, lower(name) FROM users ORDER BY lower(name), 1 LIMIT 4`, true),
		q(`SELECT DISTINCT * FROM orders ORDER BY 3 DESC NULLS LAST, 1, 2 LIMIT 6`, true),
		q(`SELECT * FROM users UNION ALL SELECT * FROM users ORDER BY 1 LIMIT 4`, true),
		q(`SELECT *, 1 AS one FROM orders UNION ALL SELECT *, 2 FROM orders ORDER BY one DESC, 1, 2 LIMIT 3`, true),
		q(`SELECT FROM users ORDER BY name LIMIT 2`, true),
		// Subqueries that span shards, run first and written into the
		// statement as constants (staged).
		q(`SELECT user_id, name FROM users WHERE balance > (SELECT avg(balance) FROM users) ORDER BY user_id LIMIT 20`, true),
		q(`SELECT count(*) FROM users WHERE score < (SELECT max(score) - 50 FROM users)`, false),
		q(`SELECT string_agg(name, sep ORDER BY name) FROM (SELECT name, ',' AS sep FROM users WHERE score > 90) t`, false),
		q(`SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 5)`, false),
		q(`SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 5000), NOT EXISTS (SELECT 1 FROM users WHERE score > 1000) AS none`, false),
		q(`SELECT * FROM countries WHERE code IN (SELECT country FROM users) ORDER BY code`, true),
		q(`SELECT * FROM countries WHERE code NOT IN (SELECT country FROM users WHERE score > 50) ORDER BY code`, true),
		q(`WITH x AS (SELECT * FROM orders WHERE amount > 400) SELECT EXISTS (SELECT 1 FROM x), (SELECT count(*) FROM x)`, false),
		q(`SELECT (SELECT count(*) FROM countries WHERE code IN (SELECT country FROM users WHERE score > 90)), user_id FROM users ORDER BY user_id LIMIT 5`, true),
		q(`SELECT country, count(*) FROM (SELECT DISTINCT country, score FROM users) d GROUP BY country`, false),
		q(`SELECT count(*) FROM (SELECT DISTINCT country FROM users) t`, false),
		q(`SELECT count(*) FROM (SELECT country, count(*) FROM users GROUP BY country) subquery`, false),
		q(`SELECT * FROM (SELECT user_id, order_id FROM orders ORDER BY amount, order_id, user_id LIMIT 5) t ORDER BY order_id`, true),
		q(`SELECT u.user_id, u.name, t.order_id FROM users u JOIN (SELECT user_id, order_id FROM orders ORDER BY amount, order_id, user_id LIMIT 5) t ON t.user_id = u.user_id`, false),
		q(`SELECT u.user_id, t.n FROM users u JOIN (SELECT status, count(*) AS n FROM orders GROUP BY status) t ON t.status = u.country`, false),
		q(`SELECT user_id FROM users WHERE user_id IN (SELECT user_id FROM orders ORDER BY amount DESC, user_id, order_id LIMIT 3)`, false),
		// Pinned to one shard's smallest key, which is not the smallest
		// of all: on that shard alone the subquery's LIMIT would find it.
		q(fmt.Sprintf(`SELECT user_id FROM users WHERE user_id = %d AND user_id IN (SELECT user_id FROM users ORDER BY user_id LIMIT 1)`, slices.Max(keysOnShards(1))), false),
		q(fmt.Sprintf(`SELECT u.user_id FROM users u JOIN (SELECT user_id FROM users ORDER BY user_id LIMIT 1) t ON t.user_id = u.user_id WHERE u.user_id = %d`, slices.Max(keysOnShards(1))), false),
		q(fmt.Sprintf(`SELECT u.user_id FROM users u WHERE u.user_id = %d AND u.user_id IN (SELECT user_id FROM (SELECT user_id, rank() OVER (ORDER BY user_id) AS r FROM users) x WHERE r = 1)`, slices.Max(keysOnShards(1))), false),
		q(`SELECT user_id FROM users WHERE user_id = 7 AND user_id IN (SELECT user_id FROM users WHERE user_id = 7 ORDER BY score LIMIT 1)`, false),
		// A subquery over a table on the default shard runs there first.
		q(`SELECT count(*) FROM users WHERE score > (SELECT v::int FROM settings WHERE k = 'level')`, false),
		q(`SELECT user_id FROM users WHERE user_id = 42 AND 'test' IN (SELECT v FROM settings)`, false),
		q(`SELECT u.user_id, s.k FROM users u JOIN settings s ON s.v = u.score::text ORDER BY 1, 2`, true),
		q(`SELECT u.user_id, s.k FROM users u LEFT JOIN settings s ON s.v = u.score::text WHERE u.user_id < 40 ORDER BY 1, 2`, true),
		// Subqueries in ORDER BY, GROUP BY and LIMIT read every shard too.
		q(`SELECT user_id FROM users ORDER BY (SELECT count(*) FROM orders o WHERE o.amount < users.score) DESC, user_id LIMIT 5`, true),
		q(`SELECT u.user_id FROM users u ORDER BY (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) DESC, u.user_id LIMIT 5`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country, (SELECT max(amount) FROM orders) ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT user_id FROM users ORDER BY user_id LIMIT (SELECT count(*) FROM orders WHERE amount > 290)`, true),
		q(`SELECT user_id FROM users WHERE user_id = 42 ORDER BY (SELECT count(*) FROM orders)`, false),
		q(`SELECT user_id, (SELECT max(amount) FROM orders WHERE user_id = 5) FROM users ORDER BY user_id LIMIT 3`, true),
		q(`SELECT user_id, (SELECT max(amount) FROM orders WHERE amount < 0) AS nothing FROM users WHERE user_id = 42`, false),
		q(`SELECT ARRAY(SELECT user_id FROM users ORDER BY score DESC NULLS LAST, user_id LIMIT 4)`, false),
		q(`WITH top AS (SELECT user_id FROM orders GROUP BY user_id ORDER BY sum(amount) DESC, user_id LIMIT 5) SELECT u.user_id, u.name FROM users u WHERE u.user_id IN (SELECT user_id FROM top) ORDER BY 1`, true),
		q(`SELECT count(*) FROM (SELECT 1 AS one FROM users WHERE country = 'fr' LIMIT 7) subquery`, false),
		q(`SELECT * FROM (SELECT user_id FROM users WHERE score > 1000 LIMIT 3) t`, false),
		// The same through the extended protocol, parameters in the
		// statement around the subqueries.
		q(`SELECT user_id FROM users WHERE balance > (SELECT avg(balance) FROM users) AND country = $1 ORDER BY user_id`, true, "fr"),
		q(`SELECT count(*) FROM (SELECT DISTINCT country FROM users) t WHERE $1::int > 0`, false, "1"),
		q(`SELECT user_id, score FROM users WHERE user_id IN (SELECT user_id FROM orders ORDER BY amount DESC, user_id, order_id LIMIT 3) AND score > $1`, false, "-1"),
		q(`SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 5), $1::text AS label`, false, "x"),
		q(`SELECT code FROM countries UNION ALL SELECT country FROM users`, false),
		// Merges refused once the rows are back: the table's rows pulled
		// up to one shard, which runs the query.
		q(`SELECT sum(score::float8) / count(*) FROM users`, false),
		// (stddev over float8 too, but its last bits depend on the order
		// the rows are added in, which differs from the reference's.)
		q(`SELECT max(ARRAY[score]) FROM users`, false),
		q(`SELECT max(created)::text FROM users`, false),
		q(`SELECT name FROM users ORDER BY name COLLATE "en-US-x-icu" LIMIT 5`, true),
		q(`SELECT lower(name COLLATE "en-US-x-icu") AS l FROM users ORDER BY l`, true),
		q(`SELECT min(name COLLATE "en-US-x-icu") FROM users`, false),
		// Values pgshard cannot compare, ordered by a shard.
		q(`SELECT ARRAY[score] AS a FROM users ORDER BY a LIMIT 5`, true),
		q(`SELECT user_id, ARRAY[score, user_id::int] AS a FROM users ORDER BY a DESC NULLS LAST, user_id LIMIT 7 OFFSET 3`, true),
		q(`SELECT user_id, jsonb_build_object('s', score) AS j FROM users ORDER BY j, user_id LIMIT 6`, true),
		// One sharded table's rows pulled up to one shard, for what
		// pgshard cannot merge (window functions, ordered aggregates...).
		q(`SELECT user_id, row_number() OVER (ORDER BY user_id) FROM users`, false),
		q(`SELECT string_agg(name, ',' ORDER BY name) FROM users`, false),
		q(`SELECT max(score) + length(max(name)) FROM users`, false),
		q(`SELECT stddev(DISTINCT score) FROM users`, false),
		// Aggregates pgshard has no merge for, each shard's rows pulled up
		// (once taken for plain calls: one row per shard).
		q(`SELECT bit_xor(score), bit_and(score), bit_or(score) FROM users`, false),
		q(`SELECT country, bit_xor(score) FROM users GROUP BY country ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT round(regr_slope(score, user_id)::numeric, 6), regr_count(score, balance) FROM users`, false),
		q(`SELECT range_agg(int4range(score, score + 1)) FROM users WHERE score < $1`, false, "40"),
		q(`SELECT rank(50) WITHIN GROUP (ORDER BY score), percentile_disc(0.5) WITHIN GROUP (ORDER BY user_id) FROM users`, false),
		q(`SELECT status, mode() WITHIN GROUP (ORDER BY amount) FROM orders GROUP BY status ORDER BY 1`, true),
		q(`SELECT count(*)::varchar(3) FROM users`, false),
		q(`SELECT COALESCE(max(name), 'none') FROM users`, false),
		q(`SELECT DISTINCT ON (country) country, count(*) FROM users GROUP BY country ORDER BY country`, true),
		q(`SELECT user_id, count(*) OVER (PARTITION BY country) FROM users`, false),
		q(`SELECT user_id, rank() OVER (ORDER BY balance DESC NULLS LAST, user_id) FROM users WHERE country = 'fr' ORDER BY 2 LIMIT 10`, true),
		q(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY score), percentile_disc(0.9) WITHIN GROUP (ORDER BY balance) FROM users WHERE score IS NOT NULL`, false),
		q(`SELECT country, mode() WITHIN GROUP (ORDER BY score) FROM users GROUP BY country`, false),
		q(`SELECT u.user_id, lag(u.score) OVER (ORDER BY u.user_id) FROM users u WHERE u.user_id < 100`, false),
		q(`SELECT country, count(*) FROM users GROUP BY ROLLUP (country)`, false),
		q(`SELECT user_id, sum(amount) OVER (PARTITION BY status ORDER BY order_id, user_id) FROM orders WHERE amount > 300`, false),
		q(`SELECT country FROM users UNION SELECT country FROM users UNION ALL SELECT country FROM users ORDER BY 1 LIMIT 4`, true),
		q(`SELECT name FROM countries INTERSECT SELECT name FROM users`, false),
		// Joins not on the shard key: one side's rows, narrowed by its
		// own conditions, staged and joined on every shard.
		q(`SELECT u.user_id, o.order_id FROM users u JOIN orders o ON o.order_id = u.user_id`, false),
		q(`SELECT u.user_id, o.order_id, o.amount FROM users u JOIN orders o ON o.order_id = u.user_id * 3 WHERE u.country = 'fr' AND o.amount > 100`, false),
		q(`SELECT u.country, count(*), sum(o.amount) FROM orders o JOIN users u ON o.order_id = u.score GROUP BY u.country ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT o.order_id, u.name FROM orders o LEFT JOIN users u ON u.score = o.order_id WHERE o.amount > 250 ORDER BY 1, 2`, true),
		q(`SELECT o.order_id FROM orders o LEFT JOIN users u ON u.score = o.order_id WHERE u.user_id IS NULL AND o.status = 'new'`, false),
		q(`SELECT u.user_id, count(o.order_id) FROM users u LEFT JOIN orders o ON o.order_id = u.score GROUP BY u.user_id ORDER BY 2 DESC, 1 LIMIT 10`, true),
		q(`SELECT a.user_id, b.user_id FROM users a JOIN users b ON a.score = b.user_id WHERE a.country = 'de' AND lower(b.name) LIKE 'user 00%'`, false),
		q(`SELECT count(*) FROM users a JOIN users b ON a.country = b.country JOIN orders c ON c.order_id = b.score`, false),
		q(`SELECT u.name, o.status FROM users u, orders o WHERE u.user_id = 17 AND o.order_id = u.score`, false),
		q(`SELECT count(*) FROM users u JOIN orders o ON o.order_id = u.user_id WHERE o.amount > $1 AND u.score < $2`, false, "50", "60"),
		// Statements whose rows would repeat on every shard, or whose
		// correlated subqueries read other shards: the sharded tables'
		// rows staged, and the rest runs where it routes.
		q(`SELECT u.user_id, o.order_id FROM users u FULL JOIN orders o ON o.order_id = u.user_id`, false),
		q(`SELECT * FROM users u JOIN settings s ON true`, false),
		q(`SELECT * FROM countries c WHERE EXISTS (SELECT 1 FROM users u WHERE u.country = c.code)`, false),
		q(`SELECT * FROM countries c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.country = c.code AND u.score > 95)`, false),
		q(`SELECT c.code, u.user_id FROM countries c LEFT JOIN users u ON u.country = c.code`, false),
		q(`SELECT c.code, count(u.user_id) FROM users u RIGHT JOIN countries c ON u.country = c.code GROUP BY 1`, false),
		q(`SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.status = u.country) FROM users u`, false),
		q(`SELECT u.user_id, (SELECT max(o.amount) FROM orders o WHERE o.order_id = u.score AND o.status = 'paid') AS m FROM users u ORDER BY m DESC NULLS LAST, 1 LIMIT 10`, true),
		q(`SELECT user_id FROM users u WHERE u.balance > (SELECT avg(balance) FROM users WHERE country = $1) ORDER BY 1`, true, "fr"),
		q(`SELECT * FROM users WHERE user_id = 5 AND pg_try_advisory_xact_lock(5)`, false),
		// Correlated by one equality (Django's Exists and Subquery with
		// OuterRef): the values or the groups the outer row is compared
		// with are staged, whatever the table's size.
		q(`SELECT "countries"."code" FROM "countries" WHERE EXISTS(SELECT 1 AS "a" FROM "users" U0 WHERE (U0."country" = ("countries"."code") AND U0."score" > 50) LIMIT 1)`, false),
		q(`SELECT c.code FROM countries c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.country = c.code AND u.score > 95)`, false),
		q(`SELECT u.user_id FROM users u WHERE NOT EXISTS (SELECT 1 FROM users v WHERE v.country = u.country AND v.user_id <> u.user_id AND v.score > 97)`, false),
		q(`SELECT u.user_id FROM users u WHERE NOT EXISTS (SELECT 1 FROM users v WHERE v.country = u.country AND v.score > 98)`, false),
		q(`SELECT o.order_id, EXISTS (SELECT 1 FROM users u WHERE u.score = o.order_id) FROM orders o`, false),
		q(`SELECT u.user_id, (SELECT count(*) FROM users v WHERE v.country = u.country) FROM users u`, false),
		q(`SELECT u.user_id, (SELECT sum(o.amount) AS total FROM orders o WHERE o.status = 'paid' AND o.order_id = u.user_id * 2) FROM users u`, false),
		q(`SELECT u.user_id FROM users u WHERE (SELECT max(o.amount) FROM orders o WHERE o.order_id = u.score) > 200`, false),
		q(`SELECT u.country, (SELECT avg(v.balance) FROM users v WHERE v.country = u.country) FROM users u GROUP BY u.country`, false),
		q(`SELECT c.code FROM countries c WHERE EXISTS (SELECT 1 FROM users u WHERE u.country = c.code AND u.score > 50) AND c.code <> $1`, false, "fr"),
		q(`SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.order_id = u.score) AS n FROM users u WHERE u.balance > $1 ORDER BY n DESC, 1 LIMIT 10`, true, "1000"),
		q(`SELECT u.user_id, o.order_id FROM users u JOIN orders o ON o.order_id = u.score WHERE u.country = $1 ORDER BY 1, 2`, true, "de"),
		// TABLESAMPLE of a share of the rows samples every shard (100 %:
		// every row, so the answer is exact).
		q(`SELECT count(*) FROM users TABLESAMPLE BERNOULLI (100)`, false),
		q(`SELECT user_id FROM users TABLESAMPLE SYSTEM (100) REPEATABLE (7) WHERE score > 90`, false),
		q(`SELECT count(*) FROM orders o JOIN users u TABLESAMPLE SYSTEM (100) USING (user_id)`, false),
		// SELECT * of a sharded table in a derived table keeps its key:
		// co-located joins and pins through it.
		q(`SELECT t.user_id, o.order_id FROM (SELECT * FROM users WHERE country = 'fr') t JOIN orders o ON o.user_id = t.user_id`, false),
		q(`SELECT * FROM (SELECT u.*, c.name AS cname FROM users u JOIN countries c ON c.code = u.country) t WHERE t.user_id = 42`, false),
		// Subqueries in a table function's arguments.
		q(`SELECT * FROM XMLTABLE('/r/v' PASSING (SELECT ('<r><v>' || count(*) || '</v></r>')::xml FROM users) COLUMNS v int PATH '.')`, false),
		q(`SELECT g FROM generate_series(1, (SELECT count(*) FROM countries WHERE code IN (SELECT country FROM users))::int) g`, false),
		// Subqueries that take the statement's parameters: staged with
		// those parameters.
		q(`SELECT count(*) FROM (SELECT DISTINCT country FROM users WHERE score > $1) t`, false, "50"),
		q(`SELECT user_id FROM users WHERE user_id IN (SELECT user_id FROM orders WHERE amount > $1 ORDER BY amount DESC, user_id, order_id LIMIT 5) ORDER BY 1`, true, "100"),
		q(`SELECT u.user_id FROM users u WHERE u.balance > (SELECT avg(balance) FROM users WHERE country = $1) AND u.score > $2 ORDER BY 1`, true, "fr", "50"),
		q(`SELECT c.code FROM countries c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.country = c.code AND u.score > $1)`, false, "90"),
		q(`SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.status = $1 AND o.order_id = u.score) FROM users u`, false, "paid"),
		q(`SELECT user_id, row_number() OVER (ORDER BY user_id) FROM users WHERE score > $1`, false, "90"),
		q(`SELECT $2::text AS label, count(*) FROM users WHERE country IN (SELECT country FROM users WHERE score > $1 GROUP BY country HAVING count(*) > 5)`, false, "80", "x"),
		q(`SELECT country FROM users INTERSECT SELECT status FROM orders`, false),
		q(`SELECT user_id FROM users INTERSECT SELECT order_id FROM orders ORDER BY 1`, true),
		q(`SELECT user_id FROM users EXCEPT ALL SELECT order_id FROM orders ORDER BY 1 LIMIT 10`, true),
		q(`SELECT user_id FROM users ORDER BY user_id OFFSET 590`, true),
		q(`SELECT u.name, o.order_id, o.amount FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 17 ORDER BY o.order_id`, true),
		q(`SELECT u.name, count(*) FROM users u JOIN orders o ON o.user_id = u.user_id GROUP BY u.name ORDER BY 2 DESC, 1 LIMIT 10`, true),
		q(`SELECT o.status, count(*), sum(o.amount), avg(o.amount) FROM users u JOIN orders o USING (user_id) WHERE u.country = 'fr' GROUP BY o.status ORDER BY 1`, true),
		// Casts of aggregates and COALESCE with a number, computed from the merged aggregates.
		q(`SELECT count(*)::int FROM users`, true),
		q(`SELECT count(*)::int AS n, sum(score)::numeric, max(balance)::float8, min(score)::text, avg(balance)::int, avg(score)::real FROM users`, true),
		q(`SELECT country, count(*)::int AS n FROM users GROUP BY country ORDER BY n DESC, country NULLS FIRST`, true),
		q(`SELECT COALESCE(sum(balance), 0), COALESCE(max(score), -1), COALESCE(avg(balance), 0.00)::text FROM users WHERE user_id < 0`, true),
		q(`SELECT COALESCE(sum(amount), 0.00) AS total, COALESCE(count(*), 0) FROM orders WHERE status = 'nope'`, true),
		q(`SELECT status, COALESCE(sum(amount), 0)::int, count(DISTINCT user_id)::smallint, CAST(avg(amount) AS numeric)::bigint FROM orders GROUP BY status ORDER BY 1`, true),
		q(`SELECT country, avg(score)::int, COALESCE(avg(balance), 0)::real, sum(balance)::float8::text FROM users GROUP BY country ORDER BY 2, 1 NULLS FIRST`, true),
		q(`SELECT country, COALESCE(sum(balance), 0)::int AS total FROM users WHERE score > $1 GROUP BY country ORDER BY total DESC, 1 NULLS FIRST`, true, "40"),
		// FETCH ... WITH TIES: which rows tie is exact, their order is not.
		q(`SELECT user_id, score FROM users ORDER BY score DESC FETCH FIRST 5 ROWS WITH TIES`, false),
		q(`SELECT score / 10 AS s FROM users ORDER BY s OFFSET 30 ROWS FETCH NEXT 4 ROWS WITH TIES`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country ORDER BY count(*) DESC FETCH FIRST 2 ROWS WITH TIES`, false),
		q(`SELECT DISTINCT score / 10 FROM users ORDER BY 1 FETCH FIRST 2 ROWS WITH TIES`, true),
		q(`SELECT score FROM users UNION ALL SELECT score FROM users ORDER BY 1 FETCH FIRST 3 ROWS WITH TIES`, true),
		q(`SELECT user_id FROM users ORDER BY score FETCH FIRST $1 ROWS WITH TIES`, false, "7"),
		// A reference table's rows with a UNION's own DISTINCT; CTEs whose rows are sharded.
		q(`SELECT code FROM countries UNION SELECT country FROM users`, false),
		q(`SELECT user_id FROM users UNION SELECT user_id FROM orders UNION ALL SELECT user_id FROM users`, false),
		q(`WITH x AS (SELECT * FROM orders WHERE amount > 400) SELECT count(*), sum(amount) FROM x`, true),
		q(`SELECT c.name, count(*), count(u.user_id) FROM users u LEFT JOIN countries c ON c.code = u.country GROUP BY 1 ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT (SELECT count(*) FROM countries) AS n, user_id FROM users ORDER BY user_id LIMIT 5`, true),
		q(`SELECT user_id, country FROM users WHERE country IN (SELECT code FROM countries ORDER BY code LIMIT 2) ORDER BY user_id`, true),
		// Arithmetic and round over aggregates; constants are part of the plan.
		q(`SELECT max(score) + 1 FROM users`, true),
		q(`SELECT COALESCE(max(score), -1) FROM users WHERE user_id < 0`, true),
		q(`SELECT COALESCE(max(score), -2) FROM users WHERE user_id < 0`, true),
		q(`SELECT sum(balance) / count(*) AS mean, round(avg(balance), 2), max(score) - min(score), count(*) * 2 + 1, -sum(balance) FROM users`, true),
		q(`SELECT country, round(100.0 * count(*) / 600, 3) AS pct, sum(score) / count(*) AS int_mean FROM users GROUP BY country ORDER BY pct DESC, 1 NULLS FIRST`, true),
		q(`SELECT round(sum(balance) / 7, 4), round(avg(score)), round(sum(balance), -2), round(sum(score), 1) FROM users`, true),
		q(`SELECT status, sum(amount) / count(*) * 1.5 - 2, COALESCE(sum(amount), 0) / 3 FROM orders GROUP BY status ORDER BY 1`, true),
		q(`SELECT country, sum(score) / count(*) FROM users WHERE score > $1 GROUP BY country ORDER BY 1 NULLS FIRST`, true, "10"),
		q(`SELECT country FROM users GROUP BY country ORDER BY sum(balance) / count(*) DESC, country NULLS FIRST`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country HAVING round(avg(score), 1) >= 49.5 AND count(*)::int > 3 ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT status, count(*) FROM orders WHERE amount > $1 GROUP BY status HAVING sum(amount) / count(*) > 100 ORDER BY 1`, true, "5"),
		// Casts to numeric(p,s): rounded half away from zero, in range.
		q(`SELECT count(*)::numeric(10,2), count(*)::decimal(5) FROM users`, true),
		q(`SELECT country, sum(balance)::numeric(16,1), avg(score)::numeric(6,3), (sum(balance) / 3)::numeric(20,-2) FROM users GROUP BY country ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT status, round(sum(amount) / count(*), 4)::numeric(12,2) AS mean FROM orders GROUP BY status ORDER BY mean DESC, 1`, true),
		// Standard deviation and variance from merged count, sum and sum of squares.
		q(`SELECT stddev(score), variance(score), stddev_pop(balance), var_pop(balance), stddev_samp(score), var_samp(balance) FROM users`, true),
		q(`SELECT country, stddev(balance), round(variance(score), 3) FROM users GROUP BY country ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT status, stddev(amount) FROM orders GROUP BY status HAVING stddev(amount) > 10 ORDER BY stddev(amount) DESC`, true),
		q(`SELECT stddev(score) FILTER (WHERE score > 50), stddev(balance) FROM users WHERE user_id < 0`, true),
		q(`SELECT country, stddev(score) FILTER (WHERE score > 50) FROM users WHERE score > $1 GROUP BY country ORDER BY 1 NULLS FIRST`, true, "20"),
		// HAVING with Bind parameters, in text here (pgx sends them in binary: TestHavingParameters).
		q(`SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > $1 ORDER BY 1`, true, "3"),
		q(`SELECT country, sum(balance) FROM users WHERE score > $2 GROUP BY country HAVING sum(balance) >= $1 AND count(*) > $3 ORDER BY 1 NULLS FIRST`, true, "100.5", "20", "2"),
		q(`SELECT count(*) FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.status = 'paid')`, true),
		q(`SELECT count(*) FROM users WHERE user_id IN (SELECT user_id FROM orders WHERE amount > 250)`, true),
		q(`SELECT c.name, count(*) FROM users u JOIN countries c ON c.code = u.country GROUP BY c.name ORDER BY 1`, true),
		q(`SELECT * FROM countries ORDER BY code`, true),
		q(`SELECT * FROM settings ORDER BY k`, true),
		q(`SELECT name FROM users WHERE user_id = 3 UNION ALL SELECT name FROM users WHERE user_id = 4`, false),
		q(`SELECT country FROM users UNION SELECT status FROM orders`, false),
		q(`WITH u AS (SELECT * FROM users WHERE user_id = 77) SELECT name, score FROM u`, false),
		q(`SELECT 1 + 1, 'x'`, false),
		q(`SELECT * FROM users WHERE user_id = $1`, false, "100"),
		q(`SELECT name FROM users WHERE user_id IN ($1, $2, $3)`, false, "1", "2", "300"),
		q(`SELECT user_id FROM users ORDER BY user_id LIMIT $1 OFFSET $2`, true, "5", "100"),
		// Set operations, DISTINCT aggregates, CASE and functions over
		// aggregates, ROLLUP over a co-located join, date buckets.
		q(`SELECT user_id FROM users WHERE score > 95 UNION ALL SELECT user_id FROM orders WHERE amount > 295 ORDER BY 1 LIMIT 10`, true),
		q(`SELECT country FROM users INTERSECT SELECT code FROM countries ORDER BY 1`, true),
		q(`SELECT code FROM countries EXCEPT SELECT country FROM users WHERE score > 50 ORDER BY 1`, true),
		q(`SELECT user_id FROM users EXCEPT SELECT user_id FROM orders ORDER BY 1 LIMIT 5`, true),
		q(`SELECT count(*) FROM (SELECT user_id FROM users INTERSECT SELECT user_id FROM orders) t`, true),
		q(`SELECT country, count(*) FROM users GROUP BY country ORDER BY count(*) DESC, country NULLS FIRST`, true),
		q(`SELECT DISTINCT score % 7 FROM users ORDER BY 1 DESC`, true),
		q(`SELECT DISTINCT ON (score % 5) score % 5, user_id FROM users ORDER BY score % 5, user_id DESC`, true),
		q(`SELECT name, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND o.amount > $1) FROM users u WHERE u.user_id < $2 ORDER BY 1`, true, "100", "20"),
		q(`SELECT max(balance) FILTER (WHERE country IS NULL), min(balance) FILTER (WHERE country = 'fr') FROM users`, true),
		q(`SELECT country, avg(balance)::numeric(10,2), sum(score)::bigint FROM users GROUP BY country HAVING avg(score) BETWEEN 40 AND 60 ORDER BY 1 NULLS FIRST`, true),
		q(`SELECT count(*) FROM users WHERE created >= $1::date AND created < $1::date + 30`, true, "2024-03-01"),
		q(`SELECT user_id, score FROM users ORDER BY score DESC NULLS LAST, user_id OFFSET 590`, true),
		q(`SELECT count(DISTINCT (country, score / 20)) FROM users`, true),
		q(`SELECT sum(DISTINCT score), avg(DISTINCT score) FROM users WHERE country = 'de'`, true),
		q(`SELECT country, count(DISTINCT score), count(*) FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT length(name) l, count(*) FROM users GROUP BY l HAVING count(*) > 1 ORDER BY l`, true),
		q(`SELECT u.country, o.status, sum(o.amount) FROM users u JOIN orders o USING (user_id) GROUP BY ROLLUP (u.country, o.status) ORDER BY 1 NULLS LAST, 2 NULLS LAST`, true),
		q(`SELECT * FROM users WHERE user_id = ANY(ARRAY[1, 2, 3]::int[]) ORDER BY 1`, true),
		q(`SELECT user_id FROM users WHERE user_id BETWEEN 10 AND 20 AND score IS NOT NULL ORDER BY user_id DESC`, true),
		q(`SELECT count(*) FROM users WHERE name ILIKE '%00%' OR country IS NULL`, true),
		q(`SELECT min(name), max(name) FROM users WHERE country = 'it'`, true),
		q(`SELECT balance FROM users ORDER BY balance NULLS FIRST LIMIT 3`, true),
		q(`SELECT count(*) OVER (), user_id FROM users WHERE user_id = 3`, true),
		q(`SELECT greatest(max(score), 10), least(min(score), 90) FROM users`, true),
		q(`SELECT CASE WHEN count(*) > 100 THEN 'many' ELSE 'few' END FROM users`, true),
		q(`SELECT country, CASE WHEN sum(score) > 3000 THEN 'hi' END FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT to_char(created, 'YYYY-MM') m, count(*) FROM users GROUP BY m ORDER BY m LIMIT 4`, true),
		q(`SELECT o.user_id, o.order_id FROM orders o WHERE o.amount = (SELECT max(amount) FROM orders o2 WHERE o2.user_id = o.user_id) ORDER BY 1, 2 LIMIT 8`, true),
		// CTEs: keyed by a shard key they return (co-located like a
		// table), renamed, materialized, referenced twice, nested.
		q(`WITH x AS (SELECT user_id, score FROM users WHERE score > 50) SELECT count(*) FROM x`, true),
		q(`WITH x AS (SELECT user_id FROM users WHERE country = 'fr') SELECT o.status, count(*) FROM x JOIN orders o ON o.user_id = x.user_id GROUP BY 1 ORDER BY 1`, true),
		q(`WITH x AS (SELECT user_id, score FROM users) SELECT * FROM x WHERE user_id = 42`, true),
		q(`WITH x AS (SELECT user_id FROM users WHERE user_id = 42) SELECT o.* FROM x, orders o WHERE o.user_id = x.user_id ORDER BY o.order_id`, true),
		q(`WITH x AS (SELECT * FROM users) SELECT country, max(score) FROM x GROUP BY country ORDER BY 1`, true),
		q(`WITH x AS (SELECT user_id AS id, score FROM users) SELECT count(*) FROM x JOIN orders o ON o.user_id = x.id`, true),
		q(`WITH x(id, s) AS (SELECT user_id, score FROM users) SELECT count(*) FROM x JOIN orders o ON o.user_id = x.id`, true),
		q(`WITH x AS (SELECT user_id FROM users ORDER BY score DESC, user_id LIMIT 5) SELECT o.user_id, count(*) FROM x JOIN orders o ON o.user_id = x.user_id GROUP BY 1 ORDER BY 1`, true),
		q(`WITH x AS (SELECT country, count(*) n FROM users GROUP BY country) SELECT * FROM x ORDER BY 1`, true),
		q(`WITH x AS (SELECT user_id FROM users WHERE score > 90), y AS (SELECT user_id FROM x WHERE user_id > 100) SELECT count(*) FROM y JOIN orders USING (user_id)`, true),
		q(`WITH x AS (SELECT user_id FROM users) SELECT count(*) FROM x a JOIN x b ON a.user_id = b.user_id`, true),
		q(`WITH x AS MATERIALIZED (SELECT user_id, country FROM users) SELECT x.country, count(*) FROM x JOIN orders o ON o.user_id = x.user_id GROUP BY 1 ORDER BY 1`, true),
		q(`WITH x AS (SELECT user_id FROM users) SELECT count(*) FROM orders WHERE user_id IN (SELECT user_id FROM x)`, true),
		q(`WITH x AS (SELECT user_id FROM users) SELECT count(*) FROM orders o WHERE EXISTS (SELECT 1 FROM x WHERE x.user_id = o.user_id)`, true),
		q(`WITH x AS (SELECT user_id, name FROM users) SELECT u.user_id FROM users u JOIN x ON x.name = u.name ORDER BY 1 LIMIT 5`, true),
		q(`WITH x AS (SELECT user_id FROM users) SELECT count(*) FROM x LEFT JOIN orders o ON o.user_id = x.user_id WHERE o.user_id IS NULL`, true),
		q(`WITH x AS (SELECT * FROM orders WHERE amount > $1) SELECT count(*), sum(amount) FROM x`, true, "100"),
		q(`SELECT count(*) FROM (WITH x AS (SELECT user_id FROM users) SELECT * FROM x) t JOIN orders o USING (user_id)`, true),
		// Shapes from a review of what reports and ORMs send: windows per
		// key, top-N per group, ROLLUP, date buckets, expressions over
		// aggregates and windows over them, correlated subqueries.
		q(`SELECT count(*) FROM users WHERE name LIKE $1`, true, "user 01%"),
		q(`SELECT * FROM users WHERE user_id = $1::text::bigint`, false, "42"),
		q(`SELECT user_id, sum(score) OVER (PARTITION BY user_id) FROM users ORDER BY 1 LIMIT 5`, true),
		q(`SELECT user_id, lag(score) OVER (PARTITION BY user_id ORDER BY created) FROM users ORDER BY 1 LIMIT 10`, true),
		q(`SELECT country, array_agg(user_id ORDER BY user_id) FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT json_agg(u) FROM (SELECT user_id FROM users ORDER BY user_id LIMIT 3) u`, true),
		q(`SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.amount > $1) ORDER BY user_id LIMIT 5`, true, "250"),
		q(`WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t WHERE n < 5) SELECT * FROM t`, true),
		q(`SELECT * FROM users WHERE user_id IN (SELECT user_id FROM orders GROUP BY user_id HAVING count(*) > 3) ORDER BY user_id`, true),
		q(`SELECT u.country, count(DISTINCT o.status) FROM users u JOIN orders o ON o.user_id = u.user_id GROUP BY 1 ORDER BY 1`, true),
		q(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY score) FROM users WHERE country = $1`, true, "fr"),
		q(`SELECT count(*) FILTER (WHERE score > $1) FROM users`, true, "50"),
		q(`SELECT max(score) FROM users HAVING max(score) > $1`, true, "50"),
		q(`SELECT country, count(*) FROM users GROUP BY country HAVING count(*) > (SELECT count(*) / 10 FROM users) ORDER BY 1`, true),
		q(`SELECT * FROM (SELECT user_id, row_number() OVER (PARTITION BY country ORDER BY score DESC, user_id) rn FROM users) t WHERE rn <= 2 ORDER BY 1`, true),
		q(`SELECT date_trunc('month', created) m, count(*) FROM users GROUP BY 1 ORDER BY 1`, true),
		q(`SELECT extract(year FROM created)::int y, sum(balance) FROM users GROUP BY y ORDER BY y`, true),
		q(`SELECT coalesce(country, 'none') c, count(*) FROM users GROUP BY c ORDER BY c`, true),
		q(`SELECT country, count(*) * 100.0 / sum(count(*)) OVER () FROM users GROUP BY country ORDER BY 1`, true),
		q(`SELECT count(*) FROM users u LEFT JOIN orders o ON o.user_id = u.user_id WHERE o.user_id IS NULL`, true),
		q(`SELECT u.user_id, count(o.*) FROM users u LEFT JOIN orders o USING (user_id) GROUP BY u.user_id ORDER BY 2 DESC, 1 LIMIT 5`, true),
		q(`SELECT count(*) FROM (SELECT DISTINCT ON (country) * FROM users ORDER BY country, score DESC) t`, true),
		q(`SELECT score, count(*) FROM users GROUP BY score ORDER BY count(*) DESC, score LIMIT 3`, true),
		q(`SELECT avg(score)::numeric(10,3), sum(balance)::float8 FROM users`, true),
		q(`SELECT min(created), max(created), max(created) - min(created) FROM users`, true),
		q(`SELECT country IS NULL, count(*) FROM users GROUP BY 1 ORDER BY 1`, true),
		q(`SELECT user_id % 3 AS r, count(*) FROM users GROUP BY ROLLUP (r) ORDER BY 1 NULLS LAST`, true),
		q(`SELECT u.name FROM users u WHERE u.score = (SELECT max(score) FROM users u2 WHERE u2.country = u.country) ORDER BY 1`, true),
		q(`SELECT * FROM users ORDER BY random() LIMIT 0`, true),
		q(`SELECT count(*) FROM users TABLESAMPLE SYSTEM (100)`, true),
		q(`SELECT array_length(array_agg(user_id), 1) FROM users`, true),
		q(`SELECT sum(amount) FILTER (WHERE status = 'paid') / NULLIF(sum(amount), 0) FROM orders`, true),
		q(`SELECT status, count(*) FROM orders WHERE user_id BETWEEN $1 AND $2 GROUP BY ROLLUP(status) ORDER BY 1 NULLS LAST`, true, "10", "300"),
		q(`SELECT EXISTS (SELECT 1 FROM users WHERE score > $1)`, true, "98"),
		q(`SELECT (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) AS n, count(*) FROM users u GROUP BY 1 ORDER BY 1`, true),
		// LIMIT and OFFSET parameters the shards must not apply: the
		// statement they get still takes every parameter.
		q(`SELECT user_id FROM users ORDER BY user_id OFFSET $1`, true, "590"),
		q(`SELECT DISTINCT country FROM users ORDER BY 1 NULLS FIRST LIMIT $1 OFFSET $2`, true, "3", "1"),
		q(`SELECT country, count(*) FROM users WHERE score > $1 GROUP BY 1 ORDER BY 1 NULLS FIRST OFFSET $2`, true, "10", "2"),
		q(`SELECT country, sum(balance) FROM users GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1 FETCH FIRST $1 ROWS ONLY`, true, "2"),
		q(`SELECT country, count(*) FROM users WHERE score > $1 GROUP BY country ORDER BY 1`, true, "30"),
		q(`SELECT avg(balance) FROM users WHERE score BETWEEN $1 AND $2`, true, "10", "20"),
		q(`SELECT o.* FROM orders o WHERE o.user_id = $1 ORDER BY order_id`, true, "250"),
		q(`SELECT name FROM users WHERE user_id = ANY($1::bigint[]) ORDER BY name`, true, "{1,2,300,451}"),
		q(`SELECT count(*), sum(amount) FROM orders WHERE user_id = ANY($1)`, true, "{5,6,7,8,9,10}"),
		q(`SELECT user_id, count(*) FROM orders WHERE user_id IN (3, 4, 5, 6, 7, 8) GROUP BY user_id ORDER BY 1`, true),
	}
	r := rand.New(rand.NewPCG(7, 7))
	key := func() int { return r.IntN(nUsers+40) - 20 }
	for range 50 {
		c = append(c, q(fmt.Sprintf(`SELECT * FROM users WHERE user_id = %d`, key()), false))
	}
	for range 40 {
		ids := make([]string, 1+r.IntN(8))
		for i := range ids {
			ids[i] = fmt.Sprint(key())
		}
		c = append(c, q(fmt.Sprintf(`SELECT user_id, name, score FROM users WHERE user_id IN (%s) ORDER BY user_id`, strings.Join(ids, ", ")), true))
	}
	cols := []string{"balance", "score", "name", "country", "created"}
	for range 60 {
		col := cols[r.IntN(len(cols))]
		dir := []string{"", " ASC", " DESC"}[r.IntN(3)]
		nulls := []string{"", " NULLS FIRST", " NULLS LAST"}[r.IntN(3)]
		limit := ""
		if r.IntN(4) > 0 {
			limit = fmt.Sprintf(" LIMIT %d", r.IntN(30))
		}
		if r.IntN(2) == 0 {
			limit += fmt.Sprintf(" OFFSET %d", r.IntN(50))
		}
		c = append(c, q(fmt.Sprintf(`SELECT user_id, %s FROM users WHERE score >= %d ORDER BY %s%s%s, user_id%s`, col, r.IntN(60), col, dir, nulls, limit), true))
	}
	aggs := []string{"count(*)", "count(balance)", "sum(balance)", "sum(score)", "min(score)", "max(balance)", "avg(score)", "avg(balance)", "min(name)", "max(created)"}
	for range 60 {
		a1, a2 := aggs[r.IntN(len(aggs))], aggs[r.IntN(len(aggs))]
		where := fmt.Sprintf("score < %d", 20+r.IntN(80))
		switch r.IntN(4) {
		case 0:
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE %s`, a1, a2, where), true))
		case 1:
			c = append(c, q(fmt.Sprintf(`SELECT country, %s, %s FROM users WHERE %s GROUP BY country ORDER BY country`, a1, a2, where), true))
		case 2:
			c = append(c, q(fmt.Sprintf(`SELECT country, %s FROM users WHERE %s GROUP BY country HAVING count(*) > %d ORDER BY 1 DESC`, a1, where, r.IntN(60)), true))
		default:
			c = append(c, q(fmt.Sprintf(`SELECT score / 25 AS band, %s FROM users WHERE %s GROUP BY 1 ORDER BY 1 LIMIT %d`, a1, where, 1+r.IntN(4)), true))
		}
	}
	// The merges combined: aggregates with FILTER or DISTINCT, expressions
	// over aggregates, two grouping columns, HAVING, ORDER BY an aggregate
	// with LIMIT and OFFSET, co-located joins grouped off the key, DISTINCT.
	mixed := []string{"count(*)", "count(DISTINCT country)", "sum(score) FILTER (WHERE score > 50)", "avg(balance)",
		"max(score) - min(score)", "round(avg(score), 2)", "count(*) FILTER (WHERE balance IS NULL)", "sum(balance) / count(*)",
		"COALESCE(sum(balance), 0)", "bool_or(score > 90)", "stddev(score)", "min(created)", "count(DISTINCT score / 10)"}
	having := []string{"count(*) > %d", "avg(score) > %d", "sum(score) > %d * 10", "max(balance) > %d"}
	for range 60 {
		a1, a2 := mixed[r.IntN(len(mixed))], mixed[r.IntN(len(mixed))]
		where := fmt.Sprintf("score < %d", 20+r.IntN(80))
		switch r.IntN(6) {
		case 0:
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE %s`, a1, a2, where), true))
		case 1:
			c = append(c, q(fmt.Sprintf(`SELECT country, score / 25 AS band, %s, %s FROM users WHERE %s GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2`, a1, a2, where), true))
		case 2:
			h := fmt.Sprintf(having[r.IntN(len(having))], r.IntN(60))
			c = append(c, q(fmt.Sprintf(`SELECT country, %s AS m FROM users WHERE %s GROUP BY country HAVING %s ORDER BY m DESC NULLS LAST, country NULLS FIRST LIMIT %d OFFSET %d`,
				a1, where, h, 1+r.IntN(5), r.IntN(3)), true))
		case 3:
			c = append(c, q(fmt.Sprintf(`SELECT o.status, count(*), sum(o.amount), max(u.score) FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.%s GROUP BY o.status ORDER BY 1`, where), true))
		case 4:
			c = append(c, q(fmt.Sprintf(`SELECT DISTINCT country, score / 25 FROM users WHERE %s ORDER BY 1 NULLS FIRST, 2 LIMIT %d`, where, 1+r.IntN(20)), true))
		default:
			c = append(c, q(fmt.Sprintf(`SELECT count(*), max(n) FROM (SELECT country, count(*) AS n FROM users WHERE %s GROUP BY country) t`, where), true))
		}
	}
	// The same through the extended protocol, the constants as parameters.
	for range 20 {
		a1, a2 := mixed[r.IntN(len(mixed))], mixed[r.IntN(len(mixed))]
		below := fmt.Sprint(20 + r.IntN(80))
		if r.IntN(2) == 0 {
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE score < $1`, a1, a2), true, below))
			continue
		}
		c = append(c, q(fmt.Sprintf(`SELECT country, %s AS m FROM users WHERE score < $1 GROUP BY country HAVING count(*) > $2 ORDER BY m DESC NULLS LAST, country NULLS FIRST LIMIT $3 OFFSET $4`, a1),
			true, below, fmt.Sprint(r.IntN(40)), fmt.Sprint(1+r.IntN(5)), fmt.Sprint(r.IntN(3))))
	}
	// Other shapes whose merge or staging takes Bind parameters.
	num := func(n int) string { return fmt.Sprint(r.IntN(n)) }
	for range 40 {
		switch r.IntN(9) {
		case 0:
			c = append(c, q(`SELECT user_id, score FROM users WHERE score > $1 ORDER BY score DESC, user_id LIMIT $2 OFFSET $3`, true, num(100), num(20), num(10)))
		case 1:
			c = append(c, q(`SELECT DISTINCT ON (country) country, user_id FROM users WHERE score > $1 ORDER BY country NULLS FIRST, user_id LIMIT $2`, true, num(100), num(8)))
		case 2:
			c = append(c, q(`SELECT country FROM users WHERE score > $1 UNION SELECT status FROM orders WHERE amount > $2 ORDER BY 1 NULLS FIRST LIMIT $3`, true, num(100), num(300), num(10)))
		case 3:
			c = append(c, q(`SELECT count(*), max(score) FROM users WHERE user_id = ANY($1::bigint[]) AND score > $2`, true, fmt.Sprintf("{%d,%d,%d}", key(), key(), key()), num(50)))
		case 4:
			c = append(c, q(`SELECT user_id FROM users WHERE balance > (SELECT avg(balance) FROM users WHERE score > $1) AND country = $2 ORDER BY 1 LIMIT $3`, true,
				num(100), countryCodes[r.IntN(len(countryCodes))], num(15)))
		case 5:
			c = append(c, q(`SELECT country, count(*) FROM users WHERE score > $1 GROUP BY country HAVING sum(score) > $2 ORDER BY 2 DESC, 1 NULLS FIRST`, true, num(60), num(2000)))
		case 6:
			c = append(c, q(`SELECT o.status, count(*), sum(o.amount) FROM orders o JOIN users u USING (user_id) WHERE u.score > $1 GROUP BY 1 ORDER BY 1 OFFSET $2`, true, num(100), num(3)))
		case 7:
			c = append(c, q(`SELECT user_id, country FROM users WHERE (user_id, country) IN (($1, $2), ($3, $4)) ORDER BY 1`, true,
				fmt.Sprint(key()), countryCodes[r.IntN(len(countryCodes))], fmt.Sprint(key()), countryCodes[r.IntN(len(countryCodes))]))
		default:
			c = append(c, q(`SELECT score FROM users WHERE country = $1 ORDER BY score DESC FETCH FIRST $2 ROWS WITH TIES`, true, countryCodes[r.IntN(len(countryCodes))], num(6)))
		}
	}
	for range 30 {
		c = append(c, q(`SELECT user_id, name FROM users WHERE user_id = $1`, false, fmt.Sprint(key())))
	}
	for range 20 {
		c = append(c, q(`SELECT count(*), sum(o.amount) FROM orders o WHERE o.user_id IN ($1, $2) AND o.status <> $3`, true,
			fmt.Sprint(key()), fmt.Sprint(key()), []string{"new", "paid"}[r.IntN(2)]))
	}
	return c
}

// refused are queries pgshard cannot answer exactly across shards.
var refused = []string{
	`UPDATE users SET score = 0`,
	`DELETE FROM orders WHERE amount > 1000`,
	`UPDATE users SET user_id = 1000 WHERE user_id = 1`,
	// Rows locked by a statement that cannot run as one: staging would
	// copy them, not lock them.
	`SELECT * FROM users WHERE balance > (SELECT avg(balance) FROM users) FOR UPDATE`,
	// SQL-level prepared statements among other statements: the
	// session's current shard would run them whatever shard their
	// parameters name (alone they work: TestSQLPreparedStatementsMatchOnePostgres).
	`PREPARE p(int) AS SELECT * FROM users WHERE user_id = $1; EXECUTE p(5)`,
	`SELECT 1; EXECUTE p(5)`,
}

// TestDifferentialAgainstOnePostgres loads the same data through pgshard
// into three shards and directly into one PostgreSQL, then checks every
// corpus query gives the same answer both ways, in both pool modes (session
// pooling runs multi-shard statements on the session's own connections).
func TestDifferentialAgainstOnePostgres(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			differential(t, startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}"))
		})
	}
}

func differential(t *testing.T, p *pgshardtest.Proxy) {
	ctx := ctxFor(t, 5*time.Minute)
	through, direct := loadedPair(ctx, t, p)

	qs := corpus()
	if len(qs) < 300 {
		t.Fatalf("corpus has %d queries, want at least 300", len(qs))
	}
	for i, q := range qs {
		want, werr := run(ctx, direct, q)
		got, gerr := run(ctx, through, q)
		if werr != nil {
			t.Fatalf("query %d on the reference server: %s: %v", i, q.sql, werr)
		}
		if gerr != nil {
			t.Errorf("query %d through pgshard: %s %v: %v", i, q.sql, q.args, gerr)
			continue
		}
		if diff := compare(want, got, q.ordered); diff != "" {
			t.Errorf("query %d differs: %s %v\n%s", i, q.sql, q.args, diff)
		}
	}
	// Errors the merge raises, as PostgreSQL raises them.
	for _, sql := range []string{
		`SELECT sum(balance)::numeric(3,0) FROM users`,
		`SELECT country, (sum(score) * 1000)::numeric(4,2) FROM users GROUP BY country`,
		`SELECT * FROM users ORDER BY 7, name`, // the shards have a hidden column 7
		`SELECT * FROM users ORDER BY 99`,
		// Staged subqueries that do not fit their place.
		`SELECT * FROM users WHERE user_id = (SELECT user_id FROM users ORDER BY user_id LIMIT 2)`,
		`SELECT * FROM users WHERE score > (SELECT score, user_id FROM users ORDER BY user_id LIMIT 1)`,
	} {
		_, werr := run(ctx, direct, query{sql: sql})
		_, gerr := run(ctx, through, query{sql: sql})
		var we, ge *pgconn.PgError
		if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code || we.Message != ge.Message || we.Detail != ge.Detail {
			t.Errorf("%s: got %v, want %v", sql, gerr, werr)
		}
	}
	for _, sql := range refused {
		_, err := run(ctx, through, query{sql: sql})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: want 0A000, got %v", sql, err)
		}
		// The session goes on.
		if _, err := run(ctx, through, query{sql: "SELECT 1"}); err != nil {
			t.Fatalf("session broken after refusal: %v", err)
		}
	}
}

// result is a query's answer as text.
type result struct {
	cols []string
	rows [][]string
	tag  string
}

func run(ctx context.Context, conn *pgx.Conn, q query) (*result, error) {
	var rr *pgconn.ResultReader
	if q.args == nil {
		results, err := conn.PgConn().Exec(ctx, q.sql).ReadAll()
		if err != nil {
			return nil, err
		}
		res := results[len(results)-1]
		return toResult(res.FieldDescriptions, res.Rows, res.CommandTag.String()), nil
	}
	params := make([][]byte, len(q.args))
	for i, a := range q.args {
		params[i] = []byte(a)
	}
	rr = conn.PgConn().ExecParams(ctx, q.sql, params, nil, nil, nil)
	res := rr.Read()
	if res.Err != nil {
		return nil, res.Err
	}
	return toResult(res.FieldDescriptions, res.Rows, res.CommandTag.String()), nil
}

func toResult(fields []pgconn.FieldDescription, rows [][][]byte, tag string) *result {
	r := &result{tag: tag}
	for _, f := range fields {
		r.cols = append(r.cols, f.Name)
	}
	for _, row := range rows {
		var out []string
		for _, v := range row {
			if v == nil {
				out = append(out, "NULL")
			} else {
				out = append(out, string(bytes.Clone(v)))
			}
		}
		r.rows = append(r.rows, out)
	}
	return r
}

// compare describes how got differs from want, or returns "".
func compare(want, got *result, ordered bool) string {
	if !slices.Equal(want.cols, got.cols) {
		return fmt.Sprintf("columns: want %v, got %v", want.cols, got.cols)
	}
	if want.tag != got.tag {
		return fmt.Sprintf("command tag: want %q, got %q", want.tag, got.tag)
	}
	w, g := lines(want.rows), lines(got.rows)
	if !ordered {
		slices.Sort(w)
		slices.Sort(g)
	}
	if !slices.Equal(w, g) {
		return fmt.Sprintf("rows (%d vs %d):\nwant: %s\ngot:  %s", len(w), len(g), abbreviate(w), abbreviate(g))
	}
	return ""
}

func lines(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, "|")
	}
	return out
}

func abbreviate(l []string) string {
	if len(l) > 8 {
		return strings.Join(l[:8], "; ") + fmt.Sprintf("; ... (%d more)", len(l)-8)
	}
	return strings.Join(l, "; ")
}
