"""What an asyncpg application does with tables sharded by their key,
printed as a transcript of every answer. The Go test (pydrivers_test.go)
runs it through pgshard, over several shards, and against one unsharded
PostgreSQL, and requires identical transcripts.

Usage: python3 asyncpg_sharded.py DSN

asyncpg prepares every statement under a name of its own and caches it
per connection, binds in binary, introspects types it does not know, and
pipelines executemany: the habits that break it behind a transaction
pooler. It covers those statements re-used across transactions and
connections, executemany (atomic, rows for every shard), explicit
prepared statements, cursors in transactions over merged results, nested
transactions (savepoints), COPY of records (binary COPY FROM) and COPY
out of a query, and a pool of concurrent connections.
"""
import asyncio
import datetime
import decimal
import json
import sys

import asyncpg

DSN = sys.argv[1]
T0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def out(*words):
    print(*words, flush=True)


def fail(what, e):
    out(what, e.sqlstate, str(e).splitlines()[0])


def row_of(i):
    return (i, "owner-%d" % (i % 7), decimal.Decimal(i * 37 % 1000) / 10,
            ["t%d" % (i % 3), "all"], json.dumps({"n": i, "even": i % 2 == 0}),
            T0 + datetime.timedelta(hours=i))


async def main():
    c = await asyncpg.connect(DSN)
    await c.execute("DROP TABLE IF EXISTS apacc, apledger")
    await c.execute("""CREATE TABLE apacc (id bigint PRIMARY KEY, owner text NOT NULL,
        balance numeric(12,2) NOT NULL, tags text[], meta jsonb, created timestamptz NOT NULL)""")
    await c.execute("""CREATE TABLE apledger (id bigint NOT NULL, n int NOT NULL,
        amount numeric(12,2) NOT NULL, PRIMARY KEY (id, n))""")

    await c.executemany("INSERT INTO apacc VALUES ($1, $2, $3, $4, $5, $6)", [row_of(i) for i in range(1, 151)])
    out("executemany rows", await c.fetchval("SELECT count(*) FROM apacc"))
    try:
        await c.executemany("INSERT INTO apacc VALUES ($1, $2, $3, $4, $5, $6)", [row_of(i) for i in (1001, 1002, 1003, 1004, 7)])
    except asyncpg.PostgresError as e:
        fail("failing executemany", e)
    out("after failing executemany", await c.fetchval("SELECT count(*) FROM apacc WHERE id > 1000"))

    # The same statements again and again: asyncpg's statement cache.
    for i in (3, 17, 29, 44, 58, 71, 3, 17):
        r = await c.fetchrow("SELECT owner, balance, tags, meta, created FROM apacc WHERE id = $1", i)
        out("by key", i, r["owner"], r["balance"], r["tags"], r["meta"], r["created"].isoformat())
    for lo in (10, 20, 30, 40):
        r = await c.fetchrow("SELECT count(*), sum(balance), min(owner), max(created), avg(balance)::numeric(12,3) FROM apacc WHERE id > $1", lo)
        out("merged aggregate", lo, r[0], r[1], r[2], r[3].isoformat(), r[4])
    out("any list", [tuple(r) for r in await c.fetch("SELECT id, owner FROM apacc WHERE id = ANY($1::bigint[]) ORDER BY id DESC", [5, 50, 95, 140, 999])])
    out("grouped", [tuple(r) for r in await c.fetch(
        "SELECT owner, count(*), sum(balance) FROM apacc WHERE meta @> $1::jsonb GROUP BY owner HAVING count(*) > $2 ORDER BY owner",
        json.dumps({"even": True}), 5)])
    out("top", [tuple(r) for r in await c.fetch("SELECT id, balance FROM apacc ORDER BY balance DESC, id LIMIT $1 OFFSET $2", 4, 2)])

    ps = await c.prepare("SELECT id, owner, balance FROM apacc WHERE owner = $1 AND id < $2 ORDER BY id")
    out("prepared", [a.name for a in ps.get_attributes()], [tuple(r) for r in await ps.fetch("owner-3", 60)])
    out("prepared again", [tuple(r) for r in await ps.fetch("owner-4", 30)])

    async with c.transaction():
        rows = []
        async for r in c.cursor("SELECT id, balance FROM apacc WHERE id % 4 = $1 ORDER BY balance DESC, id", 1, prefetch=9):
            rows.append(tuple(r))
        out("cursor", len(rows), rows[:3], rows[-1])
        cur = await c.cursor("SELECT id FROM apacc ORDER BY id DESC")
        out("cursor fetch", [r[0] for r in await cur.fetch(3)], await cur.forward(10), (await cur.fetchrow())[0])

    async with c.transaction():
        await c.execute("UPDATE apacc SET balance = balance + 1 WHERE id = $1", 1)
        try:
            async with c.transaction():
                await c.execute("UPDATE apacc SET balance = balance + 100 WHERE id = $1", 2)
                await c.execute("UPDATE apacc SET balance = balance + 100 WHERE id = $1", 3)
                await c.execute("INSERT INTO apacc VALUES ($1, $2, $3, $4, $5, $6)", *row_of(4))
        except asyncpg.PostgresError as e:
            fail("inner transaction", e)
        async with c.transaction():
            await c.execute("UPDATE apacc SET balance = balance + 10 WHERE id = $1", 5)
    out("after savepoints", [tuple(r) for r in await c.fetch("SELECT id, balance FROM apacc WHERE id <= 5 ORDER BY id")])

    try:
        async with c.transaction():
            for i in range(1, 7):
                await c.execute("INSERT INTO apledger VALUES ($1, 1, 1)", i)
            await c.execute("INSERT INTO apledger VALUES ($1, 1, 1)", 2)
    except asyncpg.PostgresError as e:
        fail("failing transaction", e)
    out("after failing transaction", await c.fetchval("SELECT count(*) FROM apledger"))

    n = await c.copy_records_to_table("apledger", records=[(i, i, decimal.Decimal(i) / 8) for i in range(100, 140)], columns=["id", "n", "amount"])
    out("copy records", n, await c.fetchval("SELECT sum(amount) FROM apledger"))
    buf = []

    async def sink(b):
        buf.append(bytes(b))

    await c.copy_from_query("SELECT id, owner FROM apacc WHERE id > $1 ORDER BY id", 140, output=sink)
    out("copy out", b"".join(buf).decode().splitlines())

    pool = await asyncpg.create_pool(DSN, min_size=4, max_size=4)

    async def worker(k):
        total = decimal.Decimal(0)
        for i in range(30):
            key = (k * 31 + i) % 150 + 1
            async with pool.acquire() as pc:
                async with pc.transaction():
                    await pc.execute("INSERT INTO apledger VALUES ($1, $2, $3)", key, 1000 + k * 100 + i, decimal.Decimal(1))
                    total += await pc.fetchval("SELECT balance FROM apacc WHERE id = $1", key)
        return total

    totals = await asyncio.gather(*[worker(k) for k in range(6)])
    await pool.close()
    out("pool", sum(totals), await c.fetchval("SELECT count(*) FROM apledger WHERE n >= 1000"))

    for q in ("SELEC 1", "SELECT nosuch FROM apacc"):
        try:
            await c.fetch(q)
        except asyncpg.PostgresError as e:
            fail("error", e)
    try:
        await c.execute("INSERT INTO apacc VALUES ($1, $2, $3, $4, $5, $6)", *row_of(9))
    except asyncpg.PostgresError as e:
        fail("error", e)
    await c.close()

    # add_listener: asyncpg LISTENs and reads notifications as they come,
    # whatever the connection is doing; another connection NOTIFYs.
    lc = await asyncpg.connect(DSN)
    nc = await asyncpg.connect(DSN)
    got = asyncio.Queue()

    def heard_one(conn, pid, channel, payload):
        got.put_nowait((channel, payload))

    await lc.add_listener("apjobs", heard_one)
    await nc.execute("NOTIFY apjobs, 'one'")
    await nc.execute("SELECT pg_notify('apjobs', $1)", "two")
    heard = [await asyncio.wait_for(got.get(), 10) for _ in range(2)]
    out("notifications", heard)
    await lc.remove_listener("apjobs", heard_one)  # UNLISTEN
    await nc.execute("NOTIFY apjobs, 'after'")
    out("after remove_listener", await lc.fetchval("SELECT 1"), got.qsize())
    await nc.close()
    await lc.close()
    out("done")


asyncio.run(main())
