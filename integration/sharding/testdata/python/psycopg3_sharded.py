"""What a psycopg 3 application does with tables sharded by their key,
printed as a transcript of every answer. The Go test (pydrivers_test.go)
runs it through pgshard, over several shards, and against one unsharded
PostgreSQL, and requires identical transcripts.

Usage: python3 psycopg3_sharded.py DSN

It covers executemany (psycopg's pipelined batch), statements prepared
on the server after prepare_threshold uses, an explicit pipeline with an
error in its middle, server-side cursors (psycopg's named cursors, which
describe the cursor's portal before fetching) over merged results,
scrollable and WITH HOLD ones included, nested transactions (savepoints)
over several shards, COPY in text and binary and COPY out, binary results,
row streaming, parameters of the types applications bind (lists as
arrays, JSON, Decimal, datetimes), and UPDATEs that give rows a key
another shard owns (moved there), prepared on the server too.
"""
import datetime
import decimal
import sys

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

DSN = sys.argv[1]
T0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def out(*words):
    print(*words, flush=True)


def fail(what, e):
    out(what, e.sqlstate, str(e).splitlines()[0])


def row_of(i):
    return (i, "owner-%d" % (i % 7), decimal.Decimal(i * 37 % 1000) / 10,
            ["t%d" % (i % 3), "all"], Jsonb({"n": i, "even": i % 2 == 0}),
            T0 + datetime.timedelta(hours=i))


with psycopg.connect(DSN, autocommit=True) as c:
    c.execute("DROP TABLE IF EXISTS pyacc, pyledger")
    c.execute("""CREATE TABLE pyacc (id bigint PRIMARY KEY, owner text NOT NULL,
        balance numeric(12,2) NOT NULL, tags text[], meta jsonb, created timestamptz NOT NULL)""")
    c.execute("""CREATE TABLE pyledger (id bigint NOT NULL, n int NOT NULL,
        amount numeric(12,2) NOT NULL, PRIMARY KEY (id, n))""")

    with c.cursor() as cur:
        cur.executemany("INSERT INTO pyacc VALUES (%s, %s, %s, %s, %s, %s)", [row_of(i) for i in range(1, 151)])
        out("executemany rows", c.execute("SELECT count(*) FROM pyacc").fetchone()[0])
        # A batch whose last row repeats a key fails whole.
        try:
            cur.executemany("INSERT INTO pyacc VALUES (%s, %s, %s, %s, %s, %s)", [row_of(i) for i in (1001, 1002, 1003, 1004, 1005, 7)])
        except errors.UniqueViolation as e:
            fail("failing executemany", e)
        out("after failing executemany", c.execute("SELECT count(*) FROM pyacc WHERE id > 1000").fetchone()[0])

with psycopg.connect(DSN, prepare_threshold=2) as c:
    # After two uses psycopg prepares the statement on the server.
    for i in (3, 17, 29, 44, 58, 71):
        r = c.execute("SELECT owner, balance, tags, meta, created FROM pyacc WHERE id = %s", (i,)).fetchone()
        out("by key", i, r[0], r[1], r[2], r[3], r[4].isoformat())
    for lo in (10, 20, 30, 40):
        r = c.execute("SELECT count(*), sum(balance), min(owner), max(created) FROM pyacc WHERE id > %s", (lo,)).fetchone()
        out("merged aggregate", lo, r[0], r[1], r[2], r[3].isoformat())
    r = c.execute("SELECT id, owner FROM pyacc WHERE id = ANY(%s) ORDER BY id DESC", ([5, 50, 95, 140, 999],)).fetchall()
    out("any list", r)
    r = c.execute("SELECT owner, count(*), sum(balance) FROM pyacc WHERE meta @> %s GROUP BY owner HAVING count(*) > 5 ORDER BY owner",
                  (Jsonb({"even": True}),)).fetchall()
    out("jsonb filter grouped", r)
    c.commit()

    # An explicit pipeline: statements for several shards, one failing in
    # the middle; the transaction it runs in rolls back whole.
    try:
        with c.pipeline():
            c.execute("INSERT INTO pyledger VALUES (%s, 1, 10)", (1,))
            c.execute("INSERT INTO pyledger VALUES (%s, 1, 10)", (2,))
            c.execute("INSERT INTO pyledger VALUES (%s, 1, 10)", (1,))
            c.execute("INSERT INTO pyledger VALUES (%s, 1, 10)", (3,))
    except errors.UniqueViolation as e:
        fail("pipeline", e)
    c.rollback()
    out("after failing pipeline", c.execute("SELECT count(*) FROM pyledger").fetchone()[0])
    with c.pipeline():
        for i in range(1, 41):
            c.execute("INSERT INTO pyledger VALUES (%s, %s, %s)", (i % 13 + 1, i, decimal.Decimal(i) / 4))
        cur = c.execute("SELECT count(*), sum(amount) FROM pyledger")
    out("pipeline in a transaction", cur.fetchone())
    c.commit()

    # Named cursors: DECLARE, then Describe of the cursor's portal, then
    # FETCH in chunks.
    with c.cursor("chunks") as sc:
        sc.itersize = 40
        sc.execute("SELECT id, balance FROM pyacc WHERE id %% 3 = %s ORDER BY balance DESC, id", (1,))
        first = sc.fetchmany(7)
        rest = sc.fetchall()
        out("named cursor", [d.name for d in sc.description], first, len(rest), rest[-1])
    c.commit()
    with c.cursor("scroller", scrollable=True) as sc:
        sc.execute("SELECT id FROM pyacc ORDER BY id")
        sc.scroll(10, mode="absolute")
        a = sc.fetchone()
        sc.scroll(-3)
        b = sc.fetchone()
        out("scrollable cursor", a, b, sc.fetchmany(2))
    c.commit()
    c.autocommit = True
    with c.cursor("held", withhold=True) as sc:
        sc.execute("SELECT owner, count(*) FROM pyacc GROUP BY owner ORDER BY 2 DESC, 1")
        out("with hold cursor", sc.fetchmany(3), len(sc.fetchall()))
    # One on one shard, which in transaction pooling pgshard holds too.
    with c.cursor("held_one", withhold=True) as sc:
        sc.execute("SELECT id, owner FROM pyacc WHERE id = %s", (9,))
        out("with hold on one shard", sc.fetchall())
    # One declared in a transaction that rolls back goes with it.
    c.autocommit = False
    sc = c.cursor("gone", withhold=True)
    sc.execute("SELECT id FROM pyacc ORDER BY id")
    out("before rollback", sc.fetchone())
    c.rollback()
    try:
        sc.fetchone()
    except psycopg.Error as e:
        fail("after rollback", e)
    c.rollback()
    kept = c.cursor("kept", withhold=True)
    kept.execute("SELECT id FROM pyacc WHERE id > 140 ORDER BY id")
    c.commit()
    out("after commit", kept.fetchmany(2))
    kept.close()
    c.commit()

    # Nested transactions are savepoints, here over several shards.
    with c.transaction():
        c.execute("UPDATE pyacc SET balance = balance + 1 WHERE id = %s", (1,))
        try:
            with c.transaction():
                c.execute("UPDATE pyacc SET balance = balance + 100 WHERE id = %s", (2,))
                c.execute("UPDATE pyacc SET balance = balance + 100 WHERE id = %s", (3,))
                c.execute("INSERT INTO pyacc VALUES (%s, %s, %s, %s, %s, %s)", row_of(4))
        except errors.UniqueViolation as e:
            fail("inner transaction", e)
        with c.transaction():
            c.execute("UPDATE pyacc SET balance = balance + 10 WHERE id = %s", (5,))
    c.commit()
    out("after savepoints", c.execute("SELECT id, balance FROM pyacc WHERE id <= 5 ORDER BY id").fetchall())

    with c.cursor() as cur:
        with cur.copy("COPY pyacc (id, owner, balance, tags, meta, created) FROM STDIN") as cp:
            for i in range(201, 231):
                cp.write_row(row_of(i))
        with cur.copy("COPY pyledger (id, n, amount) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "int4", "numeric"])
            for i in range(100, 130):
                cp.write_row((i, i, decimal.Decimal(i) / 8))
    c.commit()
    out("after copy", c.execute("SELECT count(*), sum(balance) FROM pyacc").fetchone(),
        c.execute("SELECT count(*), sum(amount) FROM pyledger").fetchone())
    with c.cursor() as cur:
        with cur.copy("COPY (SELECT id, owner FROM pyacc WHERE id > 215 ORDER BY id) TO STDOUT") as cp:
            out("copy out", [r for r in cp.rows()])

    # A new key moves rows to its shard; prepared from the third time on.
    for old in (100, 101, 102, 103):
        moved = c.execute("UPDATE pyledger SET id = %s, amount = amount * 2 WHERE id = %s RETURNING id, n, amount", (old + 9000, old)).fetchall()
        out("moved", old, moved)
    c.commit()
    out("after moves", c.execute("SELECT count(*), sum(amount), sum(id) FROM pyledger").fetchone())

    with c.cursor(binary=True) as cur:
        r = cur.execute("SELECT owner, count(*), sum(balance), avg(balance)::numeric(12,4), array_agg(id ORDER BY id) FROM pyacc WHERE id < 40 GROUP BY owner ORDER BY owner").fetchall()
        out("binary results", r)
    with c.cursor() as cur:
        n = 0
        last = None
        for row in cur.stream("SELECT id, created FROM pyacc ORDER BY created DESC LIMIT 25"):
            n += 1
            last = row
        out("stream", n, last[0], last[1].isoformat())
    c.commit()

    for q in ("SELEC 1", "SELECT nosuch FROM pyacc", "INSERT INTO pyacc (id, owner, balance, created) VALUES (1, 'x', 1, now())"):
        try:
            c.execute(q)
        except psycopg.Error as e:
            fail("error", e)
        c.rollback()
    out("done")
