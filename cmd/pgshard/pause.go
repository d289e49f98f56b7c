package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
)

// pauseCmd holds a running pgshard's new transactions back, for a planned
// switchover or restart of a node, and waits for the open ones to end.
type pauseCmd struct {
	adminFlags `embed:""`
	Database   []string      `name:"database" help:"Database to pause (repeat for several); default every database."`
	Wait       time.Duration `default:"30s" help:"How long to wait for the transactions open now to end."`
	Max        time.Duration `default:"5m" help:"The pause ends by itself after this, if nobody resumes it."`
}

func (c *pauseCmd) Run() error { return c.run(os.Stdout) }

func (c *pauseCmd) run(w io.Writer) error {
	q := url.Values{"wait": {c.Wait.String()}, "max": {c.Max.String()}}
	for _, d := range c.Database {
		q.Add("database", d)
	}
	// The answer comes once the transactions have ended, or after --wait.
	flags := c.adminFlags
	flags.Timeout += c.Wait
	body, err := flags.call(http.MethodPost, "/pause?"+q.Encode(), http.StatusOK)
	if err != nil {
		return err
	}
	var res admin.PauseResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("%s: the answer is not pgshard's: %w", c.url("/pause"), err)
	}
	var busy []string
	for _, d := range res.Databases {
		if d.OpenTransactions == 0 {
			fmt.Fprintf(w, "paused %s: no transaction open (until %s unless resumed)\n", d.Name, d.Until.UTC().Format(time.RFC3339))
			continue
		}
		fmt.Fprintf(w, "paused %s: %d transaction(s) still open after %s (until %s unless resumed)\n", d.Name, d.OpenTransactions, c.Wait, d.Until.UTC().Format(time.RFC3339))
		busy = append(busy, d.Name)
	}
	if len(busy) > 0 {
		return fmt.Errorf("transactions still open in %s: the pause stays in force; run pause again to wait longer, or resume", strings.Join(busy, ", "))
	}
	return nil
}

// resumeCmd lets the transactions a pause holds go.
type resumeCmd struct {
	adminFlags `embed:""`
	Database   []string `name:"database" help:"Database to resume (repeat for several); default every paused database."`
}

func (c *resumeCmd) Run() error { return c.run(os.Stdout) }

func (c *resumeCmd) run(w io.Writer) error {
	q := url.Values{}
	for _, d := range c.Database {
		q.Add("database", d)
	}
	path := "/resume"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := c.call(http.MethodPost, path, http.StatusOK)
	if err != nil {
		return err
	}
	var res admin.ResumeResult
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("%s: the answer is not pgshard's: %w", c.url("/resume"), err)
	}
	if len(res.Resumed) == 0 {
		_, err = fmt.Fprintln(w, "nothing was paused")
		return err
	}
	_, err = fmt.Fprintln(w, "resumed:", strings.Join(res.Resumed, ", "))
	return err
}
