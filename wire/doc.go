// Package wire speaks the PostgreSQL protocol on both sides of the proxy:
// client sessions (startup, TLS, authentication, cancel) at the front, server
// connections and their pools at the back.
package wire
