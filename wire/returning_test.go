package wire

import (
	"testing"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

func TestValuesOrder(t *testing.T) {
	r := func(s string) merge.Row { return merge.Row{[]byte(s)} }
	rt := &router.Route{Rows: [][]int{{1, 3}, {0, 2, 4}}}
	results := []*shardResult{{rows: []merge.Row{r("b"), r("d")}}, {rows: []merge.Row{r("a"), r("c"), r("e")}}}
	got := ""
	for _, row := range valuesOrder(rt, results) {
		got += string(row[0])
	}
	if got != "abcde" {
		t.Fatalf("reordered %q, want abcde", got)
	}
	// ON CONFLICT DO NOTHING skipped a row on one shard: positions are
	// unknown, nothing is reordered.
	results[1].rows = results[1].rows[:2]
	if valuesOrder(rt, results) != nil {
		t.Fatal("reordered rows although a shard returned fewer than it got")
	}
	if valuesOrder(&router.Route{}, results) != nil {
		t.Fatal("reordered rows of a statement that was not split")
	}
}
