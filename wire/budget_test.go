package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
)

// countingServer is a stand-in server that never answers a query and
// counts the connections it holds open now (live) and at most (peak).
func countingServer(t *testing.T) (port int, live, peak *atomic.Int64) {
	live, peak = new(atomic.Int64), new(atomic.Int64)
	port = fakeServer(t, func(c net.Conn, be *pgproto3.Backend) {
		n := live.Add(1)
		defer live.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		_, _ = io.Copy(io.Discard, c)
	})
	return port, live, peak
}

// budgetPools are one pool per user of database app on one node, all
// drawing on a budget of limit connections.
func budgetPools(t *testing.T, port, limit int, queueTimeout time.Duration, users ...string) (*connBudget, map[string]*pool) {
	node := &config.Node{Name: "s0-primary", Host: "127.0.0.1", Port: port, TLSMode: config.ServerTLSDisable}
	cfg := config.Pool{Size: 4, ConnectTimeout: 5 * time.Second, QueueTimeout: queueTimeout, PreparedCache: 8}
	b := &connBudget{key: budgetKey{db: "app", node: "s0/s0-primary"}, limit: limit}
	pools := map[string]*pool{}
	for _, u := range users {
		p := newPool(poolKey{db: "app", user: u, node: "s0/s0-primary"}, "s0", node, u, "", "app", cfg, config.TCP{})
		p.budgets = budgets{b}
		b.join(p)
		t.Cleanup(p.close)
		pools[u] = p
	}
	return b, pools
}

// waitFor waits up to 5 s for cond, which a connection closing on its
// own goroutine makes true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
	}
}

func (p *pool) counts() (total, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, len(p.idle)
}

// max_db_connections: the pools of several users never hold more than
// the budget to the node; a pool at the bound gets a connection as soon as
// another user's is released or idle, and one that waits queue_timeout
// gets 53300 naming the setting.
func TestBudgetBoundsUsersTogether(t *testing.T) {
	port, live, peak := countingServer(t)
	b, pools := budgetPools(t, port, 2, 10*time.Second, "a", "b", "c")
	ctx := context.Background()

	a1, err := pools["a"].acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := pools["a"].acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// User b's pool has room of its own but the budget has none: it
	// waits, and a's release (not its idle list) serves it.
	got := make(chan *serverConn, 1)
	go func() {
		sc, err := pools["b"].acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- sc
	}()
	waitFor(t, "b queues for the budget", b.wantsRoom)
	select {
	case <-got:
		t.Fatal("b opened a third connection past max_db_connections 2")
	case <-time.After(100 * time.Millisecond):
	}
	pools["a"].release(a1)
	b1 := <-got
	if w := pools["b"].stats.budgetWaits; w != 1 {
		t.Errorf("b's budget waits: %d, want 1", w)
	}
	if total, idle := pools["a"].counts(); total != 1 || idle != 0 {
		t.Errorf("a after releasing to a waiting b: total %d idle %d, want 1 and 0 (closed, not kept)", total, idle)
	}

	// Both released: idle in their pools, the budget spent. c takes the
	// place of the one idle longest (b's) at once.
	pools["b"].release(b1)
	time.Sleep(10 * time.Millisecond)
	pools["a"].release(a2)
	start := time.Now()
	c1, err := pools["c"].acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("c waited %s for an idle connection of another user to close", d)
	}
	if tb, _ := pools["b"].counts(); tb != 0 {
		t.Errorf("b holds %d connections, want 0: its connection, idle longest, makes room for c", tb)
	}
	waitFor(t, "the server holds 2 connections", func() bool { return live.Load() == 2 })

	// Nothing idle: a waits queue_timeout and is told why.
	hold, err := pools["a"].acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pools["a"].reconfigure(config.Pool{Size: 4, ConnectTimeout: 5 * time.Second, QueueTimeout: 200 * time.Millisecond, PreparedCache: 8}, config.TCP{})
	_, err = pools["a"].acquire(ctx)
	var pe *pgError
	if !errors.As(err, &pe) || pe.Code != codeTooManyConnections || !strings.Contains(pe.Message, "max_db_connections (2)") {
		t.Fatalf("a at the bound after queue_timeout: %v, want 53300 naming max_db_connections (2)", err)
	}
	if total, _ := pools["a"].counts(); total != 1 {
		t.Errorf("a after the timeout: total %d, want 1 (the slot it waited with given back)", total)
	}
	if n := pools["a"].stats.timeouts; n != 1 {
		t.Errorf("a's wait timeouts: %d, want 1", n)
	}

	// A reload raising the bound serves a waiter at once; lowering it
	// closes connections as they come back.
	pools["a"].reconfigure(config.Pool{Size: 4, ConnectTimeout: 5 * time.Second, QueueTimeout: 10 * time.Second, PreparedCache: 8}, config.TCP{})
	go func() {
		sc, err := pools["a"].acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- sc
	}()
	waitFor(t, "a queues for the budget", b.wantsRoom)
	b.setLimit(3)
	a3 := <-got
	b.setLimit(1)
	for _, r := range []struct {
		p  *pool
		sc *serverConn
	}{{pools["a"], a3}, {pools["a"], hold}, {pools["c"], c1}} {
		r.p.release(r.sc)
	}
	waitFor(t, "the server holds 1 connection after the bound went down to 1", func() bool { return live.Load() == 1 })
	if p := peak.Load(); p > 3 {
		t.Errorf("the server held %d connections at once, the bound was never above 3", p)
	}
}

// Without max_db_connections the budget bounds nothing: each pool opens
// up to its own size.
func TestBudgetUnbounded(t *testing.T) {
	port, live, _ := countingServer(t)
	b, pools := budgetPools(t, port, 0, time.Second, "a", "b")
	ctx := context.Background()
	var held []*serverConn // kept: a dropped connection's finalizer closes it
	for _, u := range []string{"a", "b"} {
		for range 4 {
			sc, err := pools[u].acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, sc)
		}
	}
	waitFor(t, "the server holds 8 connections", func() bool { return live.Load() == 8 })
	for _, sc := range held {
		sc.pool.release(sc)
	}
	if b.wantsRoom() {
		t.Error("an unbounded budget wants room")
	}
}

// max_user_connections: one user's pools of two databases on the same
// server draw on the user's budget together, beside each database's own;
// a checkout refused by the database's budget gives back the unit it took
// of the user's, and a wait for the user's budget is told which it was.
func TestUserBudgetSpansDatabases(t *testing.T) {
	port, live, peak := countingServer(t)
	node := &config.Node{Name: "s0-primary", Host: "127.0.0.1", Port: port, TLSMode: config.ServerTLSDisable}
	cfg := config.Pool{Size: 4, ConnectTimeout: 5 * time.Second, QueueTimeout: 200 * time.Millisecond, PreparedCache: 8}
	user := &connBudget{key: budgetKey{user: "u", node: node.Host + ":" + strconv.Itoa(port)}, limit: 2}
	dbBudget := map[string]*connBudget{
		"app": {key: budgetKey{db: "app", node: "s0/s0-primary"}, limit: 1},
		"rep": {key: budgetKey{db: "rep", node: "s0/s0-primary"}},
	}
	pools := map[string]*pool{}
	for _, db := range []string{"app", "rep"} {
		p := newPool(poolKey{db: db, user: "u", node: "s0/s0-primary"}, "s0", node, "u", "", db, cfg, config.TCP{})
		p.budgets = budgets{user, dbBudget[db]}
		for _, b := range p.budgets {
			b.join(p)
		}
		t.Cleanup(p.close)
		pools[db] = p
	}
	ctx := context.Background()

	app1, err := pools["app"].acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pools["app"].acquire(ctx)
	var pe *pgError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "max_db_connections (1)") {
		t.Fatalf("a second connection of app past its max_db_connections 1: %v, want 53300 naming max_db_connections", err)
	}
	// The unit of the user's budget that the refused checkout took is
	// back: rep gets the user's second connection at once.
	rep1, err := pools["rep"].acquire(ctx)
	if err != nil {
		t.Fatalf("rep's first connection, the user's second: %v", err)
	}
	_, err = pools["rep"].acquire(ctx)
	if !errors.As(err, &pe) || pe.Code != codeTooManyConnections || !strings.Contains(pe.Message, "user u already holds max_user_connections (2) connections to server 127.0.0.1:") {
		t.Fatalf("the user's third connection: %v, want 53300 naming max_user_connections (2)", err)
	}

	// Released idle in app, app1 makes room for rep's waiter.
	pools["app"].release(app1)
	rep2, err := pools["rep"].acquire(ctx)
	if err != nil {
		t.Fatalf("rep with app's connection idle: %v", err)
	}
	if total, _ := pools["app"].counts(); total != 0 {
		t.Errorf("app holds %d connections, want 0: its idle one makes room for rep", total)
	}
	// The server sees a closed connection go a moment after pgshard lets
	// go of its unit, so its count is checked once settled.
	waitFor(t, "the server holds the user's 2 connections", func() bool { return live.Load() == 2 })
	if user.mu.Lock(); user.used != 2 {
		t.Errorf("the user's budget counts %d connections, want 2", user.used)
	}
	user.mu.Unlock()
	pools["rep"].release(rep1)
	pools["rep"].release(rep2)
	if p := peak.Load(); p > 3 {
		t.Errorf("the server held %d connections of user u at once, max_user_connections is 2 (and one closing)", p)
	}
	pools["app"].close()
	if user.mu.Lock(); len(user.pools) != 1 {
		t.Errorf("the user's budget lists %d pools after app's closed, want 1", len(user.pools))
	}
	user.mu.Unlock()
}
