package pgshardtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// JDBCJar is where Debian's libpostgresql-jdbc-java puts pgjdbc; the
// environment variable PGSHARD_JDBC_JAR points elsewhere.
const JDBCJar = "/usr/share/java/postgresql.jar"

// JDBC runs Java programs that use pgjdbc, the PostgreSQL JDBC driver.
type JDBC struct {
	java, jar string
}

// NeedJDBC finds a Java runtime and pgjdbc, and skips the test, naming what
// the machine lacks, when either is missing (.ci/run installs both).
func NeedJDBC(t testing.TB) *JDBC {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("needs a Java runtime (Debian: default-jre-headless)")
	}
	jar := JDBCJar
	if env := os.Getenv("PGSHARD_JDBC_JAR"); env != "" {
		jar = env
	}
	if _, err := os.Stat(jar); err != nil {
		t.Skipf("needs pgjdbc at %s (Debian: libpostgresql-jdbc-java, or set PGSHARD_JDBC_JAR)", jar)
	}
	return &JDBC{java: java, jar: jar}
}

// URL is the JDBC URL of database db at addr (host:port) with search_path
// set to schema through pgjdbc's currentSchema.
func URL(addr, db, schema string) string {
	return fmt.Sprintf("jdbc:postgresql://%s/%s?sslmode=disable&currentSchema=%s", addr, db, schema)
}

// Run runs a single-file Java program (Java's source launcher: no build
// step) with args and returns its standard output; the test fails if the
// program does.
func (j *JDBC) Run(t testing.TB, ctx context.Context, source string, args ...string) string {
	t.Helper()
	src, err := filepath.Abs(source)
	if err != nil {
		t.Fatal(err)
	}
	// UTC: timestamptz values print the same on every machine.
	cmd := exec.CommandContext(ctx, j.java, append([]string{"-Duser.timezone=UTC", "-cp", j.jar, src}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("java %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(source), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Endpoint is where and as whom a JDBC program connects.
type Endpoint struct {
	URL, User, Password string
}

// CompareTranscripts runs the program against PostgreSQL (want) and
// through pgshard (got) and fails the test unless both print the same
// transcript. Equal transcripts of a run that went wrong both ways would
// prove nothing, so PostgreSQL's must also hold a line starting with each
// of mustHave.
func (j *JDBC) CompareTranscripts(t testing.TB, ctx context.Context, source string, want, got Endpoint, mustHave []string) {
	t.Helper()
	ref := j.Run(t, ctx, source, want.URL, want.User, want.Password)
	through := j.Run(t, ctx, source, got.URL, got.User, got.Password)
	if d := diffLines(ref, through); d != "" {
		t.Errorf("JDBC transcripts differ:\n%s\nthrough pgshard:\n%s", d, through)
	}
	for _, line := range mustHave {
		if !strings.Contains("\n"+ref, "\n"+line) {
			t.Errorf("PostgreSQL's transcript lacks %q:\n%s", line, ref)
		}
	}
}

// diffLines describes the first lines where two transcripts differ, or
// returns "" when they are equal.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  postgres: %s\n  pgshard:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
