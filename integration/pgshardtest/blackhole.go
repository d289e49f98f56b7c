package pgshardtest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Link is a TCP relay on a loopback port to a server, which a test can
// turn into a black hole: the relay's port then drops every packet, as a
// host that lost power or a network cut would, so nothing is answered,
// acknowledged or reset.
type Link struct {
	// Addr is the relay's host:port, to configure in place of the
	// server's.
	Addr string
	// Heal undoes Cut.
	Heal     func()
	port     string
	t        testing.TB
	accepted *atomic.Int64
}

// Accepted is the number of connections the relay has accepted.
func (l *Link) Accepted() int64 { return l.accepted.Load() }

// NewLink relays connections to target until the test ends.
func NewLink(t testing.TB, target string) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		conns    []net.Conn
		wg       sync.WaitGroup
		accepted atomic.Int64
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			wg.Go(func() { pipe(s, c) })
			wg.Go(func() { pipe(c, s) })
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &Link{Addr: ln.Addr().String(), Heal: func() {}, port: port, t: t, accepted: &accepted}
}

// NeedBlackHole skips the test unless this machine lets it drop packets
// (root and iptables).
func NeedBlackHole(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dropping packets needs root (iptables)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("dropping packets needs iptables, not found")
	}
}

// Cut drops every packet sent to the relay's port from now until Heal or
// the end of the test.
func (l *Link) Cut() { l.Heal = Drop(l.t, l.port) }

// Drop drops every packet sent to the loopback port from now until the
// returned function is called or the test ends. Cutting a proxy's own
// port silences its clients: the proxy's packets still leave, but nothing
// it is sent, acknowledgements included, arrives.
func Drop(t testing.TB, port string) (heal func()) {
	t.Helper()
	rule := func(op string) []string {
		return []string{op, "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP",
			"-m", "comment", "--comment", "pgshard test " + strconv.Itoa(os.Getpid())}
	}
	if out, err := exec.Command("iptables", rule("-I")...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}
	var once sync.Once
	heal = func() {
		once.Do(func() {
			if out, err := exec.Command("iptables", rule("-D")...).CombinedOutput(); err != nil {
				t.Errorf("iptables: %v: %s", err, out)
			}
		})
	}
	t.Cleanup(heal)
	return heal
}
