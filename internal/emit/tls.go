package emit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS errors a caller may tell apart with errors.Is.
var (
	// ErrClientCertRequired: the receiver asked for a client certificate,
	// none is configured, and the receiver then ended the connection.
	ErrClientCertRequired = errors.New("emit: the receiver requires a TLS client certificate and none is configured")
	// ErrClientCertRefused: the receiver asked for our client certificate,
	// got it, and then ended the connection (another CA, expired, revoked).
	ErrClientCertRefused = errors.New("emit: the receiver refused our TLS client certificate")
)

// LoadTLSConfig builds the client side of TLS to a dnstap receiver: the
// receiver's certificate is verified against the CA certificates in caFile,
// or the system roots when caFile is empty; serverName overrides the name
// checked against the certificate (default: the host of the endpoint);
// certFile and keyFile, both or neither, hold a client certificate for
// mutual TLS. TLS 1.2 is the minimum: older versions are broken and every
// maintained TLS server speaks 1.2. Errors name the file at fault.
func LoadTLSConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("emit: read TLS CA file %s: %w", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("emit: read TLS CA file %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, fmt.Errorf("emit: TLS client certificate %q and key %q: give both or neither", certFile, keyFile)
	default:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("emit: load TLS client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tlsAttempt wraps one connection's copy of the configuration to learn
// whether the receiver asked for a client certificate. With TLS 1.3 the
// client's handshake ends before the server has checked the certificate, so
// a refusal arrives later as an alert on the first read; knowing that a
// certificate was requested (and whether we had one) turns that alert into
// ErrClientCertRequired or ErrClientCertRefused without matching strings.
type tlsAttempt struct {
	cfg       *tls.Config
	requested bool
	sent      bool
}

func newTLSAttempt(base *tls.Config, host string) *tlsAttempt {
	a := &tlsAttempt{cfg: base.Clone()}
	if a.cfg.ServerName == "" {
		a.cfg.ServerName = host
	}
	certs := a.cfg.Certificates
	a.cfg.Certificates = nil
	a.cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		a.requested = true
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				a.sent = true
				return &certs[i], nil
			}
		}
		if len(certs) > 0 {
			// The server accepts none of its issuers' certificates we
			// hold; send ours anyway so its refusal says why.
			a.sent = true
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	return a
}

// explain classifies an error met on a TLS connection after a certificate
// request.
func (a *tlsAttempt) explain(err error) error {
	var verr *tls.CertificateVerificationError
	if err == nil || !a.requested || errors.As(err, &verr) {
		return err
	}
	if a.sent {
		return fmt.Errorf("%w: %w", ErrClientCertRefused, err)
	}
	return fmt.Errorf("%w: %w", ErrClientCertRequired, err)
}
