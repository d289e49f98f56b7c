package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// sysmonAwakeGODEBUG keeps the Go runtime's sysmon thread out of its deep
// sleep. When every P is idle, sysmon parks on a futex, and the next system
// call any goroutine makes wakes it again (runtime.entersyscallWakeSysmon):
// a proxy that idles between each client request and its answer pays a
// futex wake, a context switch and a few 20 µs naps of sysmon per request.
// Measured on loopback with pgbench (bench/README.md): at -c 1 it costs
// about 15 µs of CPU and 20 % of throughput per transaction; at -c 8 and
// -c 64, 1-2 µs. The runtime has no switch for it; GODEBUG=schedtrace=N
// disables the deep sleep as a side effect (sysmon then wakes at most every
// 10 ms while idle), and with N at its maximum (~24.8 days) the scheduler
// trace it also enables prints at most one line to stderr every 24.8 days.
const sysmonAwakeGODEBUG = "schedtrace=2147483647"

// keepSysmonAwake re-executes pgshard (same PID, arguments and environment)
// with sysmonAwakeGODEBUG added to GODEBUG. It does nothing when GODEBUG
// already sets schedtrace, when PGSHARD_SYSMON=default asks for the
// runtime's default, or when the executable cannot be found; if exec fails
// it returns and pgshard runs as it is.
func keepSysmonAwake() {
	if runtime.GOOS != "linux" || os.Getenv("PGSHARD_SYSMON") == "default" {
		return
	}
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := []string{"GODEBUG=" + godebug + sysmonAwakeGODEBUG}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec(exe, os.Args, env)
}
