package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Type OIDs of the console's columns, so drivers decode numbers and
// times as such; every value is sent as text.
const (
	oidBool        = 16
	oidInt8        = 20
	oidText        = 25
	oidFloat8      = 701
	oidTimestamptz = 1184
)

type column struct {
	name string
	oid  uint32
}

func col(name string, oid uint32) column { return column{name, oid} }

// table is a console command's rows; a nil value is NULL.
type table struct {
	cols []column
	rows [][]*string
}

func newTable(cols ...column) *table { return &table{cols: cols} }

// add appends a row: each value is a string, or nil for NULL.
func (t *table) add(vals ...any) {
	row := make([]*string, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			row[i] = &s
		}
	}
	t.rows = append(t.rows, row)
}

func (t *table) send(be *pgproto3.Backend) {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(t.cols))}
	for i, c := range t.cols {
		size := int16(-1)
		switch c.oid {
		case oidBool:
			size = 1
		case oidInt8, oidFloat8, oidTimestamptz:
			size = 8
		}
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: c.oid, DataTypeSize: size, TypeModifier: -1}
	}
	be.Send(rd)
	for _, r := range t.rows {
		dr := &pgproto3.DataRow{Values: make([][]byte, len(r))}
		for i, v := range r {
			if v != nil {
				dr.Values[i] = []byte(*v)
			}
		}
		be.Send(dr)
	}
}

func boolText(b bool) string {
	if b {
		return "t"
	}
	return "f"
}

// timestamp is t as PostgreSQL writes a timestamptz in UTC with DateStyle
// ISO; nil (NULL) for the zero time.
func timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
}

// statusTable is SHOW STATUS, DATABASES, NODES, POOLS, PEERS or WARNINGS
// over what /status reports.
func statusTable(what string, st Status) *table {
	var t *table
	switch what {
	case "status":
		t = newTable(col("ready", oidBool), col("reason", oidText), col("peer_id", oidInt8), col("paused", oidText), col("version", oidText))
		var paused []string
		for _, p := range st.Paused {
			paused = append(paused, p.Name)
		}
		var reason any
		if st.Reason != "" {
			reason = st.Reason
		}
		t.add(boolText(st.Ready), reason, strconv.Itoa(st.PeerID), strings.Join(paused, ", "), st.Version)
	case "databases":
		t = newTable(col("name", oidText), col("shards", oidInt8), col("nodes", oidInt8), col("paused_until", oidTimestamptz), col("warnings", oidInt8))
		until := map[string]time.Time{}
		for _, p := range st.Paused {
			until[p.Name] = p.Until
		}
		for _, d := range st.Databases {
			nodes := 0
			for _, sh := range d.Shards {
				nodes += len(sh.Nodes)
			}
			t.add(d.Name, strconv.Itoa(len(d.Shards)), strconv.Itoa(nodes), timestamp(until[d.Name]), strconv.Itoa(len(d.Warnings)))
		}
	case "nodes":
		t = newTable(col("database", oidText), col("shard", oidText), col("node", oidText), col("role", oidText), col("address", oidText),
			col("state", oidText), col("lag_bytes", oidInt8), col("lag_seconds", oidFloat8), col("banned_until", oidTimestamptz), col("error", oidText))
		for _, d := range st.Databases {
			for _, sh := range d.Shards {
				for _, n := range sh.Nodes {
					var lagBytes, lagSeconds, banned, errText any
					if n.LagBytes != nil {
						lagBytes = strconv.FormatInt(*n.LagBytes, 10)
					}
					if n.LagSeconds != nil {
						lagSeconds = strconv.FormatFloat(*n.LagSeconds, 'f', 3, 64)
					}
					if n.BannedUntil != nil {
						banned = timestamp(*n.BannedUntil)
					}
					if n.Error != "" {
						errText = n.Error
					}
					t.add(d.Name, sh.Name, n.Name, n.Role, n.Address, n.State, lagBytes, lagSeconds, banned, errText)
				}
			}
		}
	case "pools":
		t = newTable(col("database", oidText), col("user", oidText), col("shard", oidText), col("node", oidText),
			col("open", oidInt8), col("idle", oidInt8), col("in_use", oidInt8), col("waiting", oidInt8), col("longest_wait", oidFloat8),
			col("waits", oidInt8), col("waited_seconds", oidFloat8), col("wait_timeouts", oidInt8), col("connects", oidInt8), col("connect_errors", oidInt8))
		for _, p := range st.Pools {
			t.add(p.Database, p.User, p.Shard, p.Node,
				strconv.Itoa(p.Open), strconv.Itoa(p.Idle), strconv.Itoa(p.InUse), strconv.Itoa(p.Waiting),
				strconv.FormatFloat(p.LongestWait, 'f', 3, 64), strconv.FormatUint(p.Waits, 10), strconv.FormatFloat(p.Waited, 'f', 3, 64),
				strconv.FormatUint(p.WaitTimeouts, 10), strconv.FormatUint(p.Connects, 10), strconv.FormatUint(p.ConnectErrors, 10))
		}
	case "peers":
		t = newTable(col("peer_id", oidInt8), col("address", oidText), col("self", oidBool))
		self := false
		for _, p := range st.Peers {
			self = self || p.ID == st.PeerID
			t.add(strconv.Itoa(p.ID), p.Address, boolText(p.ID == st.PeerID))
		}
		if st.PeerID != 0 && !self {
			t.add(strconv.Itoa(st.PeerID), nil, "t")
		}
	case "warnings":
		t = newTable(col("database", oidText), col("kind", oidText), col("object", oidText), col("detail", oidText))
		for _, d := range st.Databases {
			for _, w := range d.Warnings {
				t.add(d.Name, w.Kind, w.Object, w.Detail)
			}
		}
	}
	return t
}

// clientsTable is SHOW CLIENTS over what /clients reports.
func clientsTable(list []ClientStatus) *table {
	t := newTable(col("pid", oidInt8), col("user", oidText), col("database", oidText), col("address", oidText),
		col("application_name", oidText), col("tls", oidBool), col("pool_mode", oidText), col("state", oidText),
		col("connected_at", oidTimestamptz), col("transaction_since", oidTimestamptz), col("servers", oidInt8))
	for _, c := range list {
		var since any
		if c.TransactionSince != nil {
			since = timestamp(*c.TransactionSince)
		}
		t.add(strconv.FormatUint(uint64(c.PID), 10), c.User, c.Database, c.Address, c.ApplicationName, boolText(c.TLS),
			c.PoolMode, c.State, timestamp(c.ConnectedAt), since, strconv.Itoa(len(c.Servers)))
	}
	return t
}

// serversTable is SHOW SERVERS over what /servers reports.
func serversTable(list []ServerStatus) *table {
	t := newTable(col("database", oidText), col("user", oidText), col("shard", oidText), col("node", oidText), col("address", oidText),
		col("backend_pid", oidInt8), col("state", oidText), col("client_pid", oidInt8), col("opened_at", oidTimestamptz),
		col("idle_since", oidTimestamptz), col("prepared_statements", oidInt8))
	for _, sv := range list {
		var client, idle any
		if sv.ClientPID != 0 {
			client = strconv.FormatUint(uint64(sv.ClientPID), 10)
		}
		if sv.IdleSince != nil {
			idle = timestamp(*sv.IdleSince)
		}
		t.add(sv.Database, sv.User, sv.Shard, sv.Node, sv.Address, strconv.FormatUint(uint64(sv.BackendPID), 10), sv.State,
			client, timestamp(sv.OpenedAt), idle, strconv.Itoa(sv.PreparedStatements))
	}
	return t
}
