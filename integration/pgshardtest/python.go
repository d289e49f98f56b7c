package pgshardtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python runs Python programs that use a PostgreSQL driver.
type Python struct {
	python string
}

// NeedPython finds a Python 3 that can import module, and skips the test,
// naming the Debian package that has it, when none can (.ci/run installs
// the packages). Debian's packages install for /usr/bin/python3, which is
// tried before the python3 on PATH (often a pyenv one without them);
// PGSHARD_PYTHON names another.
func NeedPython(t testing.TB, module, debianPackage string) *Python {
	t.Helper()
	var candidates []string
	if env := os.Getenv("PGSHARD_PYTHON"); env != "" {
		candidates = append(candidates, env)
	}
	candidates = append(candidates, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return &Python{python: py}
		}
	}
	t.Skipf("needs a Python 3 with %s (Debian: %s, or set PGSHARD_PYTHON)", module, debianPackage)
	return nil
}

// Run runs script with the connection string dsn (and args after it) and
// returns its standard output; the test fails if the script does.
func (p *Python) Run(t testing.TB, ctx context.Context, script, dsn string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, p.python, append([]string{script, dsn}, args...)...)
	// UTC: timestamptz values print the same on every machine.
	cmd.Env = append(os.Environ(), "TZ=UTC", "PGTZ=UTC", "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(script), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// CompareTranscripts runs script (with args after the connection string)
// against PostgreSQL (wantDSN) and through pgshard (gotDSN) and fails the
// test unless both print the same transcript; PostgreSQL's must also hold
// a line starting with each of mustHave, so that two runs that went wrong
// the same way prove nothing.
func (p *Python) CompareTranscripts(t testing.TB, ctx context.Context, script, wantDSN, gotDSN string, mustHave []string, args ...string) {
	t.Helper()
	ref := p.Run(t, ctx, script, wantDSN, args...)
	through := p.Run(t, ctx, script, gotDSN, args...)
	if d := diffLines(ref, through); d != "" {
		t.Errorf("%s transcripts differ:\n%s\nthrough pgshard:\n%s", filepath.Base(script), d, through)
	}
	for _, line := range mustHave {
		if !strings.Contains("\n"+ref, "\n"+line) {
			t.Errorf("PostgreSQL's transcript lacks %q:\n%s", line, ref)
		}
	}
}
