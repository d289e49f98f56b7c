package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// authority is a test CA that issues certificates, written to dir.
type authority struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string
	serial int64
}

func newAuthority(t *testing.T, name string) *authority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &authority{dir: t.TempDir(), cert: cert, key: key, serial: 1}
	ca.file = ca.write(t, "ca.crt", "CERTIFICATE", der)
	return ca
}

func (ca *authority) write(t *testing.T, name, typ string, b []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	// libpq refuses a key file readable by others.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a client certificate for common name cn and its key.
func (ca *authority) issue(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	return ca.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// issueServer writes a server certificate for localhost and 127.0.0.1.
func (ca *authority) issueServer(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	return ca.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

func (ca *authority) sign(t *testing.T, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	ca.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(ca.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	name := tmpl.Subject.CommonName
	return ca.write(t, name+".crt", "CERTIFICATE", der), ca.write(t, name+".key", "EC PRIVATE KEY", keyDER)
}

// testCA writes a CA and a server certificate for 127.0.0.1/localhost.
func testCA(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := newAuthority(t, "pgshard test CA")
	certFile, keyFile = ca.issueServer(t)
	return ca.file, certFile, keyFile
}

// auth: cert logs a client in by its TLS certificate, as PostgreSQL's
// cert method does: signed by a CA of tls.client_ca_file and naming the
// user as its common name. No certificate, a certificate for another
// name, or no TLS at all is 28000; a certificate from another CA fails
// the handshake. users[].client_cert asks for a certificate on top of a
// password, as pg_hba.conf's clientcert. Users of other methods keep
// logging in without one.
func TestClientCertificateAuthentication(t *testing.T) {
	_, serverCert, serverKey := testCA(t)
	ca, stranger := newAuthority(t, "pgshard test client CA"), newAuthority(t, "someone else's CA")
	p := startProxy(t, proxyOptions{
		extra: "tls:\n  cert_file: " + serverCert + "\n  key_file: " + serverKey + "\n  client_ca_file: " + ca.file,
		users: "  - {name: certuser, auth: cert}\n" +
			"  - {name: pinned, password: pinned-secret, client_cert: verify-full}\n" +
			"  - {name: anyca, password: anyca-secret, client_cert: verify-ca}\n" +
			"  - {name: faraway, password: pw, client_cert: verify-full, networks: [10.0.0.0/8]}\n",
	})
	ctx := ctxFor(t, time.Minute)
	goodCert, goodKey := ca.issue(t, "certuser")
	otherCert, otherKey := ca.issue(t, "someoneelse")
	strangerCert, strangerKey := stranger.issue(t, "certuser")
	dsn := func(user, query string) string { return "postgres://" + user + "@" + p.Addr + "/app?" + query }
	withCert := func(cert, key string) string { return "sslmode=require&sslcert=" + cert + "&sslkey=" + key }

	conn, err := pgconn.Connect(ctx, dsn("certuser", withCert(goodCert, goodKey)))
	if err != nil {
		t.Fatalf("login with the user's certificate: %v", err)
	}
	res, err := conn.Exec(ctx, "SELECT 41 + 1").ReadAll()
	if err != nil || string(res[0].Rows[0][0]) != "42" {
		t.Fatalf("query as certuser: %v %v", res, err)
	}
	conn.Close(ctx)

	var pe *pgconn.PgError
	for _, c := range []struct{ name, query, msg string }{
		{"no certificate", "sslmode=require", "connection requires a valid client certificate"},
		{"no TLS", "sslmode=disable", "connection requires a valid client certificate"},
		{"another user's certificate", withCert(otherCert, otherKey), `certificate authentication failed for user "certuser"`},
	} {
		_, err := pgconn.Connect(ctx, dsn("certuser", c.query))
		if !errors.As(err, &pe) || pe.Code != "28000" || pe.Message != c.msg {
			t.Errorf("%s: %v, want 28000 %s", c.name, err, c.msg)
		}
	}
	// Go's TLS client keeps back a certificate of a CA that pgshard's
	// request does not list, so pgx comes without one; libpq sends it,
	// and the handshake fails.
	_, err = pgconn.Connect(ctx, dsn("certuser", withCert(strangerCert, strangerKey)))
	if !errors.As(err, &pe) || pe.Code != "28000" {
		t.Errorf("pgx with a certificate of an unknown CA: %v, want 28000", err)
	}
	if out, err := runPsql(dsn("certuser", withCert(strangerCert, strangerKey)), "SELECT 1"); err == nil || !strings.Contains(out, "unknown ca") {
		t.Errorf("psql with a certificate of an unknown CA: %v\n%s; want the TLS handshake refused", err, out)
	}

	// client_cert: a certificate on top of the password, checked before
	// it: verify-full wants the user's name, verify-ca any of the CA's.
	pinnedCert, pinnedKey := ca.issue(t, "pinned")
	for _, c := range []struct {
		name, user, query, code string
	}{
		{"verify-full, its certificate", "pinned:pinned-secret", withCert(pinnedCert, pinnedKey), ""},
		{"verify-full, wrong password", "pinned:wrong", withCert(pinnedCert, pinnedKey), "28P01"},
		{"verify-full, no certificate", "pinned:pinned-secret", "sslmode=require", "28000"},
		{"verify-full, another name", "pinned:pinned-secret", withCert(otherCert, otherKey), "28000"},
		{"verify-ca, another name", "anyca:anyca-secret", withCert(otherCert, otherKey), ""},
		{"verify-ca, no certificate", "anyca:anyca-secret", "sslmode=require", "28000"},
		{"verify-ca, wrong password", "anyca:wrong", withCert(otherCert, otherKey), "28P01"},
	} {
		conn, err := pgconn.Connect(ctx, dsn(c.user, c.query))
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != "" && (!errors.As(err, &pe) || pe.Code != c.code):
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
		if conn != nil {
			conn.Close(ctx)
		}
	}

	// The address is checked first: a client from elsewhere hears only
	// that, whatever its certificate.
	if _, err := pgconn.Connect(ctx, dsn("faraway:pw", "sslmode=require")); !errors.As(err, &pe) || pe.Code != "28000" || !strings.Contains(pe.Message, "may not connect from") {
		t.Errorf("client_cert user from another network: %v, want 28000 naming the address", err)
	}

	// A SCRAM user over TLS without a certificate, and libpq with one.
	scram, err := pgconn.Connect(ctx, dsn("app:app-secret", "sslmode=require"))
	if err != nil {
		t.Fatalf("SCRAM user without a client certificate: %v", err)
	}
	scram.Close(ctx)
	out, err := runPsql(dsn("certuser", withCert(goodCert, goodKey)), "SELECT current_user IS NOT NULL")
	if err != nil || out != "t" {
		t.Fatalf("psql with sslcert/sslkey: %v\n%s", err, out)
	}
}

// A node's cert_file and key_file are the client certificate pgshard
// presents to that server (libpq's sslcert, sslkey): with the server
// trusting their CA (ssl_ca_file), pg_stat_ssl shows it on pgshard's
// server connection; without them the server sees none.
func TestClientCertificateToServers(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	ca := newAuthority(t, "pgshard servers' client CA")
	certFile, keyFile := ca.issue(t, "pgshard-to-server")
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	// The CA goes into the server's container line by line (COPY's text
	// format writes PEM's characters as they are).
	pemText, err := os.ReadFile(ca.file)
	if err != nil {
		t.Fatal(err)
	}
	const serverCA = "/tmp/pgshard-test-client-ca.crt"
	// COPY takes no parameters; PEM lines hold no quote.
	lines := strings.Split(strings.TrimSpace(string(pemText)), "\n")
	if strings.Contains(string(pemText), "'") {
		t.Fatal("a quote in PEM text")
	}
	if _, err := direct.Exec(ctx, "COPY (SELECT l FROM unnest(ARRAY['"+strings.Join(lines, "','")+"']) WITH ORDINALITY AS u(l, n) ORDER BY n) TO '"+serverCA+"'"); err != nil {
		t.Fatal(err)
	}
	reload := func(set string) {
		t.Helper()
		if _, err := direct.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
		if _, err := direct.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the postmaster reloads asynchronously
	}
	reload("ALTER SYSTEM SET ssl_ca_file = '" + serverCA + "'")
	defer func() {
		_, _ = direct.Exec(context.Background(), "ALTER SYSTEM RESET ssl_ca_file")
		_, _ = direct.Exec(context.Background(), "SELECT pg_reload_conf()")
	}()

	for _, tc := range []struct {
		tls, want string
	}{
		{"require, cert_file: " + certFile + ", key_file: " + keyFile, "CN=pgshard-to-server"},
		{"require", ""},
	} {
		p := startProxy(t, proxyOptions{serverTLS: tc.tls})
		conn := connect(t, p.DSN("app", "app-secret"))
		var dn string
		err := conn.QueryRow(ctx, `SELECT coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()`, pgx.QueryExecModeSimpleProtocol).Scan(&dn)
		if err != nil {
			t.Fatalf("tls %s: %v", tc.tls, err)
		}
		if !strings.Contains(dn, tc.want) || (tc.want == "") != (dn == "") {
			t.Errorf("tls %s: the server saw client certificate %q, want %q", tc.tls, dn, tc.want)
		}
		p.Stop()
	}
}
