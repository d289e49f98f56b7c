"""What a psycopg2 application (Django's and SQLAlchemy's default driver)
does with tables sharded by their key, printed as a transcript of every
answer. The Go test (pydrivers_test.go) runs it through pgshard, over
several shards, and against one unsharded PostgreSQL, and requires
identical transcripts.

Usage: python3 psycopg2_sharded.py DSN

psycopg2 speaks only the simple protocol, with parameters written into
the text. It covers execute_batch (several statements in one query
string, for several shards), execute_values (multi-row INSERTs split by
shard), named cursors (DECLARE ... FETCH FORWARD, WITH HOLD as Django's
iterator() declares them in autocommit, and one whose transaction rolls
back), copy_from and copy_expert, errors in transactions, and LISTEN in a
transaction with notifications read by poll().
"""
import decimal
import select
import sys
import time

import psycopg2
import psycopg2.extras

DSN = sys.argv[1]


def out(*words):
    print(*words, flush=True)


def fail(what, e):
    out(what, e.pgcode, str(e).splitlines()[0])


c = psycopg2.connect(DSN)
cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS p2acc")
cur.execute("CREATE TABLE p2acc (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL)")
c.commit()

psycopg2.extras.execute_values(cur, "INSERT INTO p2acc VALUES %s",
                               [(i, "owner-%d" % (i % 5), decimal.Decimal(i * 37 % 1000) / 10) for i in range(1, 101)], page_size=40)
c.commit()
cur.execute("SELECT count(*), sum(balance) FROM p2acc")
out("execute_values", cur.fetchone())

# execute_batch sends page_size statements as one query string.
psycopg2.extras.execute_batch(cur, "UPDATE p2acc SET balance = balance + %s WHERE id = %s",
                              [(1, i) for i in range(1, 31)], page_size=10)
c.commit()
cur.execute("SELECT sum(balance) FROM p2acc WHERE id <= 30")
out("execute_batch", cur.fetchone())
try:
    psycopg2.extras.execute_batch(cur, "INSERT INTO p2acc VALUES (%s, 'x', 0)", [(i,) for i in (201, 202, 203, 5, 204)], page_size=5)
except psycopg2.Error as e:
    fail("failing batch", e)
c.rollback()
cur.execute("SELECT count(*) FROM p2acc WHERE id > 200")
out("after failing batch", cur.fetchone())
c.commit()

named = c.cursor("chunks")
named.itersize = 25
named.execute("SELECT id, balance FROM p2acc ORDER BY balance DESC, id")
rows = [r for r in named]
out("named cursor", len(rows), rows[:2], rows[-1])
named.close()
c.commit()

# Django's iterator(): a WITH HOLD cursor declared in autocommit.
c.autocommit = True
held = c.cursor("django_like", withhold=True)
held.itersize = 7
held.execute("SELECT owner, count(*), sum(balance) FROM p2acc GROUP BY owner ORDER BY owner")
out("with hold in autocommit", [r for r in held])
held.close()
one = c.cursor("one_shard", withhold=True)
one.execute("SELECT id, owner FROM p2acc WHERE id = %s", (42,))
out("with hold on one shard", one.fetchall())
one.close()
c.autocommit = False

gone = c.cursor("gone", withhold=True)
gone.execute("SELECT id FROM p2acc ORDER BY id")
out("before rollback", gone.fetchone())
c.rollback()
plain = c.cursor()
try:
    plain.execute('FETCH FORWARD 1 FROM "gone"')
except psycopg2.Error as e:
    fail("after rollback", e)
c.rollback()

cur.copy_from(__import__("io").StringIO("".join("%d\towner-c\t%d.25\n" % (i, i) for i in range(301, 331))), "p2acc", columns=("id", "owner", "balance"))
c.commit()
buf = __import__("io").StringIO()
cur.copy_expert("COPY (SELECT id, balance FROM p2acc WHERE id > 320 ORDER BY id) TO STDOUT WITH (FORMAT csv)", buf)
out("copy", buf.getvalue().splitlines())

cur.execute("SELECT id FROM p2acc WHERE id = 1")
try:
    cur.execute("SELECT 1/0 FROM p2acc WHERE id = 2")
except psycopg2.Error as e:
    fail("error in transaction", e)
try:
    cur.execute("SELECT 1")
except psycopg2.Error as e:
    fail("then", e)
c.rollback()
cur.execute("SELECT count(*) FROM p2acc")
out("after rollback", cur.fetchone())
c.close()

# LISTEN as psycopg2 applications wait for notifications: in a transaction
# (autocommit is off) that commits, then poll() whenever select() finds
# the connection readable. A LISTEN rolled back hears nothing.
lc = psycopg2.connect(DSN)
lcur = lc.cursor()
lcur.execute("LISTEN p2jobs")
lc.commit()
lcur.execute("LISTEN p2never")
lc.rollback()
nc = psycopg2.connect(DSN)
nc.autocommit = True
ncur = nc.cursor()
ncur.execute("NOTIFY p2never, 'no'")
ncur.execute("NOTIFY p2jobs, 'one'")
ncur.execute("SELECT pg_notify('p2jobs', 'two')")
got = []
deadline = time.time() + 10
while len(got) < 2 and time.time() < deadline:
    if select.select([lc], [], [], 1) != ([], [], []):
        lc.poll()
        while lc.notifies:
            n = lc.notifies.pop(0)
            got.append((n.channel, n.payload))
out("notifications", got)
nc.close()
lc.close()
out("done")
