package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The sample schema: users and orders sharded by user_id (co-located, so a
// user's orders are on the user's shard), countries copied to every shard,
// app_settings on the default shard only, and place_order, a function
// routed by its user_id argument.
const shardingYAML = `    sharding:
      tables:
        - {name: users, key: user_id, key_type: bigint}
        - {name: orders, key: user_id, key_type: bigint}
      reference_tables: [countries]
      default_shard: s0
      functions:
        - {name: place_order, key_arg: 1, table: orders}
`

// sampleDDL runs through pgshard, which sends DDL to every shard.
var sampleDDL = []string{
	`CREATE TABLE countries (
		code text PRIMARY KEY,
		name text NOT NULL)`,
	// user_id comes from a sequence: pgshard takes each new row's key from
	// the default shard's copy of it, then sends the row to its shard.
	`CREATE TABLE users (
		user_id bigserial PRIMARY KEY,
		name text NOT NULL,
		email text NOT NULL,
		country text NOT NULL REFERENCES countries (code),
		balance numeric(12,2) NOT NULL DEFAULT 0,
		created_at timestamptz NOT NULL DEFAULT now())`,
	// The key leads the primary key: uniqueness is checked per shard, so a
	// unique index of a sharded table must include its shard key. The
	// foreign key holds on each shard because orders live with their user.
	`CREATE TABLE orders (
		user_id bigint NOT NULL REFERENCES users (user_id),
		order_id bigint NOT NULL,
		amount numeric(10,2) NOT NULL,
		status text NOT NULL,
		created_at timestamptz NOT NULL,
		PRIMARY KEY (user_id, order_id))`,
	`CREATE TABLE app_settings (
		key text PRIMARY KEY,
		value text NOT NULL)`,
	// Routed by its first argument (sharding.functions): it runs on that
	// user's shard, where the user's orders are.
	`CREATE FUNCTION place_order(uid bigint, amt numeric) RETURNS bigint LANGUAGE sql AS $$
		INSERT INTO orders (user_id, order_id, amount, status, created_at)
		SELECT uid, coalesce(max(order_id), 0) + 1, amt, 'new', now() FROM orders WHERE user_id = uid
		RETURNING order_id $$`,
}

// The example queries printed after "ready", each prefixed "try ".
var tryQueries = []string{
	"SELECT * FROM users WHERE user_id = 42;",
	"SELECT country, count(*), round(avg(balance), 2) AS avg_balance FROM users GROUP BY country ORDER BY 2 DESC;",
	"SELECT u.name, sum(o.amount) FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = 7 GROUP BY u.name;",
	"SELECT u.user_id, u.name, (SELECT o.amount FROM orders o WHERE o.user_id = u.user_id ORDER BY o.created_at DESC LIMIT 1) AS last_order FROM users u ORDER BY u.user_id LIMIT 5;",
	"SELECT user_id, name, balance FROM users WHERE balance > (SELECT avg(balance) + 400 FROM users) ORDER BY balance DESC LIMIT 5;",
	"SELECT place_order(42, 19.99);",
	"UPDATE orders SET status = 'priority' WHERE user_id IN (SELECT user_id FROM users ORDER BY balance DESC LIMIT 3) AND status = 'new' RETURNING user_id, order_id;",
	"INSERT INTO users (name, email, country) VALUES ('Ada Lovelace', 'ada@example.com', 'GB') RETURNING user_id;",
	"UPDATE orders SET user_id = 9 WHERE user_id = 7 RETURNING user_id, order_id;",
}

const (
	sampleUsers = 2000
	batchRows   = 200
)

var countries = [][2]string{
	{"DE", "Germany"}, {"FR", "France"}, {"GB", "United Kingdom"}, {"US", "United States"},
	{"JP", "Japan"}, {"BR", "Brazil"}, {"IN", "India"}, {"NG", "Nigeria"},
}

var firstNames = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "Niklaus"}

// sampleCounts is what loadSample inserted.
type sampleCounts struct{ countries, users, orders, settings int }

// loadSample creates the sample schema through pgshard at dsn and fills
// it with deterministic rows, in multi-row INSERTs of about batchRows rows
// that pgshard splits by shard.
func loadSample(ctx context.Context, dsn string) (sampleCounts, error) {
	var n sampleCounts
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return n, fmt.Errorf("connect to pgshard: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exec := func(sql string) error {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%w\nstatement: %s", err, abbreviate(sql))
		}
		return nil
	}
	for _, ddl := range sampleDDL {
		if err := exec(ddl); err != nil {
			return n, err
		}
	}

	// countries is a reference table: one INSERT, written to every shard.
	var rows []string
	for _, c := range countries {
		rows = append(rows, fmt.Sprintf("('%s', '%s')", c[0], c[1]))
	}
	if err := exec("INSERT INTO countries (code, name) VALUES " + strings.Join(rows, ", ")); err != nil {
		return n, err
	}
	n.countries = len(countries)

	rng := rand.New(rand.NewPCG(42, 2026))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	stamp := func() string {
		return base.Add(time.Duration(rng.IntN(365*24*60)) * time.Minute).Format("2006-01-02 15:04:05+00")
	}
	money := func(maxCents int) string {
		c := rng.IntN(maxCents)
		return fmt.Sprintf("%d.%02d", c/100, c%100)
	}
	flush := func(head string) error {
		if len(rows) == 0 {
			return nil
		}
		err := exec(head + strings.Join(rows, ",\n"))
		rows = rows[:0]
		return err
	}

	// The keys are left to user_id's sequence: 1, 2, 3, ... in row order,
	// as one PostgreSQL would give them.
	const usersHead = "INSERT INTO users (name, email, country, balance, created_at) VALUES "
	rows = rows[:0]
	orderCounts := make([]int, sampleUsers+1)
	for id := 1; id <= sampleUsers; id++ {
		name := fmt.Sprintf("%s %d", firstNames[rng.IntN(len(firstNames))], id)
		rows = append(rows, fmt.Sprintf("('%s', 'user%d@example.com', '%s', %s, '%s')",
			name, id, countries[rng.IntN(len(countries))][0], money(100000), stamp()))
		orderCounts[id] = rng.IntN(7) // 0..6, about 3 a user
		if len(rows) == batchRows {
			if err := flush(usersHead); err != nil {
				return n, err
			}
		}
	}
	if err := flush(usersHead); err != nil {
		return n, err
	}
	n.users = sampleUsers

	const ordersHead = "INSERT INTO orders (user_id, order_id, amount, status, created_at) VALUES "
	statuses := []string{"new", "paid", "paid", "shipped", "shipped", "cancelled"}
	for id := 1; id <= sampleUsers; id++ {
		for range orderCounts[id] {
			n.orders++
			rows = append(rows, fmt.Sprintf("(%d, %d, %s, '%s', '%s')",
				id, n.orders, money(50000), statuses[rng.IntN(len(statuses))], stamp()))
			if len(rows) == batchRows {
				if err := flush(ordersHead); err != nil {
					return n, err
				}
			}
		}
	}
	if err := flush(ordersHead); err != nil {
		return n, err
	}

	// app_settings is not sharded: it lives on the default shard only.
	settings := "INSERT INTO app_settings (key, value) VALUES ('currency', 'EUR'), ('signup_open', 'true'), ('support_email', 'help@example.com')"
	if err := exec(settings); err != nil {
		return n, err
	}
	n.settings = 3
	return n, nil
}

func abbreviate(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 200 {
		return q[:197] + "..."
	}
	return q
}
