package admin

import (
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
)

// dbStats is one database's row of SHOW STATS, summed from the
// Prometheus counters since pgshard started.
type dbStats struct {
	statements, shard, scatter, all, replica, refused uint64
	seconds                                           float64
	timed                                             uint64
}

// statsTable is SHOW STATS: per database, the statements pgshard routed,
// by where they went, and the time they took, from the same counters
// /metrics exports (pgshard_route_statements_total,
// pgshard_statement_duration_seconds), so the two always agree.
func statsTable(families []*dto.MetricFamily) *table {
	stats := map[string]*dbStats{}
	of := func(m *dto.Metric) (*dbStats, map[string]string) {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		db := labels["database"]
		if stats[db] == nil {
			stats[db] = &dbStats{}
		}
		return stats[db], labels
	}
	for _, f := range families {
		switch f.GetName() {
		case "pgshard_route_statements_total":
			for _, m := range f.GetMetric() {
				st, l := of(m)
				n := uint64(m.GetCounter().GetValue())
				st.statements += n
				switch l["kind"] {
				case "shard":
					st.shard += n
				case "scatter", "copy-out":
					st.scatter += n
				case "all":
					st.all += n
				case "refuse":
					st.refused += n
				}
				if l["target"] == "replica" {
					st.replica += n
				}
			}
		case "pgshard_statement_duration_seconds":
			for _, m := range f.GetMetric() {
				st, _ := of(m)
				st.timed += m.GetHistogram().GetSampleCount()
				st.seconds += m.GetHistogram().GetSampleSum()
			}
		}
	}
	t := newTable(col("database", oidText), col("statements", oidInt8), col("by_key", oidInt8), col("every_shard_read", oidInt8),
		col("every_shard_write", oidInt8), col("on_replicas", oidInt8), col("refused", oidInt8), col("total_seconds", oidFloat8), col("avg_ms", oidFloat8))
	names := make([]string, 0, len(stats))
	for db := range stats {
		names = append(names, db)
	}
	slices.Sort(names)
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, db := range names {
		st := stats[db]
		var avg any
		if st.timed > 0 {
			avg = strconv.FormatFloat(st.seconds/float64(st.timed)*1000, 'f', 3, 64)
		}
		t.add(db, u(st.statements), u(st.shard), u(st.scatter), u(st.all), u(st.replica), u(st.refused), strconv.FormatFloat(st.seconds, 'f', 3, 64), avg)
	}
	return t
}
