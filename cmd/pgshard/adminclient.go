package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// tokenEnv names the environment variable holding the admin token when no
// --token-file is given. There is no --token flag: command lines are
// visible to every user of the machine.
const tokenEnv = "PGSHARD_ADMIN_TOKEN"

// adminFlags are the flags of the commands that talk to a running
// pgshard's admin listener.
type adminFlags struct {
	Admin     string        `default:"http://127.0.0.1:6433" help:"URL (or host:port) of pgshard's admin listener."`
	TokenFile string        `type:"existingfile" help:"File holding the admin token (admin.token); without it the token is read from $PGSHARD_ADMIN_TOKEN, if set."`
	Timeout   time.Duration `default:"5s" help:"Time allowed for the request."`
}

func (a *adminFlags) url(path string) string {
	base := a.Admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/") + path
}

// token returns the admin token from --token-file or the environment, or
// "" when neither gives one.
func (a *adminFlags) token() (string, error) {
	if a.TokenFile == "" {
		return strings.TrimSpace(os.Getenv(tokenEnv)), nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", a.TokenFile)
	}
	return tok, nil
}

// call sends method to path and returns the body of an answer whose status
// is one of want; any other answer is an error saying what to do.
func (a *adminFlags) call(method, path string, want ...int) ([]byte, error) {
	tok, err := a.token()
	if err != nil {
		return nil, err
	}
	url := a.url(path)
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{Timeout: a.Timeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach pgshard's admin listener: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	switch {
	case slices.Contains(want, resp.StatusCode):
		return body, nil
	case resp.StatusCode == http.StatusUnauthorized:
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
	return nil, &answerError{url: url, status: resp.Status, code: resp.StatusCode, msg: msg}
}

// answerError is an answer of the admin listener other than those wanted.
type answerError struct {
	url, status, msg string
	code             int
}

func (e *answerError) Error() string { return fmt.Sprintf("%s: %s: %s", e.url, e.status, e.msg) }

// getJSON fetches path. With raw it writes the answer to w as it came and
// reports done; otherwise it decodes the answer into into.
func (a *adminFlags) getJSON(path string, raw bool, w io.Writer, into any) (done bool, err error) {
	body, err := a.call(http.MethodGet, path, http.StatusOK)
	if err != nil {
		return false, err
	}
	if raw {
		_, err := w.Write(body)
		return true, err
	}
	if err := json.Unmarshal(body, into); err != nil {
		return false, fmt.Errorf("%s: the answer is not pgshard's: %w", a.url(path), err)
	}
	return false, nil
}
