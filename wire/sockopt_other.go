//go:build !linux

package wire

import (
	"errors"
	"syscall"
	"time"
)

// setUserTimeout: TCP_USER_TIMEOUT is Linux's; elsewhere only keepalives
// find a dead server.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }

// setReusePort: pgshard relies on Linux's SO_REUSEPORT, which balances new
// connections between the processes listening.
func setReusePort(syscall.RawConn) error {
	return errors.New("so_reuseport is supported on Linux only")
}

// QueuedConnectionsMigrate: the setting is Linux's.
func QueuedConnectionsMigrate() (migrate, known bool) { return false, false }
