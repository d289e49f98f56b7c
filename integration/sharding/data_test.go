package sharding_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// The test schema: users and orders sharded by user_id, countries copied
// to every shard, settings only on the default shard.
var schema = []string{
	`DROP TABLE IF EXISTS users, orders, countries, settings`,
	`CREATE TABLE users (user_id bigint PRIMARY KEY, name text NOT NULL, country text, balance numeric(12,2), score int, created date)`,
	`CREATE TABLE orders (order_id bigint NOT NULL, user_id bigint NOT NULL, amount numeric(10,2), status text, PRIMARY KEY (user_id, order_id))`,
	`CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL)`,
	`CREATE TABLE settings (k text PRIMARY KEY, v text)`,
}

const nUsers = 600

var countryCodes = []string{"fr", "de", "it", "es", "pl", "nl"}

// dataset is the rows both databases get, as SQL statements: multi-row
// INSERTs of 25 users (split by pgshard across shards), and orders as
// parameterized rows, inserted through prepared statements.
type dataset struct {
	simple []string
	orders [][]any
}

func makeDataset() dataset {
	r := rand.New(rand.NewPCG(4, 2))
	var d dataset
	var b strings.Builder
	b.WriteString("INSERT INTO countries (code, name) VALUES ")
	for i, c := range countryCodes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "('%s', 'Country %s')", c, strings.ToUpper(c))
	}
	d.simple = append(d.simple, b.String(), `INSERT INTO settings (k, v) VALUES ('mode', 'test'), ('level', '3')`)
	for start := 1; start <= nUsers; start += 25 {
		b.Reset()
		b.WriteString("INSERT INTO users (user_id, name, country, balance, score, created) VALUES ")
		for id := start; id < start+25; id++ {
			if id > start {
				b.WriteString(",\n  ")
			}
			country := "NULL"
			if r.IntN(8) > 0 {
				country = "'" + countryCodes[r.IntN(len(countryCodes))] + "'"
			}
			balance := "NULL"
			if r.IntN(10) > 0 {
				balance = fmt.Sprintf("%d.%02d", r.IntN(5000)-500, r.IntN(100))
			}
			fmt.Fprintf(&b, "(%d, 'user %04d', %s, %s, %d, DATE '2024-01-01' + %d)", id, id, country, balance, r.IntN(100), r.IntN(700))
		}
		d.simple = append(d.simple, b.String())
	}
	order := 0
	for id := 1; id <= nUsers; id++ {
		for k := r.IntN(5); k > 0; k-- {
			order++
			status := []string{"new", "paid", "shipped"}[r.IntN(3)]
			d.orders = append(d.orders, []any{order, id, fmt.Sprintf("%d.%02d", r.IntN(300), r.IntN(100)), status})
		}
	}
	return d
}

// load creates the schema and inserts the dataset through conn.
func load(ctx context.Context, t testing.TB, conn *pgx.Conn, d dataset) {
	t.Helper()
	for _, q := range schema {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range d.simple {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	// Orders four rows per prepared statement, the rest one by one.
	const multi = `INSERT INTO orders (order_id, user_id, amount, status) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8), ($9, $10, $11, $12), ($13, $14, $15, $16)`
	rows := d.orders
	for len(rows) >= 4 {
		var args []any
		for _, r := range rows[:4] {
			args = append(args, r...)
		}
		if _, err := conn.Exec(ctx, multi, args...); err != nil {
			t.Fatalf("multi-row orders: %v", err)
		}
		rows = rows[4:]
	}
	for _, r := range rows {
		if _, err := conn.Exec(ctx, `INSERT INTO orders (order_id, user_id, amount, status) VALUES ($1, $2, $3, $4)`, r...); err != nil {
			t.Fatalf("orders: %v", err)
		}
	}
}

// loadedPair connects through pgshard p and to the reference server, and
// loads the test dataset into both: the same rows sharded and on one server.
func loadedPair(ctx context.Context, t testing.TB, p *pgshardtest.Proxy) (through, ref *pgx.Conn) {
	t.Helper()
	through = connect(t, p.DSN("app", "app-secret"))
	ref = connect(t, single.Shards[0].Primary.DSN())
	d := makeDataset()
	load(ctx, t, through, d)
	load(ctx, t, ref, d)
	return through, ref
}
