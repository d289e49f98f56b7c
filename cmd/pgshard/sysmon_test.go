package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestMain turns the test binary into the process keepSysmonAwake
// re-executes when TestKeepSysmonAwake starts it with the marker set: it
// reports the GODEBUG it ended up with and whether its PID survived.
func TestMain(m *testing.M) {
	if os.Getenv("PGSHARD_TEST_SYSMON_CHILD") != "" {
		pid := fmt.Sprint(os.Getpid())
		if os.Getenv("PGSHARD_TEST_SYSMON_PID") == "" {
			_ = os.Setenv("PGSHARD_TEST_SYSMON_PID", pid) // carried across the exec
		}
		keepSysmonAwake()
		fmt.Printf("GODEBUG=%s\nsamepid=%v\n", os.Getenv("GODEBUG"), os.Getenv("PGSHARD_TEST_SYSMON_PID") == pid)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKeepSysmonAwake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("keepSysmonAwake only re-executes on Linux")
	}
	tests := []struct {
		name, godebug, sysmon, want string
	}{
		{"added", "", "", "GODEBUG=" + sysmonAwakeGODEBUG},
		{"merged with the operator's GODEBUG", "madvdontneed=1", "", "GODEBUG=madvdontneed=1," + sysmonAwakeGODEBUG},
		{"an explicit schedtrace wins", "schedtrace=5000", "", "GODEBUG=schedtrace=5000"},
		{"opted out", "madvdontneed=1", "default", "GODEBUG=madvdontneed=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "PGSHARD_TEST_SYSMON_CHILD=1", "PGSHARD_SYSMON="+tc.sysmon, "GODEBUG="+tc.godebug)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			lines := strings.Split(string(out), "\n")
			var got string
			for _, l := range lines {
				if strings.HasPrefix(l, "GODEBUG=") {
					got = l
				}
			}
			if got != tc.want {
				t.Fatalf("child ran with %q, want %q\n%s", got, tc.want, out)
			}
			if !strings.Contains(string(out), "samepid=true") {
				t.Fatalf("the re-executed child has another PID:\n%s", out)
			}
		})
	}
}
