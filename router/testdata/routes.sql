# One statement per line; the golden file holds each one's route.
SELECT * FROM users WHERE user_id = 42
SELECT * FROM users WHERE user_id = '42'
SELECT * FROM users WHERE user_id = 42::bigint
SELECT * FROM users WHERE user_id = 42.0
SELECT * FROM users WHERE user_id = 42.5
SELECT * FROM users WHERE user_id = 42.5::bigint
SELECT * FROM users WHERE user_id::text = '42'
SELECT * FROM users WHERE user_id::int::bool = true
INSERT INTO users (user_id, name) VALUES (42.5, 'x')
SELECT * FROM users WHERE user_id = -7
SELECT * FROM users WHERE user_id IN (1, 6, 9, 10)
SELECT * FROM users WHERE user_id = ANY(ARRAY[1, 2])
SELECT * FROM users WHERE user_id = ANY('{1,2,3}'::bigint[])
SELECT * FROM users WHERE user_id = ANY('{42}')
SELECT * FROM users WHERE user_id = ANY('{}'::int8[])
SELECT * FROM users WHERE user_id = ANY('{42.0, 7}'::numeric[])
SELECT * FROM users WHERE user_id = ANY('[0:1]={1,2}'::bigint[])
UPDATE users SET name = 'x' WHERE user_id = ANY('{1,42}'::bigint[])
SELECT * FROM users WHERE user_id = ANY('{1,2}'::text[])
SELECT * FROM users WHERE user_id = ANY('{1,2}'::varchar(1)[])
SELECT * FROM sessions WHERE token = ANY('{"7f1c2a3e-0000-4000-8000-000000000001"}'::uuid[])
SELECT * FROM users WHERE user_id = 1 OR user_id = 2
UPDATE orders SET amount = 1 WHERE (user_id, order_id) = (5, 7)
SELECT * FROM orders WHERE ROW(7, 5) = ROW(order_id, user_id)
DELETE FROM orders WHERE (user_id, order_id) IN ((1, 7), (6, 8), (9, 1))
SELECT * FROM orders WHERE (user_id, order_id) = (1, 7) OR (user_id, order_id) = (6, 1)
SELECT * FROM orders WHERE (user_id, order_id) IN ((1, 7), (6))
SELECT * FROM orders WHERE (user_id, order_id) > (1, 7)
SELECT * FROM orders WHERE (order_id, amount) = (1, 7)
SELECT * FROM orders o JOIN users u ON (o.user_id, o.status) = (u.user_id, u.name)
SELECT * FROM orders o JOIN users u ON (o.order_id, o.status) = (u.user_id, u.name)
SELECT * FROM users u LEFT JOIN orders o ON (o.user_id, o.status) = (u.user_id, u.name)
SELECT * FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 42
SELECT * FROM users u JOIN orders o USING (user_id) WHERE user_id = 42
SELECT * FROM users u JOIN orders o ON o.user_id = u.user_id
SELECT * FROM users u JOIN orders o ON o.amount = u.user_id
SELECT u.name, o.amount FROM orders o JOIN users u ON o.status = u.country WHERE u.country = 'NL' AND lower(u.name) LIKE 'a%' AND o.amount > 10
SELECT u.name, sum(o.amount) FROM orders o JOIN users u ON o.status = u.name WHERE u.user_id = 7 GROUP BY u.name ORDER BY 2 DESC
SELECT o.order_id, u.name FROM orders o LEFT JOIN users u ON u.email = o.status WHERE u.country = 'NL'
SELECT u.name, o.order_id FROM users u LEFT JOIN orders o ON u.email = o.status WHERE u.country = 'NL'
SELECT * FROM users u FULL JOIN orders o ON u.email = o.status
SELECT a.name, b.name FROM users a JOIN users b ON a.email = b.name WHERE b.balance > random()
SELECT count(*) FROM users u, orders o, orders p WHERE u.user_id = o.user_id AND o.status = p.status AND p.amount > $1
SELECT count(*) FROM users a JOIN users b ON a.country = b.country JOIN orders c ON c.status = b.name
SELECT * FROM users WHERE user_id = 42 AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.user_id)
SELECT * FROM users WHERE user_id IN (SELECT user_id FROM orders WHERE amount > 5)
SELECT * FROM users u JOIN countries c ON c.code = u.country WHERE u.user_id = 3
SELECT * FROM countries
SELECT * FROM settings WHERE k = 'a'
SELECT * FROM users u JOIN settings s ON true
SELECT now()
SELECT * FROM users
SELECT * FROM users ORDER BY name DESC NULLS LAST LIMIT 10
SELECT * FROM users ORDER BY 1 LIMIT 5
SELECT * FROM users ORDER BY 3 DESC, name LIMIT 5
SELECT u.*, o.amount FROM users u JOIN orders o USING (user_id) ORDER BY 1, amount DESC LIMIT 5
SELECT *, balance * 2 AS doubled FROM users ORDER BY doubled DESC LIMIT 3
SELECT *, lower(name) FROM users ORDER BY lower(name), 2 LIMIT 3
SELECT *, name COLLATE "de-DE-x-icu" AS n FROM users ORDER BY 9
SELECT FROM users ORDER BY name LIMIT 1
SELECT * FROM users GROUP BY 1
SELECT * FROM users UNION ALL SELECT * FROM users ORDER BY 2 LIMIT 3
SELECT *, 1 AS one FROM users UNION ALL SELECT *, 2 FROM users ORDER BY one LIMIT 3
SELECT name, user_id FROM users ORDER BY 2 LIMIT 10 OFFSET 5
SELECT count(*), sum(balance), min(name), max(user_id), avg(balance) FROM users
SELECT country, count(*) FROM users GROUP BY country HAVING count(*) > 2 ORDER BY country
SELECT country FROM users GROUP BY country
SELECT DISTINCT country FROM users ORDER BY 1
SELECT country, avg(balance) FROM users GROUP BY 1 ORDER BY avg(balance) DESC LIMIT 3
SELECT user_id, row_number() OVER () FROM users
SELECT count(DISTINCT country) FROM users
SELECT * FROM users WHERE balance > (SELECT avg(balance) FROM users)
SELECT name FROM users UNION SELECT name FROM orders
SELECT * FROM users FOR UPDATE
SELECT * FROM users WHERE user_id = 5 FOR UPDATE
INSERT INTO users (user_id, name) VALUES (1, 'a')
INSERT INTO users (user_id, name) VALUES (1, 'a'), (6, 'b'), (9, 'c'), (8, $$d$$)
INSERT INTO users (name, user_id) VALUES ('a', 1) ON CONFLICT (user_id) DO UPDATE SET name = excluded.name RETURNING *
INSERT INTO users VALUES (1, 'a')
INSERT INTO users (name) VALUES ('a')
INSERT INTO users (user_id, name) VALUES (NULL, 'x')
INSERT INTO users (user_id) SELECT 1
INSERT INTO countries (code) VALUES ('fr')
INSERT INTO settings (k) VALUES ('a')
UPDATE users SET name = 'x' WHERE user_id = 9
UPDATE users SET name = 'x'
UPDATE users SET user_id = 3 WHERE user_id = 9
UPDATE users SET user_id = 9, name = 'x' WHERE user_id = 9
UPDATE users SET user_id = 10 WHERE user_id = 9
UPDATE users u SET (name, user_id) = ('x', u.user_id) WHERE user_id = 9
UPDATE users SET user_id = user_id + 1 WHERE user_id = 9
UPDATE users SET user_id = NULL WHERE user_id = 9
UPDATE users SET user_id = 9 WHERE user_id IN (1, 9)
UPDATE orders o SET user_id = u.user_id FROM users u WHERE u.user_id = o.user_id AND o.user_id = 9
INSERT INTO orders (user_id, amount) VALUES (5, 1), (9, 2) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = excluded.user_id, amount = excluded.amount
INSERT INTO orders (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 10
INSERT INTO orders (user_id, amount) VALUES (9, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET user_id = 1
DELETE FROM orders WHERE user_id IN (1, 9)
DELETE FROM orders WHERE amount < 0
UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users WHERE country = 'DE')
DELETE FROM orders WHERE user_id = ANY(ARRAY(SELECT user_id FROM users WHERE score < (SELECT avg(score) FROM users))) RETURNING order_id
UPDATE orders SET amount = (SELECT max(score) FROM users) WHERE user_id = 3
UPDATE orders SET amount = 0 WHERE user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 3)
DELETE FROM orders WHERE order_id IN (SELECT order_id FROM orders WHERE amount < 5 LIMIT 100)
UPDATE orders SET amount = 0 WHERE user_id IN (1, 6, 9) AND user_id IN (SELECT user_id FROM users ORDER BY score DESC LIMIT 2)
UPDATE orders SET amount = 0 WHERE user_id IN (1, 6, 9) AND user_id IN (SELECT user_id FROM users)
INSERT INTO orders (user_id, amount) VALUES (5, (SELECT max(score) FROM users)) RETURNING (SELECT count(*) FROM countries)
INSERT INTO orders (user_id, amount) VALUES (5, 1), (6, (SELECT score FROM users WHERE user_id = 6))
INSERT INTO orders (user_id, amount) VALUES (5, 1) ON CONFLICT (user_id, order_id) DO UPDATE SET amount = (SELECT count(*) FROM orders o WHERE o.user_id = excluded.user_id)
DELETE FROM orders WHERE user_id = 5 RETURNING (SELECT count(*) FROM users)
UPDATE orders SET amount = 0 WHERE user_id = 5 AND status = (SELECT v FROM audit WHERE k = 'x')
SELECT * FROM orders WHERE status IN (SELECT v FROM audit)
SELECT o.order_id, a.v FROM orders o JOIN audit a ON a.v = o.status WHERE o.user_id = 5
WITH s AS (SELECT status FROM orders WHERE user_id = 5) SELECT * FROM users u WHERE u.user_id = 5 AND u.country IN (SELECT status FROM s)
INSERT INTO countries VALUES ('x', 'y') ON CONFLICT (code) DO UPDATE SET name = (SELECT max(name) FROM users)
SELECT * FROM orders o WHERE o.user_id = 5 AND o.user_id IN (SELECT user_id FROM users ORDER BY score LIMIT 2)
SELECT * FROM orders o WHERE o.user_id = 5 AND o.user_id IN (SELECT user_id FROM users WHERE user_id = 5 ORDER BY score LIMIT 2)
UPDATE countries SET name = 'France' WHERE code = 'fr'
CREATE TABLE t (id int)
CREATE INDEX ON users (name)
TRUNCATE users
BEGIN
SET search_path = public
SHOW search_path
COMMIT
SELECT * FROM sessions WHERE token = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
SELECT * FROM sessions WHERE token = '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'
SELECT * FROM sessions WHERE token = 'not-a-uuid'
SELECT /* pgshard: shard=2 */ * FROM users
SELECT /* pgshard: shard_key=42 */ * FROM orders
SELECT /* pgshard: shard=9 */ 1
SELEKT 1
SET a = 1; SELECT * FROM users WHERE user_id = 1
EXPLAIN SELECT * FROM users WHERE user_id = 1
COPY users FROM STDIN
COPY countries TO STDOUT
WITH x AS (SELECT * FROM users WHERE user_id = 4) SELECT * FROM x
COPY users (name, user_id) FROM STDIN WITH (FORMAT csv, HEADER)
COPY users (name) FROM STDIN
COPY users FROM STDIN (FORMAT binary)
SELECT nextval('users_seq')
SELECT lower(name), count(*) FROM users WHERE user_id = 3 GROUP BY 1
SELECT my_function(user_id) FROM users WHERE user_id = 3
COPY countries (code, name) FROM STDIN
COPY users TO STDOUT
COPY users TO STDOUT WITH (FORMAT csv, HEADER)
EXPLAIN SELECT * FROM users
EXPLAIN (ANALYZE, COSTS OFF) SELECT avg(amount) FROM orders
EXPLAIN (COSTS OFF) SELECT * FROM users ORDER BY name LIMIT 5 OFFSET 5
EXPLAIN (FORMAT JSON) SELECT * FROM users
EXPLAIN DELETE FROM users
EXPLAIN SELECT row_number() OVER () FROM users
COPY (SELECT user_id, name FROM users WHERE name LIKE 'a%') TO STDOUT WITH (FORMAT csv, HEADER)
COPY (SELECT user_id, name FROM users ORDER BY name) TO STDOUT
COPY (SELECT count(*) FROM users) TO STDOUT
COPY (SELECT * FROM users WHERE user_id = 7) TO STDOUT
SELECT country, count(DISTINCT score), count(*), avg(balance) FROM users GROUP BY country HAVING count(DISTINCT score) > 2 ORDER BY 2 DESC
SELECT count(DISTINCT country), count(DISTINCT score) FROM users
SELECT country, sum(DISTINCT score), avg(DISTINCT score) FROM users GROUP BY country
EXPLAIN ANALYZE INSERT INTO users (user_id, name) VALUES (1, $$a$$)
EXPLAIN INSERT INTO users (user_id, name) VALUES (1, $$a$$)
EXPLAIN (ANALYZE false) UPDATE users SET name = $$b$$ WHERE user_id = 1
EXPLAIN (ANALYZE) SELECT * FROM users WHERE user_id = 1
SELECT * INTO users_copy FROM users WHERE user_id = 1
CALL my_proc(1)
DO $$BEGIN PERFORM 1; END$$
LOCK TABLE users IN SHARE MODE
CREATE TABLE users2 AS SELECT * FROM users WHERE user_id = 1
WITH x AS (DELETE FROM users WHERE user_id = 3 RETURNING *) SELECT * FROM x
SELECT pg_advisory_xact_lock(1)
REFRESH MATERIALIZED VIEW mv
WITH u AS (UPDATE countries SET name = $$x$$ WHERE code = $$fr$$ RETURNING *) SELECT * FROM u
SELECT * FROM countries FOR UPDATE
INSERT INTO countries (code, name) VALUES ($$zz$$, $$Z$$) ON CONFLICT (code) DO NOTHING RETURNING *
MERGE INTO countries c USING (VALUES ($$fr$$)) v(code) ON c.code = v.code WHEN MATCHED THEN DELETE
MERGE INTO users u USING (VALUES (1)) v(id) ON u.user_id = v.id WHEN MATCHED THEN DELETE
WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d
UPDATE countries SET name = $$x$$ WHERE code = $$fr$$ RETURNING *
MERGE INTO settings s USING (VALUES ($$a$$)) v(k) ON s.k = v.k WHEN MATCHED THEN DELETE
MERGE INTO countries c USING users u ON c.code = u.country WHEN MATCHED THEN DELETE
MERGE INTO countries c USING (VALUES ('de', 'x')) v(code, name) ON c.code = v.code WHEN MATCHED THEN UPDATE SET name = (SELECT max(name) FROM users)
MERGE INTO countries c USING (VALUES ('de', 'x')) v(code, name) ON c.code = v.code AND EXISTS (SELECT 1 FROM users) WHEN MATCHED THEN DELETE
WITH x AS (SELECT max(name) AS m FROM users) MERGE INTO countries c USING x ON c.code = x.m WHEN MATCHED THEN DELETE
MERGE INTO audit a USING (VALUES (1)) v(k) ON a.user_id = v.k WHEN NOT MATCHED THEN INSERT VALUES (v.k, (SELECT count(*) FROM users))
SELECT * FROM users WHERE user_id = 1 OR name = 'x'
SELECT * FROM users WHERE NOT (user_id = 1)
SELECT * FROM users WHERE user_id <> 1
SELECT * FROM users WHERE user_id = 1::int + 1
SELECT * FROM users WHERE (user_id, name) = (1, 'a')
SELECT * FROM users WHERE CASE WHEN user_id = 1 THEN true END
SELECT * FROM users WHERE user_id = ANY('{1,2}')
SELECT * FROM users WHERE user_id = 1 AND user_id = 2
SELECT * FROM users WHERE user_id IS NULL
SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.user_id AND u.user_id = 5
SELECT * FROM users u FULL JOIN orders o ON o.user_id = u.user_id WHERE o.user_id = 5
SELECT * FROM users WHERE user_id = 1 OR user_id IN (SELECT user_id FROM orders)
SELECT * FROM users WHERE coalesce(user_id, 0) = 1
SELECT * FROM users WHERE user_id::text = '1'
SELECT * FROM users WHERE user_id = 1 OR true
SELECT * FROM users WHERE user_id BETWEEN 1 AND 1
UPDATE users SET name = 'x' WHERE user_id = 1 OR score > 5
DELETE FROM users WHERE NOT user_id = 1
SELECT * FROM users FOR UPDATE
SELECT * FROM users WHERE user_id IN (1, 2, 3) FOR UPDATE
SELECT * FROM users ORDER BY user_id LIMIT 5 FOR UPDATE
# Cursors: on the shard their query needs, or held by pgshard over several.
DECLARE c CURSOR FOR SELECT * FROM users WHERE user_id = 1
DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT * FROM users ORDER BY user_id
DECLARE c NO SCROLL CURSOR FOR SELECT * FROM users WHERE user_id IN (1, 2, 3)
DECLARE c CURSOR FOR SELECT count(*) FROM users
FETCH 10 FROM c
# DISTINCT ON over shards: sorted and deduplicated again after the merge.
SELECT DISTINCT ON (country) user_id, name FROM users ORDER BY country, score DESC LIMIT 3
SELECT DISTINCT ON (country) country FROM users
# ORDER BY and LIMIT over a UNION: sorted parts merged, limit+offset pushed down.
SELECT user_id FROM users UNION SELECT user_id FROM orders ORDER BY 1 DESC LIMIT 5 OFFSET 2
SELECT user_id FROM users UNION ALL SELECT user_id FROM orders ORDER BY user_id + 1
# Subqueries and windows whose rows stay on one shard per key.
SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) FROM users u
SELECT * FROM (SELECT user_id, count(*) AS n FROM orders GROUP BY user_id) t WHERE n > 2
SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY amount) FROM orders
SELECT user_id, row_number() OVER (ORDER BY amount) FROM orders
SELECT * FROM (SELECT user_id FROM orders ORDER BY amount LIMIT 5) t
SELECT u.user_id, x.total FROM users u JOIN (SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id) x ON x.user_id = u.user_id
SELECT x.* FROM (SELECT user_id, max(amount) FROM orders GROUP BY user_id) x WHERE x.user_id = 42
# INSERT ... SELECT whose key comes from a table sharded the same way: each shard inserts its own rows.
INSERT INTO orders (user_id, order_id, amount) SELECT user_id, 0, score FROM users WHERE score > 90
INSERT INTO orders (order_id, user_id) SELECT 1, user_id FROM users WHERE user_id IN (1, 2)
INSERT INTO orders (user_id, order_id) SELECT user_id, count(*) FROM users GROUP BY user_id
INSERT INTO orders (user_id, order_id) SELECT score, 1 FROM users
INSERT INTO orders (user_id, order_id) SELECT user_id, 1 FROM users ORDER BY score LIMIT 3
INSERT INTO orders SELECT * FROM users
INSERT INTO countries (code) SELECT DISTINCT country FROM users
INSERT INTO audit_log (n) SELECT count(*) FROM users WHERE score > 10
WITH top AS (SELECT user_id, score FROM users ORDER BY score DESC LIMIT 3) INSERT INTO orders (user_id, order_id) SELECT user_id, score FROM top
WITH d AS (DELETE FROM orders WHERE user_id = 5 RETURNING *) INSERT INTO orders (user_id, order_id) SELECT user_id, order_id FROM d
WITH de AS (SELECT user_id FROM users WHERE country = 'DE') UPDATE orders SET status = 'held' WHERE user_id IN (SELECT user_id FROM de)
WITH de AS MATERIALIZED (SELECT user_id FROM users WHERE country = 'DE') DELETE FROM orders WHERE user_id IN (SELECT user_id FROM de)
INSERT INTO orders (user_id, order_id) SELECT 7, sum(order_id) FROM orders WHERE user_id = 5 RETURNING order_id
# GROUP BY a shard key: each shard's groups are final, any aggregate goes.
SELECT user_id, array_agg(order_id ORDER BY order_id) FROM orders GROUP BY user_id ORDER BY count(*) DESC LIMIT 5
# INTERSECT/EXCEPT: exact per shard when every query selects its key in the same column.
SELECT user_id FROM users INTERSECT SELECT user_id FROM orders ORDER BY 1 LIMIT 3
SELECT user_id, name FROM users EXCEPT SELECT order_id, status FROM orders
# Casts of aggregates and COALESCE with a number: computed from the merged aggregate.
SELECT status, count(*)::int AS n, COALESCE(sum(amount), 0) FROM orders GROUP BY status ORDER BY n DESC
SELECT avg(amount)::numeric::int, CAST(max(amount) AS text) FROM orders
SELECT max(amount) + 1, COALESCE(max(status), 'none'), count(*)::numeric(10,2) FROM orders
# FETCH ... WITH TIES: each shard keeps the clause (limit plus offset); the merge extends the window over ties.
SELECT user_id, amount FROM orders ORDER BY amount DESC FETCH FIRST 3 ROWS WITH TIES
SELECT user_id, amount FROM orders ORDER BY amount OFFSET 2 ROWS FETCH FIRST 3 ROWS WITH TIES
SELECT status, count(*) FROM orders GROUP BY status ORDER BY count(*) DESC FETCH FIRST 1 ROW WITH TIES
# Rows that do not come from sharded tables would repeat on every shard: refused over several shards.
SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 5)
SELECT * FROM countries c WHERE EXISTS (SELECT 1 FROM users u WHERE u.country = c.code)
SELECT * FROM countries WHERE code IN (SELECT country FROM users WHERE user_id = 5)
SELECT code FROM countries UNION ALL SELECT country FROM users
SELECT code FROM countries UNION SELECT country FROM users
WITH x AS (SELECT * FROM orders) SELECT * FROM x
WITH x AS (SELECT * FROM orders) SELECT EXISTS (SELECT 1 FROM x)
SELECT country FROM users UNION SELECT country FROM users UNION ALL SELECT country FROM users
# An outer join keeping a reference table's rows would NULL-extend them on every shard that does not match them.
SELECT c.code, u.user_id FROM countries c LEFT JOIN users u ON u.country = c.code
SELECT c.code, u.user_id FROM users u FULL JOIN countries c ON u.country = c.code
SELECT u.user_id, c.name FROM users u LEFT JOIN countries c ON u.country = c.code
# COLLATE "C" orders text bytewise, as merges do, whatever the shards' default collation.
SELECT name FROM users ORDER BY name COLLATE "C" LIMIT 5
# Any other collation the query names cannot be merged bytewise: the merge refuses text ordered so.
SELECT name FROM users ORDER BY name COLLATE "de-DE-x-icu" LIMIT 5
SELECT lower(name COLLATE "de-DE-x-icu") AS l FROM users ORDER BY l
SELECT min(name COLLATE "de-DE-x-icu"), max(name COLLATE "C") FROM users
# A subquery that reads no sharded table computes the same on every shard: anything goes in it.
SELECT (SELECT count(*) FROM countries), user_id FROM users
SELECT * FROM users WHERE country IN (SELECT code FROM countries ORDER BY code LIMIT 2)
SELECT (SELECT count(*) FROM countries WHERE code IN (SELECT country FROM users)), user_id FROM users
# Arithmetic, round and COALESCE over aggregates, computed from the merged aggregates.
SELECT status, sum(amount) / count(*) AS mean, round(avg(amount), 2), max(amount) - min(amount) FROM orders GROUP BY status ORDER BY mean DESC
SELECT 100.0 * count(*) FILTER (WHERE status = 'paid') / count(*) AS paid_pct FROM orders
SELECT sum(amount) / 2.0 + length('x') FROM orders
# ORDER BY and HAVING over expressions of aggregates: hidden columns the merge computes.
SELECT status FROM orders GROUP BY status ORDER BY sum(amount) / count(*) DESC
SELECT status, count(*) FROM orders GROUP BY status HAVING round(avg(amount), 1) >= 250.5 AND count(*)::int > 3
# stddev and variance: count, sum and sum of squares on the shards, the rest in the merge.
SELECT status, round(stddev_pop(amount), 2) AS sd FROM orders GROUP BY status ORDER BY var_samp(amount) DESC
SELECT stddev(DISTINCT amount) FROM orders
# SQL-level prepared statements would run on the session's current shard, whatever their parameters name.
PREPARE p(int) AS SELECT * FROM users WHERE user_id = $1
EXECUTE p(5)
DEALLOCATE p
DEALLOCATE ALL
EXPLAIN EXECUTE p(5)
# A listener listens on every shard; NOTIFY runs where the session is, pg_notify() on the default shard.
LISTEN jobs
UNLISTEN *
NOTIFY jobs, 'x'
SELECT pg_notify('jobs', 'x')
# Advisory locks are one lock space, on the default shard; with a sharded table they would land on its shard.
SELECT pg_advisory_xact_lock(42)
SELECT pg_try_advisory_lock(hashtext('job')), pg_advisory_unlock_all()
SELECT pg_advisory_xact_lock(code::int) FROM countries WHERE code = '1'
SELECT pg_advisory_xact_lock(user_id) FROM users WHERE user_id = 5
SELECT * FROM users WHERE user_id = 5 AND pg_try_advisory_xact_lock(5)
# A snapshot is one server's: importing it over several shards is refused (pg_dump -j).
SET TRANSACTION SNAPSHOT '00000003-0000001B-1'
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ
# A DO block runs on the default shard: naming a sharded or reference table there is refused, unless a hint picks the shard.
DO $$ BEGIN INSERT INTO users (user_id, name) VALUES (5, 'x'); END $$
DO $$ BEGIN UPDATE Countries SET name = 'x'; END $$
DO $$ BEGIN PERFORM pg_sleep(0); END $$
DO $$ BEGIN INSERT INTO users_archive VALUES (1); END $$
/* pgshard: shard=1 */ DO $$ BEGIN DELETE FROM users WHERE user_id = 5; END $$
# INSERT ... SELECT into a sharded table from rows that are not sharded: read where they are, moved to their shards as a split COPY.
INSERT INTO users (user_id, name) SELECT g, 'user ' || g FROM generate_series(1, 10) g
INSERT INTO users SELECT * FROM users_archive WHERE created < now()
INSERT INTO orders (user_id, status) SELECT 1, code FROM countries
INSERT INTO users (user_id, name) SELECT g, 'x' FROM generate_series(1, 3) g ON CONFLICT DO NOTHING
INSERT INTO users (user_id, name) SELECT g, 'x' FROM generate_series(1, 3) g RETURNING user_id
INSERT INTO users (name) SELECT 'x'
SET standard_conforming_strings = off
SET LOCAL standard_conforming_strings TO 'false'
SET standard_conforming_strings = 0
SET standard_conforming_strings = on
# Routed functions (sharding.functions): a call runs on the shard of its key argument.
SELECT place_order(42, 'book')
SELECT place_order($1, $2)
SELECT * FROM place_order(42, 'book') AS o
CALL place_order(42, 'book')
SELECT app.order_total('eur', 7)
SELECT order_total('eur', 7)
SELECT other.order_total('eur', 7)
SELECT renew('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now())
SELECT place_order(42, 'a'), place_order(1, 'b')
SELECT place_order(user_id, 'again') FROM users WHERE user_id = 5
SELECT user_id, place_order(user_id, 'again') FROM users
SELECT place_order(u.user_id, 'x') FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id IN (1, 42)
# ... refused when the key argument does not say where it runs.
SELECT place_order(id, 'x') FROM users_archive
SELECT place_order(k => 42, item => 'book')
SELECT place_order()
SELECT place_order(42 + 1, 'book')
CALL place_order(length('x'), 'book')
CALL other_proc(42)
/* pgshard: shard_key=42 */ CALL place_order(length('x'), 'book')
SELECT count(*) FROM (SELECT DISTINCT country FROM users) t
SELECT name FROM users WHERE balance > (SELECT avg(balance) FROM users) ORDER BY name LIMIT 3
SELECT * FROM users WHERE user_id IN (SELECT user_id FROM orders ORDER BY amount DESC LIMIT 3)
SELECT * FROM users WHERE user_id NOT IN (SELECT user_id FROM orders WHERE amount > 100 LIMIT 3)
WITH x AS (SELECT user_id FROM users ORDER BY name LIMIT 3) SELECT count(*) FROM x
SELECT EXISTS (SELECT 1 FROM orders WHERE amount > 5), ARRAY(SELECT user_id FROM users LIMIT 2), (SELECT max(amount) FROM orders) - 1 AS m
SELECT (SELECT count(*) FROM countries WHERE code IN (SELECT country FROM users WHERE balance > 90)) FROM countries
SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.status = u.country) FROM users u
SELECT * FROM users u WHERE u.balance > (SELECT avg(balance) FROM users WHERE country = $1)
SELECT * FROM users WHERE balance > (SELECT avg(balance) FROM users) FOR UPDATE
SELECT * FROM users u, LATERAL (SELECT count(*) FROM orders o WHERE o.user_id <> u.user_id) x
SELECT code FROM countries UNION ALL SELECT country FROM users
SELECT country FROM users UNION SELECT country FROM users UNION ALL SELECT country FROM users ORDER BY 1 LIMIT 3
COPY (SELECT user_id, name FROM users ORDER BY name LIMIT 10) TO STDOUT (FORMAT csv, HEADER)
COPY (SELECT country, count(*) FROM users GROUP BY country) TO STDOUT
COPY (SELECT country, count(*) FROM users GROUP BY country) TO '/tmp/x'
SELECT a, row_number() OVER (ORDER BY a) FROM users u(a, b)
SELECT * FROM orders o JOIN (SELECT * FROM users u WHERE u.country = 'NL' FOR UPDATE) t ON o.status = t.name
WITH d AS (DELETE FROM orders WHERE user_id = 5 RETURNING *) SELECT * FROM d JOIN users u ON u.name = d.status
SELECT "countries"."code" FROM "countries" WHERE EXISTS(SELECT 1 AS "a" FROM "users" U0 WHERE (U0."country" = ("countries"."code") AND U0."score" > 5) LIMIT 1)
SELECT c.code FROM countries c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.country = lower(c.code) AND u.balance > $1)
SELECT u.user_id, (SELECT sum(o.amount) AS total FROM orders o WHERE o.status = 'paid' AND o.order_id = u.user_id * 2) FROM users u
SELECT u.user_id FROM users u WHERE (SELECT max(o.amount) FROM orders o WHERE o.status = u.country) > 10
SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.status = u.country AND o.amount > u.balance) FROM users u
SELECT c.code, EXISTS (SELECT count(*) FROM users u WHERE u.country = c.code) FROM countries c
SELECT * FROM users TABLESAMPLE SYSTEM (1)
SELECT count(*) FROM users u TABLESAMPLE BERNOULLI (10) REPEATABLE (42) WHERE u.country = 'NL'
SELECT * FROM users TABLESAMPLE BERNOULLI (5) WHERE user_id = 5
SELECT * FROM users TABLESAMPLE SYSTEM_ROWS (10)
SELECT * FROM countries TABLESAMPLE SYSTEM_ROWS (10)
SELECT o.* FROM orders o JOIN users u TABLESAMPLE SYSTEM (50) USING (user_id)
SELECT * FROM XMLTABLE('/a' PASSING (SELECT name::xml FROM users ORDER BY user_id LIMIT 1) COLUMNS b text)
SELECT * FROM JSON_TABLE((SELECT count(*)::text::jsonb FROM users), '$' COLUMNS (a int PATH '$'))
SELECT * FROM (SELECT * FROM users WHERE country = 'NL') t JOIN orders o ON o.user_id = t.user_id
SELECT * FROM (SELECT u.*, c.name AS cname FROM users u JOIN countries c ON c.code = u.country) t WHERE t.user_id = 42
SELECT * FROM (SELECT * FROM users) t(a, b) JOIN orders o ON o.user_id = t.a
SELECT * FROM (SELECT * FROM users u JOIN orders o USING (user_id)) t WHERE t.user_id = 7
CREATE TABLE users_copy AS SELECT * FROM users
SELECT * INTO users_copy2 FROM users WHERE country = 'NL'
CREATE MATERIALIZED VIEW mv AS SELECT * FROM users
CREATE TABLE c2 AS SELECT * FROM countries
CREATE TEMP TABLE t AS SELECT 1
CREATE TABLE x AS SELECT * FROM users WITH NO DATA
SELECT * FROM accounts WHERE account_id = 5
SELECT * FROM app.accounts WHERE account_id = 5
SELECT * FROM other.accounts WHERE account_id = 5
SELECT count(*) FROM accounts a JOIN plans p ON p.id = a.plan_id
# MERGE into a sharded table: co-located source, pinned, refused shapes
MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN MATCHED THEN UPDATE SET amount = u.score WHEN NOT MATCHED THEN INSERT (user_id, amount) VALUES (u.user_id, 0)
MERGE INTO orders o USING users u ON o.user_id = u.user_id AND u.user_id = 5 WHEN MATCHED THEN DELETE
MERGE INTO orders o USING (SELECT user_id, count(*) AS n FROM users GROUP BY user_id) s ON o.user_id = s.user_id WHEN NOT MATCHED THEN INSERT (user_id, amount) VALUES (s.user_id, s.n)
MERGE INTO users u USING countries c ON u.country = c.code WHEN MATCHED THEN UPDATE SET name = c.name
MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN NOT MATCHED THEN INSERT (user_id, amount) VALUES (u.user_id + 1, 0)
MERGE INTO orders o USING (VALUES (5)) v(id) ON o.user_id = v.id WHEN NOT MATCHED THEN INSERT (user_id) VALUES (v.id)
MERGE INTO orders o USING users u ON o.amount = u.score WHEN MATCHED THEN DELETE
MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN MATCHED THEN UPDATE SET user_id = 4
MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN MATCHED THEN UPDATE SET user_id = u.user_id, amount = 0
MERGE INTO users t USING (VALUES (42, 'x')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN UPDATE SET user_id = s.id, name = s.name
MERGE INTO orders o USING users u ON o.user_id = u.user_id WHEN NOT MATCHED BY SOURCE THEN DELETE
MERGE INTO orders o USING (SELECT user_id FROM users ORDER BY score LIMIT 3) u ON o.user_id = u.user_id WHEN MATCHED THEN DELETE
MERGE INTO users t USING (VALUES (42, 'x')) s(id, name) ON t.user_id = s.id WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.id, s.name) WHEN MATCHED THEN UPDATE SET name = s.name
MERGE INTO users t USING (SELECT 42::bigint AS id, 'x' AS name) s ON t.user_id = s.id AND t.name <> s.name WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (id, name)
MERGE INTO orders o USING users u ON o.user_id = u.user_id AND u.user_id = 5 WHEN NOT MATCHED THEN INSERT (user_id) VALUES (u.user_id)
MERGE INTO users t USING (VALUES (42, 'x')) s(id, name) ON t.user_id = s.id WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (7, s.name)
# MERGE with a source of several rows of values: split by key, like a multi-row INSERT
MERGE INTO users t USING (VALUES (1, 'a'), (6, 'b'), (9, 'c'), (10, 'd')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.id, s.name)
MERGE INTO users t USING (VALUES (1, 'a'), (10, 'b')) s(id, name) ON t.user_id = s.id WHEN MATCHED THEN DELETE
MERGE INTO users t USING (VALUES (1, 'a'), (6 + 1, 'b')) s(id, name) ON t.user_id = s.id WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.id, s.name)
MERGE INTO users t USING (VALUES (1, 'a'), (6, 'b')) s(id, name) ON t.user_id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE
WITH w AS (SELECT 1) MERGE INTO users t USING (VALUES (1, 'a'), (6, 'b')) s(id, name) ON t.user_id = s.id WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.id, s.name)
# WITH on an INSERT ... VALUES: CTEs that only read, inlined into the subqueries
WITH x AS (SELECT max(user_id) + 1 AS m FROM users) INSERT INTO users (user_id, name, score) VALUES (5, 'a', (SELECT m FROM x))
WITH x AS (SELECT code FROM countries LIMIT 1) INSERT INTO users (user_id, country) VALUES (9, (SELECT code FROM x))
WITH x AS MATERIALIZED (SELECT max(score) m FROM users) INSERT INTO users (user_id, score) VALUES (5, (SELECT m FROM x))
# A derived table's ORDER BY that the outer query keeps: merged in that order
SELECT * FROM (SELECT user_id FROM users ORDER BY score DESC) t LIMIT 3
WITH t AS (SELECT user_id, upper(name) FROM users ORDER BY 2, user_id) SELECT * FROM t
SELECT t.user_id FROM (SELECT user_id, name FROM users ORDER BY name COLLATE "C") t WHERE t.user_id > 5 LIMIT 2
SELECT x.* FROM (SELECT user_id, 2 AS two FROM users ORDER BY score) x(a) OFFSET 2
SELECT * FROM (SELECT * FROM (SELECT user_id, name FROM users ORDER BY created, 2) a) b LIMIT 4
SELECT count(*) FROM (SELECT user_id FROM users ORDER BY score) t
# ... refused (then staged) where an outer LIMIT would pick other rows
SELECT * FROM (SELECT * FROM users ORDER BY score * 2) t WHERE t.score > 1 LIMIT 1
# DISTINCT ON in a subquery is local only when its ON list has the key
SELECT count(*) FROM (SELECT DISTINCT ON (country) country, user_id FROM users ORDER BY country, score) t
SELECT count(*) FROM (SELECT DISTINCT ON (user_id) user_id, amount FROM orders ORDER BY user_id, amount) t
# A pin filters the rows around it only where its relation does: a
# positive EXISTS or IN, an inner join. In NOT EXISTS, NOT IN, an OR, the
# select list, or the nullable side of an outer join it pins only its own
# relation's rows, and the statement reads every shard.
SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
SELECT * FROM users u WHERE u.score > 90 OR EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
SELECT * FROM users u WHERE u.user_id NOT IN (SELECT o.user_id FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5) FROM users u
SELECT u.user_id, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND u.user_id = 5) FROM users u
SELECT u.user_id, o.amount FROM users u LEFT JOIN (SELECT * FROM orders WHERE user_id = 5) o ON o.user_id = u.user_id
SELECT u.user_id, o.amount FROM users u JOIN (SELECT * FROM orders WHERE user_id = 5) o ON o.user_id = u.user_id
SELECT u.user_id, o.amount FROM orders o RIGHT JOIN users u ON o.user_id = u.user_id AND o.user_id = 5
SELECT u.user_id, o.amount FROM users u LEFT JOIN orders o ON o.user_id = u.user_id WHERE o.user_id = 5
SELECT u.user_id, o.amount FROM users u FULL JOIN (SELECT * FROM orders WHERE user_id = 5) o ON o.user_id = u.user_id WHERE u.user_id = 6
WITH t AS (SELECT * FROM orders WHERE user_id = 5) SELECT u.user_id, t.amount FROM users u JOIN t USING (user_id)
WITH t AS (SELECT * FROM orders WHERE user_id = 5) SELECT u.user_id, t.amount FROM users u LEFT JOIN t USING (user_id)
WITH t AS (SELECT * FROM orders WHERE user_id = 5), s AS (SELECT user_id FROM t) SELECT * FROM s
WITH t AS (SELECT user_id FROM orders) SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.user_id = u.user_id AND t.user_id = 5)
WITH t AS (SELECT * FROM orders WHERE user_id = 5) SELECT EXISTS (SELECT 1 FROM t)
DELETE FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
UPDATE users u SET score = (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
DELETE FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5)
# FETCH FIRST ROW ONLY's count is a constant the grammar makes up
SELECT u.user_id FROM users u WHERE u.score > 98 ORDER BY u.user_id FETCH FIRST ROW ONLY
SELECT u.user_id FROM users u WHERE u.score > -98 ORDER BY u.user_id FETCH FIRST ROW ONLY
SELECT u.user_id FROM users u WHERE u.score > 98 ORDER BY u.user_id OFFSET 2 ROWS FETCH NEXT ROW ONLY
# A data-modifying CTE's RETURNING rows come from the shards it wrote on
WITH d AS (DELETE FROM orders WHERE user_id IN (1, 6, 9) RETURNING *) SELECT count(*), sum(amount) FROM d
WITH d AS (UPDATE countries SET name = 'x' WHERE code = 'fr' RETURNING *) SELECT count(*) FROM d
# Keys on several shards that the merge cannot combine: one message
SELECT country, count(*) FROM users WHERE user_id IN (1, 6) GROUP BY ROLLUP (country)
SELECT country, string_agg(name, ',' ORDER BY name) FROM users WHERE user_id IN (1, 6) GROUP BY country
