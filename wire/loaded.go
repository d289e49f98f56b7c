package wire

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/xdg-go/scram"

	"github.com/pgshard/pgshard/internal/config"
)

// loaded is a configuration together with what pgshard derives from it
// once rather than per connection: the SCRAM credentials of the client
// users and the TLS material offered to clients. A reload builds a new one
// and swaps it in whole, so a connection sees one configuration throughout
// its start-up.
type loaded struct {
	cfg        *config.Config
	scramCreds map[string]scram.StoredCredentials
	// tls is nil when no TLS is configured; tlsLeaf is its certificate,
	// which SCRAM channel binding hashes.
	tls     *tls.Config
	tlsLeaf *x509.Certificate
}

// load derives cfg's credentials and reads its TLS certificate and key.
func load(cfg *config.Config) (*loaded, error) {
	l := &loaded{cfg: cfg, scramCreds: map[string]scram.StoredCredentials{}}
	if cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		l.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l.tlsLeaf = cert.Leaf
		if cfg.TLS.ClientCAFile != "" {
			// Asked for, not required: users of other methods connect
			// without one; a certificate given must verify, or the
			// handshake fails, as with PostgreSQL's ssl_ca_file.
			if l.tls.ClientCAs, err = config.LoadCAs(cfg.TLS.ClientCAFile); err != nil {
				return nil, fmt.Errorf("tls.client_ca_file: %w", err)
			}
			l.tls.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	for i := range cfg.Users {
		u := &cfg.Users[i]
		if u.Auth != config.AuthSCRAM {
			continue
		}
		creds, err := scramCredentials(u.Name, u.Password.Reveal())
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, err)
		}
		l.scramCreds[u.Name] = creds
	}
	return l, nil
}

// conf is the configuration in force. Settings a reload may not change
// (see Reload) are the same in every configuration it returns.
func (srv *Server) conf() *config.Config { return srv.live.Load().cfg }

// Config returns the configuration in force: the one the server was made
// with, or the last one Reload applied. The caller must not change it.
func (srv *Server) Config() *config.Config { return srv.conf() }
