package wire

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pires/go-proxyproto"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

// A client's CancelRequest comes on a new connection, which a load balancer
// (or SO_REUSEPORT) may hand to another pgshard than the one serving the
// client. With peering (peer_id, peers) each pgshard writes its peer id
// into the process IDs it gives clients, and one that gets a CancelRequest
// for another id passes it on to that peer.
//
// A process ID is 31 bits, positive as PostgreSQL's are: with peering the
// top 7 are the peer id, then a bit set only on a request already passed
// on, then 23 random bits. The bit keeps two pgshards that disagree about
// an id (a peer's address that reaches a third one) from passing a request
// back and forth: a request is passed on at most once.
const (
	peerShift    = 24
	forwardedBit = 1 << 23
	randomPIDs   = forwardedBit - 1
)

// peerCancelTimeout bounds passing a CancelRequest on to a peer.
const peerCancelTimeout = 5 * time.Second

// newPID is a client's process ID made from random bits: 31 of them, or
// with peering the peer id and 23.
func newPID(peerID int, random uint32) uint32 {
	if peerID == 0 {
		return random & 0x7fffffff
	}
	return uint32(peerID)<<peerShift | random&randomPIDs
}

// peerOf is the peer id a process ID carries.
func peerOf(pid uint32) int { return int(pid >> peerShift) }

// cancel handles a client's CancelRequest: for one of this pgshard's
// sessions it is sent to the server connection the session holds now; for
// a peer's client it is passed on to that peer; for no session here, with
// so_reuseport, to the other processes of the port (localpeers.go).
// Neither the outcome nor whether the process ID exists is told to the
// sender, as PostgreSQL tells nothing either.
func (srv *Server) cancel(ctx context.Context, pid uint32, secret []byte) {
	cfg := srv.conf()
	if cfg.PeerID != 0 {
		if owner := peerOf(pid); owner != cfg.PeerID {
			srv.metrics.Cancel(srv.passOn(ctx, cfg, owner, pid, secret)).Inc()
			return
		}
	}
	switch srv.cancelHere(pid, secret) {
	case cancelDelivered:
		srv.metrics.Cancel(metrics.CancelLocal).Inc()
	case cancelNoSession:
		if lp := srv.localPeers.Load(); lp != nil && srv.passToLocalPeers(ctx, lp, pid, secret) {
			srv.metrics.Cancel(metrics.CancelForwarded).Inc()
			return
		}
		srv.metrics.Cancel(metrics.CancelUnmatched).Inc()
	default:
		srv.metrics.Cancel(metrics.CancelUnmatched).Inc()
	}
}

// cancelFound is what cancelHere found for a CancelRequest.
type cancelFound int

const (
	cancelDelivered cancelFound = iota // a session of this process, with the key
	cancelNoSession                    // no session has the process ID
	cancelWrongKey                     // the session's key is another
)

// cancelHere cancels what this process's session with pid runs, if the
// key is the session's.
func (srv *Server) cancelHere(pid uint32, secret []byte) cancelFound {
	if srv.conf().PeerID != 0 {
		pid &^= forwardedBit
	}
	srv.sessMu.Lock()
	s := srv.sessions[pid]
	srv.sessMu.Unlock()
	switch {
	case s == nil:
		return cancelNoSession
	case subtle.ConstantTimeCompare(secret, s.key.secret[:]) != 1:
		return cancelWrongKey
	}
	s.cancelStatement()
	return cancelDelivered
}

// passOn sends a CancelRequest for a client of peer owner to that peer,
// and waits until the peer has handled it (it closes the connection, as
// PostgreSQL does), so that the client's cancel connection closes only
// once the cancel is in effect.
func (srv *Server) passOn(ctx context.Context, cfg *config.Config, owner int, pid uint32, secret []byte) metrics.CancelOutcome {
	peer := cfg.Peer(owner)
	if pid&forwardedBit != 0 || peer == nil {
		srv.log.Debug("cancel request for no client of this pgshard or a peer", "peer_id", owner, "passed_on", pid&forwardedBit != 0)
		return metrics.CancelUnmatched
	}
	if err := sendCancel(ctx, cfg.ProxyProtocol, peer.Address, pid|forwardedBit, secret); err != nil {
		srv.log.Warn("cannot pass a cancel request on to its peer", "peer_id", owner, "address", peer.Address, "err", err)
		return metrics.CancelForwardFailed
	}
	return metrics.CancelForwarded
}

// sendCancel delivers one CancelRequest to the pgshard at addr. When this
// pgshard's own proxy_protocol trusts the address it connects from, the
// peer, configured alike, expects a PROXY header from it: it gets one
// with the LOCAL command, which keeps the connection's own address.
func sendCancel(ctx context.Context, pp *config.ProxyProtocol, addr string, pid uint32, secret []byte) error {
	ctx, cancel := context.WithTimeout(ctx, peerCancelTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	var msg []byte
	if la, ok := conn.LocalAddr().(*net.TCPAddr); ok && pp != nil && pp.Trusts(la.AddrPort().Addr()) {
		h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
		if msg, err = h.Format(); err != nil {
			return fmt.Errorf("PROXY header: %w", err)
		}
	}
	if msg, err = (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}).Encode(msg); err != nil {
		return err
	}
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", peerCancelTimeout)
		}
		if !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}
