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

// Interpreter runs programs, written in Python or Ruby, that use a
// PostgreSQL driver or ORM.
type Interpreter struct {
	path string
}

// NeedPython finds a Python 3 that can import module, and skips the test,
// naming the Debian package that has it, when none can (.ci/run installs
// the packages). Debian's packages install for /usr/bin/python3, which is
// tried before the python3 on PATH (often a pyenv one without them);
// PGSHARD_PYTHON names another.
func NeedPython(t testing.TB, module, debianPackage string) *Interpreter {
	t.Helper()
	return need(t, "PGSHARD_PYTHON", "/usr/bin/python3", "python3", []string{"-c", "import " + module}, module, debianPackage)
}

// NeedRuby finds a Ruby that can require lib, and skips the test as
// NeedPython does; PGSHARD_RUBY names another interpreter.
func NeedRuby(t testing.TB, lib, debianPackage string) *Interpreter {
	t.Helper()
	return need(t, "PGSHARD_RUBY", "/usr/bin/ruby", "ruby", []string{"-e", "require '" + lib + "'"}, lib, debianPackage)
}

func need(t testing.TB, env, system, onPath string, probe []string, what, debianPackage string) *Interpreter {
	t.Helper()
	var candidates []string
	if e := os.Getenv(env); e != "" {
		candidates = append(candidates, e)
	}
	candidates = append(candidates, system)
	if p, err := exec.LookPath(onPath); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if exec.Command(c, probe...).Run() == nil {
			return &Interpreter{path: c}
		}
	}
	t.Skipf("needs %s with %s (Debian: %s, or set %s)", onPath, what, debianPackage, env)
	return nil
}

// Run runs script with the connection string dsn (and args after it) and
// returns its standard output; the test fails if the script does.
func (p *Interpreter) Run(t testing.TB, ctx context.Context, script, dsn string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, p.path, append([]string{script, dsn}, args...)...)
	// UTC: timestamptz values print the same on every machine.
	cmd.Env = append(os.Environ(), "TZ=UTC", "PGTZ=UTC", "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(p.path), filepath.Base(script), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// CompareTranscripts runs script (with args after the connection string)
// against PostgreSQL (wantDSN) and through pgshard (gotDSN) and fails the
// test unless both print the same transcript; PostgreSQL's must also hold
// a line starting with each of mustHave, so that two runs that went wrong
// the same way prove nothing.
func (p *Interpreter) CompareTranscripts(t testing.TB, ctx context.Context, script, wantDSN, gotDSN string, mustHave []string, args ...string) {
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
