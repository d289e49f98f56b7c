package wire

import (
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout sets TCP_USER_TIMEOUT on a socket being dialled: data
// left unacknowledged that long (or keepalive probes unanswered) makes the
// kernel fail the connection.
func setUserTimeout(c syscall.RawConn, d time.Duration) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	}); err != nil {
		return err
	}
	return serr
}

// setReusePort sets SO_REUSEPORT on a socket about to listen, so that
// another pgshard can listen on the same address while this one drains.
func setReusePort(c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// migrateReqPath is the sysctl that decides what becomes of connections
// queued for a SO_REUSEPORT listener that closes (Linux 5.14 and later).
var migrateReqPath = "/proc/sys/net/ipv4/tcp_migrate_req"

// QueuedConnectionsMigrate says what the kernel does with connections that
// are queued for a so_reuseport listener, not yet accepted, when it closes:
// with net.ipv4.tcp_migrate_req = 1 it hands them to another listener on
// the address (the pgshard taking over); with 0 it resets them. known is
// false where the setting does not exist.
func QueuedConnectionsMigrate() (migrate, known bool) {
	b, err := os.ReadFile(migrateReqPath)
	if err != nil {
		return false, false
	}
	switch strings.TrimSpace(string(b)) {
	case "0":
		return false, true
	case "1":
		return true, true
	}
	return false, false
}
