package wire

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The socket file's life: a stale one is replaced, a live one is refused
// unless taken over, and a listener that lost its file to a successor
// leaves the successor's in place when it closes.
func TestUnixSocketFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := UnixSocketPath(dir, 6432)
	if want := dir + "/.s.PGSQL.6432"; path != want {
		t.Fatalf("path %s, want %s", path, want)
	}

	// A pgshard that died left its socket file behind.
	dead, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = dead.Close()
	first, err := ListenUnix(ctx, UnixSocket{Dir: dir, Port: 6432, Perm: 0o777})
	if err != nil {
		t.Fatalf("over a stale socket file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("socket file: %v %v, want mode 0777", fi, err)
	}
	dial(t, first)

	if _, err := ListenUnix(ctx, UnixSocket{Dir: dir, Port: 6432, Perm: 0o777}); err == nil || !strings.Contains(err.Error(), "another process listens") {
		t.Fatalf("a second listener: %v, want an error saying the socket is in use", err)
	}
	second, err := ListenUnix(ctx, UnixSocket{Dir: dir, Port: 6432, Perm: 0o777, TakeOver: true})
	if err != nil {
		t.Fatalf("taking over: %v", err)
	}
	_ = first.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the first listener's close removed its successor's socket: %v", err)
	}
	dial(t, second)
	_ = second.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the last close: %v, want the file gone", err)
	}
}

// dial connects to ln's socket and checks that ln accepts the connection.
func dial(t *testing.T, ln net.Listener) {
	t.Helper()
	c, err := net.DialTimeout("unix", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if !isUnixSocket(got) || clientAddress(got) != "[local]" {
		t.Errorf("accepted %v from %q", got.RemoteAddr(), clientAddress(got))
	}
	_ = got.Close()
}

// Listeners serves the TCP port and the Unix socket as one listener, and
// closing it closes both.
func TestListenersMerge(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unix, err := ListenUnix(context.Background(), UnixSocket{Dir: t.TempDir(), Port: tcp.Addr().(*net.TCPAddr).Port, Perm: 0o777})
	if err != nil {
		t.Fatal(err)
	}
	ln := Listeners(tcp, unix)
	if ln.Addr() != tcp.Addr() {
		t.Errorf("Addr %v, want the TCP port's", ln.Addr())
	}
	for _, network := range []string{"tcp", "unix", "tcp"} {
		addr := tcp.Addr().String()
		if network == "unix" {
			addr = unix.Addr().String()
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if isUnixSocket(got) != (network == "unix") {
			t.Errorf("a %s connection accepted as %v", network, got.RemoteAddr())
		}
		_ = got.Close()
		_ = c.Close()
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	_ = ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := net.DialTimeout("tcp", tcp.Addr().String(), time.Second); err == nil {
		t.Error("the TCP port still accepts after Close")
	}
	if _, err := os.Stat(unix.Addr().String()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket file after Close: %v", err)
	}
}

// unix_socket_permissions and unix_socket_group set the socket file's
// mode and group, as PostgreSQL's settings of those names.
func TestUnixSocketAccess(t *testing.T) {
	group, gid := otherGroup(t)
	dir := t.TempDir()
	ln, err := ListenUnix(context.Background(), UnixSocket{Dir: dir, Port: 6432, Perm: 0o770, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(UnixSocketPath(dir, 6432))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o770 || int(st.Gid) != gid {
		t.Fatalf("socket file mode %v group %d, want 0770 and %s (%d)", fi.Mode().Perm(), st.Gid, group, gid)
	}
	dial(t, ln)

	if _, err := ListenUnix(context.Background(), UnixSocket{Dir: t.TempDir(), Port: 6432, Perm: 0o770, Group: "no-such-group-here"}); err == nil || !strings.Contains(err.Error(), "unix_socket_group") {
		t.Fatalf("an unknown group: %v, want an error naming unix_socket_group", err)
	}
}

// otherGroup is a group other than the process's own, which the process
// may give its files: any, for root.
func otherGroup(t *testing.T) (string, int) {
	groups, _ := os.Getgroups()
	for _, id := range groups {
		if id != os.Getegid() {
			g, err := user.LookupGroupId(strconv.Itoa(id))
			if err == nil {
				return g.Name, id
			}
		}
	}
	if os.Geteuid() == 0 {
		for _, name := range []string{"daemon", "nogroup", "bin"} {
			if g, err := user.LookupGroup(name); err == nil {
				id, _ := strconv.Atoi(g.Gid)
				return name, id
			}
		}
	}
	t.Skip("this machine lets the test user give its files no group but its own (not root, in no other group)")
	return "", 0
}
