//go:build !linux

package wire

import (
	"syscall"
	"time"
)

// setUserTimeout: TCP_USER_TIMEOUT is Linux's; elsewhere only keepalives
// find a dead server.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }
