package main

import (
	"fmt"
	"io"
	"os"

	"github.com/pgshard/pgshard/internal/config"
)

// checkCmd validates a configuration file without starting the proxy, so a
// change can be tested (by hand or in CI) before it is deployed.
type checkCmd struct {
	Config string `required:"" type:"existingfile" help:"Configuration file to validate (YAML, see docs/configuration.md)."`
}

func (c *checkCmd) Run() error { return c.run(os.Stdout) }

// run prints one line per database and "config OK", or returns every
// problem found, each naming the file, line and key.
func (c *checkCmd) run(w io.Writer) error {
	cfg, err := config.Load(c.Config)
	if err != nil {
		return err
	}
	for i := range cfg.Databases {
		d := &cfg.Databases[i]
		fmt.Fprintf(w, "database %s: %s, %s\n", d.Name, plural(len(d.Shards), "shard"), plural(d.Nodes(), "node"))
	}
	_, err = fmt.Fprintln(w, "config OK")
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
