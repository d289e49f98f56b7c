package wire

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"

	"github.com/pgshard/pgshard/internal/config"
)

// Client authentication. The SCRAM-SHA-256 exchange (with channel binding,
// SCRAM-SHA-256-PLUS, over TLS) is xdg-go/scram's; pgshard only carries its
// messages in the Postgres SASL envelope. md5 is Postgres's own scheme.

// scramIterations matches Postgres's default scram_iterations.
const scramIterations = 4096

// scramCredentials derives the stored SCRAM credentials for a user from a
// plain password or parses a Postgres verifier
// (SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>).
func scramCredentials(user string, password string) (scram.StoredCredentials, error) {
	if strings.HasPrefix(password, "SCRAM-SHA-256$") {
		return parseSCRAMVerifier(password)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return scram.StoredCredentials{}, err
	}
	client, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		return scram.StoredCredentials{}, fmt.Errorf("SCRAM credentials for user %q: %w", user, err)
	}
	creds, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
	if err != nil {
		return scram.StoredCredentials{}, fmt.Errorf("SCRAM credentials for user %q: %w", user, err)
	}
	return creds, nil
}

func parseSCRAMVerifier(v string) (scram.StoredCredentials, error) {
	bad := fmt.Errorf("malformed SCRAM-SHA-256 verifier")
	rest := strings.TrimPrefix(v, "SCRAM-SHA-256$")
	factors, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return scram.StoredCredentials{}, bad
	}
	iterStr, saltB64, ok1 := strings.Cut(factors, ":")
	storedB64, serverB64, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return scram.StoredCredentials{}, bad
	}
	iters, err := strconv.Atoi(iterStr)
	salt, err1 := base64.StdEncoding.DecodeString(saltB64)
	stored, err2 := base64.StdEncoding.DecodeString(storedB64)
	server, err3 := base64.StdEncoding.DecodeString(serverB64)
	if err != nil || err1 != nil || err2 != nil || err3 != nil || iters < 1 {
		return scram.StoredCredentials{}, bad
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iters},
		StoredKey:  stored, ServerKey: server,
	}, nil
}

func authFailed(user string) *pgError {
	return fatalf(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user))
}

// authenticate runs the exchange configured for the user. u is nil for an
// unknown user: the exchange still runs against throw-away credentials and
// fails the same way, so user names cannot be probed.
func (srv *Server) authenticate(be *pgproto3.Backend, l *loaded, tlsState *tls.ConnectionState, name string, u *config.User) error {
	method := config.AuthSCRAM
	if u != nil {
		method = u.Auth
	}
	switch method {
	case config.AuthTrust:
		return nil
	case config.AuthMD5:
		return srv.authMD5(be, name, u)
	case config.AuthCert:
		return authCert(tlsState, name)
	default:
		return srv.authSCRAM(be, l, tlsState, name, u)
	}
}

// authCert is PostgreSQL's cert method: the client's certificate, which
// the TLS handshake verified against tls.client_ca_file, must name the
// user as its common name.
func authCert(tlsState *tls.ConnectionState, name string) error {
	return certNames(tlsState, name, true)
}

// certNames checks that the client gave a certificate the handshake
// verified, and with named that its common name is the user's name.
func certNames(tlsState *tls.ConnectionState, name string, named bool) error {
	if tlsState == nil || len(tlsState.VerifiedChains) == 0 {
		return &pgError{Severity: "FATAL", Code: codeInvalidAuthorization, Message: "connection requires a valid client certificate",
			Hint: "Connect over TLS with a certificate signed by a CA in pgshard's tls.client_ca_file (sslcert and sslkey in libpq)."}
	}
	if named && tlsState.VerifiedChains[0][0].Subject.CommonName != name {
		return fatalf(codeInvalidAuthorization, fmt.Sprintf("certificate authentication failed for user %q", name))
	}
	return nil
}

func (srv *Server) authMD5(be *pgproto3.Backend, name string, u *config.User) error {
	var salt [4]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return err
	}
	be.Send(&pgproto3.AuthenticationMD5Password{Salt: salt})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeMD5Password); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok || u == nil {
		return authFailed(name)
	}
	// The stored secret is either the password or Postgres's md5 hash of it.
	inner := u.Password.Reveal()
	if !isMD5Hash(inner) {
		inner = "md5" + md5hex(inner+name)
	}
	want := "md5" + md5hex(inner[3:]+string(salt[:]))
	if subtle.ConstantTimeCompare([]byte(pm.Password), []byte(want)) != 1 {
		return authFailed(name)
	}
	return nil
}

func isMD5Hash(s string) bool {
	if len(s) != 35 || !strings.HasPrefix(s, "md5") {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (srv *Server) authSCRAM(be *pgproto3.Backend, l *loaded, tlsState *tls.ConnectionState, name string, u *config.User) error {
	creds, ok := l.scramCreds[name]
	if u == nil || !ok {
		// Unknown user: random credentials that no password matches.
		var err error
		if creds, err = scramCredentials(name, rand.Text()); err != nil {
			return err
		}
	}
	server, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		return err
	}
	mechanisms := []string{"SCRAM-SHA-256"}
	var binding scram.ChannelBinding
	if tlsState != nil && l.tlsLeaf != nil {
		// tls-server-end-point binds to the hash of the server certificate.
		// xdg-go/scram computes it from a connection state's peer
		// certificate, as a client sees it, so hand it the server's own.
		seen := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{l.tlsLeaf}}
		if binding, err = scram.NewTLSServerEndpointBinding(seen); err == nil {
			mechanisms = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}
		}
	}
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechanisms})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return fatalf(codeProtocolViolation, "expected SASLInitialResponse")
	}
	var conv *scram.ServerConversation
	switch {
	case initial.AuthMechanism == "SCRAM-SHA-256-PLUS" && len(mechanisms) == 2:
		conv = server.NewConversationWithChannelBindingRequired(binding)
	case initial.AuthMechanism == "SCRAM-SHA-256":
		if len(mechanisms) == 2 {
			conv = server.NewConversationWithChannelBinding(binding)
		} else {
			conv = server.NewConversation()
		}
	default:
		return fatalf(codeProtocolViolation, fmt.Sprintf("unsupported SASL mechanism %q", initial.AuthMechanism))
	}
	first, err := conv.Step(string(initial.Data))
	if err != nil {
		return authFailed(name)
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(first)})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	msg, err = be.Receive()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return fatalf(codeProtocolViolation, "expected SASLResponse")
	}
	final, err := conv.Step(string(resp.Data))
	if err != nil || !conv.Valid() || u == nil {
		return authFailed(name)
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(final)})
	return nil
}
