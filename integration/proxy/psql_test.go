package proxy_test

import (
	"os/exec"
	"strings"
)

// runPsql runs one command with psql and returns its output.
func runPsql(dsn, sql string) (string, error) {
	out, err := exec.Command("psql", dsn, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
