package config

import (
	"crypto/x509"
	"fmt"
	"os"
)

// LoadCAs reads a PEM file of CA certificates, as ca_file and
// tls.client_ca_file name them.
func LoadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%q holds no PEM certificate", path)
	}
	return pool, nil
}
