package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// users checks the client users: unique names, an auth method with the
// password it needs, networks, and what TLS a user requires.
func (v *validator) users(users []User, tls *TLS) {
	if len(users) == 0 {
		v.errorf("users", "at least one user is required")
	}
	seen := map[string]string{}
	for i := range users {
		u := &users[i]
		p := fmt.Sprintf("users[%d]", i)
		if !v.ix.has(p + ".name") {
			v.errorf(p+".name", "required")
		} else {
			v.unique(seen, p+".name", "user", u.Name)
		}
		if !slices.Contains(authMethods, u.Auth) {
			oneOf(v, p+".auth", u.Auth, authMethods)
		} else if msg := passwordProblem(u.Auth, u.Password.Reveal()); msg != "" {
			v.errorf(p+".password", "%s", msg)
		}
		if u.ServerPassword != "" && u.ServerUser == "" {
			v.errorf(p+".server_password", "set without server_user; the two go together")
		}
		if v.ix.has(p + ".pool_mode") {
			oneOf(v, p+".pool_mode", u.PoolMode, poolModes)
		}
		if v.ix.has(p+".pool_size") && u.PoolSize < 1 {
			v.errorf(p+".pool_size", "%d is less than 1 (leave it out to use pool.size)", u.PoolSize)
		}
		v.networks(p+".networks", u.Networks, true)
		if u.Auth == AuthCert && (tls == nil || tls.ClientCAFile == "") {
			v.errorf(p+".auth", "cert needs tls.client_ca_file, the CA that client certificates are verified against")
		}
		if v.ix.has(p + ".client_cert") {
			switch {
			case !slices.Contains(clientCertModes, u.ClientCert):
				oneOf(v, p+".client_cert", u.ClientCert, clientCertModes)
			case u.Auth == AuthCert && u.ClientCert != ClientCertVerifyFull:
				v.errorf(p+".client_cert", "auth cert always checks the certificate's name: leave client_cert out, or set verify-full")
			case tls == nil || tls.ClientCAFile == "":
				v.errorf(p+".client_cert", "needs tls.client_ca_file, the CA that client certificates are verified against")
			}
		}
		if u.RequireTLS && tls == nil {
			v.errorf(p+".require_tls", "needs tls (cert_file and key_file) at the top level, so that clients can connect over TLS")
		}
		if v.ix.has(p+".max_client_conn") && u.MaxClientConn < 1 {
			v.errorf(p+".max_client_conn", "%d is less than 1 (leave it out for no limit of the user's own)", u.MaxClientConn)
		}
		if v.ix.has(p+".max_user_connections") && u.MaxUserConnections < 1 {
			v.errorf(p+".max_user_connections", "%d is less than 1 (leave it out for no bound)", u.MaxUserConnections)
		}
	}
}

// networks checks a list of addresses and CIDR prefixes at path, and
// "local" (the Unix socket) where allowLocal.
func (v *validator) networks(path string, list []string, allowLocal bool) {
	for k, n := range list {
		if allowLocal && n == LocalNetwork {
			continue
		}
		if _, err := parseNetwork(n); err != nil {
			what := "neither an address nor a CIDR prefix such as 10.0.0.0/8"
			if allowLocal {
				what = "neither an address, a CIDR prefix such as 10.0.0.0/8, nor local (the Unix socket)"
			}
			v.errorf(fmt.Sprintf("%s[%d]", path, k), "%q is %s", n, what)
		}
	}
}

// passwordProblem checks that a user's password can serve its auth method.
// A value starting with "md5" is taken as an md5 hash and one starting with
// "SCRAM-SHA-256$" as a verifier; either must then be well formed, since a
// mangled hash would otherwise be used as a plain-text password and every
// login would fail with nothing pointing here. Messages never quote the
// password.
func passwordProblem(auth AuthMethod, pw string) string {
	if auth == AuthTrust {
		return ""
	}
	if auth == AuthCert {
		if pw != "" {
			return "not used with auth cert (the client's certificate is its credential); leave it out"
		}
		return ""
	}
	if pw == "" {
		return fmt.Sprintf("required for auth %s (only trust needs none)", auth)
	}
	switch {
	case strings.HasPrefix(pw, "md5"):
		if !isMD5Hash(pw) {
			return `starts with "md5" but is not an md5 hash ("md5" and 32 lowercase hex digits)`
		}
		if auth == AuthSCRAM {
			return "is an md5 hash, which cannot check scram-sha-256 logins; give the plain-text password or a SCRAM-SHA-256 verifier"
		}
	case strings.HasPrefix(pw, scramPrefix):
		if err := checkSCRAMVerifier(pw); err != nil {
			return "is not a well-formed SCRAM-SHA-256 verifier: " + err.Error()
		}
		if auth == AuthMD5 {
			return "is a SCRAM-SHA-256 verifier, which cannot check md5 logins; give the plain-text password or an md5 hash"
		}
	}
	return ""
}

func isMD5Hash(s string) bool {
	hex := strings.TrimPrefix(s, "md5")
	if len(hex) != 32 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkSCRAMVerifier checks the shape PostgreSQL stores in pg_authid:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64 fields,
// keys of SHA-256 size.
func checkSCRAMVerifier(s string) error {
	const shape = "want SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>"
	iterSalt, keys, ok := strings.Cut(strings.TrimPrefix(s, scramPrefix), "$")
	if !ok {
		return errors.New(shape)
	}
	iter, salt, ok1 := strings.Cut(iterSalt, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return errors.New(shape)
	}
	if n, err := strconv.Atoi(iter); err != nil || n < 1 {
		return errors.New("the iteration count is not a positive integer")
	}
	if b, err := base64.StdEncoding.DecodeString(salt); err != nil || len(b) == 0 {
		return errors.New("the salt is not base64")
	}
	for _, k := range []struct{ name, val string }{{"stored key", stored}, {"server key", server}} {
		if b, err := base64.StdEncoding.DecodeString(k.val); err != nil || len(b) != 32 {
			return fmt.Errorf("the %s is not 32 bytes in base64", k.name)
		}
	}
	return nil
}
