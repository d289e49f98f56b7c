package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// peers checks peer_id and the peers list: ids that fit a process ID, each
// listed once, and addresses to dial.
func (v *validator) peers(c *Config) {
	if c.PeerID < 0 || c.PeerID > MaxPeerID {
		v.errorf("peer_id", "%d is not from 1 to %d (0 turns peering off)", c.PeerID, MaxPeerID)
	}
	seen := map[int]bool{}
	for i, p := range c.Peers {
		path := fmt.Sprintf("peers[%d]", i)
		switch {
		case p.ID < 1 || p.ID > MaxPeerID:
			v.errorf(path+".id", "%d is not from 1 to %d", p.ID, MaxPeerID)
		case seen[p.ID]:
			v.errorf(path+".id", "%d is listed twice", p.ID)
		}
		seen[p.ID] = true
		if p.Address == "" {
			v.errorf(path+".address", "required: the host:port this peer serves clients on")
		} else {
			v.listenAddr(path+".address", p.Address)
		}
	}
}

// listenAddr checks a host:port to listen on and reports whether it is one.
func (v *validator) listenAddr(path, addr string) bool {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		v.errorf(path, "%q is not host:port (%v)", addr, err)
		return false
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		// Port 0 is allowed: the kernel picks one, which tests rely on.
		v.errorf(path, "port %q of %q is not a number from 0 to 65535", port, addr)
		return false
	}
	return true
}

// admin checks the admin listener: a real address other than the data
// port's, and a token whenever it is reachable from other machines, since
// /metrics and /status describe the topology.
func (v *validator) admin(c *Config) {
	a := &c.Admin
	v.console(c)
	if v.ix.has("admin.token") {
		if msg := tokenProblem(a.Token.Reveal()); msg != "" {
			v.errorf("admin.token", "%s", msg)
		}
	}
	switch {
	case a.Listen == AdminOff:
		return
	case a.Listen == "":
		v.errorf("admin.listen", `must not be empty; write "off" to disable the admin listener`)
		return
	case !v.listenAddr("admin.listen", a.Listen):
		return
	}
	if a.Listen == c.Listen && !strings.HasSuffix(a.Listen, ":0") {
		v.errorf("admin.listen", "%q is the data port (listen); the admin listener needs an address of its own", a.Listen)
	}
	if a.Token == "" && !loopback(a.Listen) {
		v.errorf("admin.token", "required when admin.listen %q is not a loopback address: /metrics and /status would be open to the network", a.Listen)
	}
}

// console checks the admin console: an address of its own, someone who
// may log in, and no login without a password from other machines.
func (v *validator) console(c *Config) {
	a := &c.Admin
	switch {
	case a.Console == AdminOff:
		return
	case a.Console == "":
		v.errorf("admin.console", `must not be empty; write "off" (the default) to disable the admin console`)
		return
	case !v.listenAddr("admin.console", a.Console):
		return
	}
	if !strings.HasSuffix(a.Console, ":0") && (a.Console == c.Listen || a.Console == a.Listen) {
		v.errorf("admin.console", "%q is already listen or admin.listen; the admin console needs an address of its own", a.Console)
	}
	admins := 0
	for i := range c.Users {
		u := &c.Users[i]
		if !u.Admin {
			continue
		}
		admins++
		if u.Auth == AuthTrust && !loopback(a.Console) {
			v.errorf(fmt.Sprintf("users[%d].auth", i), "trust for an admin user while admin.console %q is not a loopback address: anyone on the network could pause or reload pgshard", a.Console)
		}
	}
	if admins == 0 {
		v.errorf("admin.console", "no user may log in to it: set admin: true on the users who may")
	}
}

// loopback reports whether addr (host:port) listens on the loopback
// interface only. An empty host (":6433") means every interface.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenProblem checks that a bearer token can be sent in an HTTP header as
// it is (RFC 6750's b64token allows less; any visible ASCII is accepted).
// Messages never quote the token.
func tokenProblem(tok string) string {
	if tok == "" {
		return "must not be empty; leave the key out for no authentication (loopback listeners only)"
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return fmt.Sprintf("character %d is not visible ASCII; a bearer token is sent as it is in an HTTP header", i+1)
		}
	}
	return ""
}

// unixSocket checks the Unix socket: a directory that exists, a path
// that fits, an octal mode and a group this machine knows.
func (v *validator) unixSocket(c *Config) {
	if m, err := strconv.ParseUint(c.UnixSocketPermissions, 8, 32); err != nil || m > 0o777 || !strings.HasPrefix(c.UnixSocketPermissions, "0") {
		v.errorf("unix_socket_permissions", "%q is not a mode in octal from 0000 to 0777, such as 0770", c.UnixSocketPermissions)
	}
	if c.UnixSocketGroup != "" {
		if _, err := LookupGroup(c.UnixSocketGroup); err != nil {
			v.errorf("unix_socket_group", "%q is not a group on this machine: %v", c.UnixSocketGroup, err)
		}
	}
	if c.UnixSocketDir != "" {
		if fi, err := os.Stat(c.UnixSocketDir); err != nil {
			v.errorf("unix_socket_dir", "%v", err)
		} else if !fi.IsDir() {
			v.errorf("unix_socket_dir", "%s is not a directory", c.UnixSocketDir)
		} else if c.Listen != "" {
			// sun_path holds 107 bytes and a NUL on Linux.
			if _, port, err := net.SplitHostPort(c.Listen); err == nil {
				if p := filepath.Join(c.UnixSocketDir, ".s.PGSQL."+port); len(p) > 107 {
					v.errorf("unix_socket_dir", "the socket's path %s is %d bytes long, more than a Unix socket's 107", p, len(p))
				}
			}
		}
	}
}
