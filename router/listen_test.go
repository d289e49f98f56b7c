package router

import "testing"

// A LISTEN's or UNLISTEN's channel is the name the server registers and
// names in its notifications: folded to lower case unless quoted.
func TestListenChannel(t *testing.T) {
	r := testRouter(t)
	for _, c := range []struct{ sql, command, channel string }{
		{"LISTEN jobs", "LISTEN", "jobs"},
		{"listen Jobs", "LISTEN", "jobs"},
		{`LISTEN "Jobs Done"`, "LISTEN", "Jobs Done"},
		{"UNLISTEN jobs", "UNLISTEN", "jobs"},
		{"UNLISTEN *", "UNLISTEN", ""},
	} {
		p := r.Simple(c.sql)[0].Route.Plan
		if p == nil || p.Command != c.command || p.Channel != c.channel {
			t.Errorf("%s: plan %+v, want %s of channel %q", c.sql, p, c.command, c.channel)
		}
	}
}
