package admin

import (
	"slices"
	"testing"
)

func TestConsoleWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  SHOW\tPools \n", []string{"show", "pools"}},
		{"PAUSE app, Sales", []string{"pause", "app", "sales"}},
		{`PAUSE "Sales",app`, []string{"pause", "Sales", "app"}},
		{`RESUME "My DB"`, []string{"resume", "My DB"}},
		{`RESUME "open`, []string{"resume", "open"}},
	} {
		if got := consoleWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("consoleWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
