package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
)

// tokenEnv names the environment variable holding the admin token when no
// --token-file is given. There is no --token flag: command lines are
// visible to every user of the machine.
const tokenEnv = "PGSHARD_ADMIN_TOKEN"

// statusCmd prints the topology a running pgshard reports on its admin
// listener's /status.
type statusCmd struct {
	Admin     string        `default:"http://127.0.0.1:6433" help:"URL (or host:port) of pgshard's admin listener."`
	TokenFile string        `type:"existingfile" help:"File holding the admin token (admin.token); without it the token is read from $PGSHARD_ADMIN_TOKEN, if set."`
	Timeout   time.Duration `default:"5s" help:"Time allowed for the request."`
	JSON      bool          `name:"json" help:"Print /status as JSON instead of tables."`

	now func() time.Time // for tests; nil: time.Now
}

func (c *statusCmd) Run() error { return c.run(os.Stdout) }

func (c *statusCmd) run(w io.Writer) error {
	body, err := c.fetch()
	if err != nil {
		return err
	}
	if c.JSON {
		_, err := w.Write(body)
		return err
	}
	var st admin.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("%s: the answer is not pgshard's status: %w", c.url(), err)
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return printStatus(w, &st, now())
}

func (c *statusCmd) url() string {
	base := c.Admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/") + "/status"
}

// token returns the admin token from --token-file or the environment, or
// "" when neither gives one.
func (c *statusCmd) token() (string, error) {
	if c.TokenFile == "" {
		return strings.TrimSpace(os.Getenv(tokenEnv)), nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", c.TokenFile)
	}
	return tok, nil
}

func (c *statusCmd) fetch() ([]byte, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	url := c.url()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{Timeout: c.Timeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach pgshard's admin listener: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusUnauthorized:
		how := "give the admin token with --token-file or $" + tokenEnv
		if tok != "" {
			how = "the token given is not admin.token"
		}
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, how)
	}
	msg := strings.TrimSpace(string(body))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, msg)
}

// printStatus writes the readiness line, the nodes table, the poll errors
// and the pools table.
func printStatus(w io.Writer, st *admin.Status, now time.Time) error {
	if st.Ready {
		fmt.Fprintln(w, "ready")
	} else {
		fmt.Fprintln(w, "not ready:", st.Reason)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tSHARD\tNODE\tROLE\tSTATE\tLAG BYTES\tLAG SECONDS\tBANNED")
	var errs []string
	for _, d := range st.Databases {
		for _, sh := range d.Shards {
			for _, n := range sh.Nodes {
				lagBytes, lagSeconds, banned := "-", "-", "-"
				if n.LagBytes != nil {
					lagBytes = strconv.FormatInt(*n.LagBytes, 10)
				}
				if n.LagSeconds != nil {
					lagSeconds = strconv.FormatFloat(*n.LagSeconds, 'f', 3, 64)
				}
				if n.BannedUntil != nil {
					banned = "until " + n.BannedUntil.UTC().Format(time.RFC3339)
					if left := n.BannedUntil.Sub(now); left > 0 {
						banned += " (" + left.Round(100*time.Millisecond).String() + " left)"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, sh.Name, n.Name, n.Role, n.State, lagBytes, lagSeconds, banned)
				if n.Error != "" {
					errs = append(errs, fmt.Sprintf("%s/%s/%s (%s): %s", d.Name, sh.Name, n.Name, n.Address, n.Error))
				}
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		fmt.Fprintln(w)
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
	}
	if len(st.Pools) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tOPEN\tIDLE\tIN USE\tWAITING\tWAITS\tWAIT TIMEOUTS\tCONNECT ERRORS")
	for _, p := range st.Pools {
		fmt.Fprintf(tw, "%s/%s@%s/%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Database, p.User, p.Shard, p.Node,
			p.Open, p.Idle, p.InUse, p.Waiting, p.Waits, p.WaitTimeouts, p.ConnectErrors)
	}
	return tw.Flush()
}
