package wire

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

func TestPeerProcessIDs(t *testing.T) {
	for _, peer := range []int{0, 1, 2, 64, config.MaxPeerID} {
		for _, random := range []uint32{0, 1, 0x12345678, 0x00800000, 0xffffffff} {
			pid := newPID(peer, random)
			if pid >= 1<<31 {
				t.Errorf("newPID(%d, %#x) = %#x: not a positive int32", peer, random, pid)
			}
			if peer == 0 {
				if pid != random&0x7fffffff {
					t.Errorf("newPID(0, %#x) = %#x, want the random bits", random, pid)
				}
				continue
			}
			if got := peerOf(pid); got != peer {
				t.Errorf("newPID(%d, %#x) = %#x carries peer %d", peer, random, pid, got)
			}
			if pid&forwardedBit != 0 {
				t.Errorf("newPID(%d, %#x) = %#x has the passed-on bit", peer, random, pid)
			}
			if got := peerOf(pid | forwardedBit); got != peer {
				t.Errorf("passed on, %#x carries peer %d", pid|forwardedBit, got)
			}
		}
	}
}

// A peer whose proxy_protocol trusts the address a CancelRequest comes
// from expects a PROXY header first, and drops a connection without one;
// sendCancel gives it one (LOCAL) when the sender's own configuration
// trusts that address, as peers configured alike do.
func TestCancelToAPeerBehindProxyProtocol(t *testing.T) {
	cfg := trustConfig(t, "peer_id: 2\nproxy_protocol: {trusted: [127.0.0.0/8]}")
	peer := newTestServer(t, cfg)
	reg := metrics.New()
	peer.UseMetrics(reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, peer, ProxyProtocol(ln, cfg.ProxyProtocol))
	received := func() float64 {
		return counterValue(t, reg.Cancel(metrics.CancelUnmatched)) + counterValue(t, reg.Cancel(metrics.CancelLocal))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid := newPID(2, 12345) | forwardedBit

	// The sender's configuration does not trust its own address: no
	// header, and the peer drops the connection unread.
	if err := sendCancel(ctx, &config.ProxyProtocol{Trusted: []string{"10.0.0.0/8"}}, ln.Addr().String(), pid, []byte{1, 2, 3, 4}); err != nil {
		t.Fatalf("without a header: %v", err)
	}
	if got := received(); got != 0 {
		t.Fatalf("the peer took %v cancel requests without a PROXY header", got)
	}
	if err := sendCancel(ctx, cfg.ProxyProtocol, ln.Addr().String(), pid, []byte{1, 2, 3, 4}); err != nil {
		t.Fatalf("with a header: %v", err)
	}
	if got := received(); got != 1 {
		t.Fatalf("the peer took %v cancel requests with a LOCAL header, want 1", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
