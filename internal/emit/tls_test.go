package emit

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoadTLSConfig: the minimum version, the server name, and errors that
// name the file at fault.
func TestLoadTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	cert, key := ca.Issue(t, "sensor", "")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name                     string
		ca, cert, key, server    string
		wantErrIn                string // "" for success
		wantRoots, wantClientCrt bool
	}{
		{"system-roots", "", "", "", "", "", false, false},
		{"ca-and-name", ca.CAFile, "", "", "rx.example", "", true, false},
		{"mutual", ca.CAFile, cert, key, "", "", true, true},
		{"missing-ca", missing, "", "", "", missing, false, false},
		{"ca-not-pem", notPEM, "", "", "", notPEM, false, false},
		{"cert-without-key", "", cert, "", "", cert, false, false},
		{"key-without-cert", "", "", key, "", key, false, false},
		{"cert-is-ca-key-mismatch", "", ca.CAFile, key, "", ca.CAFile, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadTLSConfig(tc.ca, tc.cert, tc.key, tc.server)
			if tc.wantErrIn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrIn) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErrIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.ServerName != tc.server ||
				(cfg.RootCAs != nil) != tc.wantRoots || (len(cfg.Certificates) == 1) != tc.wantClientCrt {
				t.Fatalf("config: min %x name %q roots %v certs %d", cfg.MinVersion, cfg.ServerName, cfg.RootCAs != nil, len(cfg.Certificates))
			}
		})
	}
}

// TestSocketOutputTLSStunnel: stunnel (Debian stunnel4) terminates TLS in
// front of fstrm_capture and requires a client certificate from our CA
// (verifyChain). With the right CA, server name and client certificate
// every frame arrives exactly once; a server certificate from another CA
// is refused by us; without a client certificate stunnel refuses us and
// the error says so.
func TestSocketOutputTLSStunnel(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	other := newPKI(t, dir, "other")
	srvCert, srvKey := ca.Issue(t, "receiver", "receiver.test")
	cliCert, cliKey := ca.Issue(t, "sensor", "")
	otherCert, otherKey := other.Issue(t, "sensor", "")
	for _, tc := range []struct {
		name             string
		caFile           string
		cert, key        string
		wantErr          error // nil: every frame arrives
		wantVerification bool  // we refuse the receiver's certificate
	}{
		{"mutual", ca.CAFile, cliCert, cliKey, nil, false},
		{"server-from-another-ca", other.CAFile, cliCert, cliKey, nil, true},
		{"no-client-cert", ca.CAFile, "", "", ErrClientCertRequired, false},
		{"client-cert-from-another-ca", ca.CAFile, otherCert, otherKey, ErrClientCertRefused, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}
			rx := startCapture(t, backend, filepath.Join(t.TempDir(), "rx.fstrm"))
			ep := startStunnel(t, dir, srvCert, srvKey, ca.CAFile, backend.Addr)
			tcfg, err := LoadTLSConfig(tc.caFile, tc.cert, tc.key, "receiver.test")
			if err != nil {
				t.Fatal(err)
			}
			var log logLines
			s, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{ep}, TLS: tcfg, Logf: log.logf})
			if err != nil {
				t.Fatal(err)
			}
			frames := seqFrames(0, 3000)
			writeBatches(t, s, frames, 500)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got := seqOf(t, rx.stop())
			st := s.Stats()
			checkIdentity(t, st)
			if tc.wantErr == nil && !tc.wantVerification {
				if want := seqOf(t, frames); !slices.Equal(got, want) || st.Delivered() != 3000 {
					t.Fatalf("fstrm_capture got %d frames, delivered %d, want 3000 in order", len(got), st.Delivered())
				}
				return
			}
			if len(got) != 0 || st.Delivered() != 0 || st.DroppedBy(DropDisconnected) != 3000 {
				t.Fatalf("refused, yet fstrm_capture got %d frames; delivered %d dropped %d", len(got), st.Delivered(), st.Dropped())
			}
			msg, _ := st.LastError()
			if !strings.Contains(msg, ep.Addr) {
				t.Fatalf("error %q does not name the receiver", msg)
			}
			// Logged once, as it was first met (a retry may meet it at
			// another step of the handshake: same condition, no line).
			if len(log.lines) != 2 || !strings.Contains(log.lines[0], ep.Addr) {
				t.Fatalf("log %q: want the receiver's condition, then the output's", log.lines)
			}
			t.Logf("reported: %s", msg)
			if tc.wantVerification && !strings.Contains(msg, "certificate signed by unknown authority") {
				t.Fatalf("error %q: want the verification failure", msg)
			}
			if tc.wantErr != nil && (!strings.Contains(msg, tc.wantErr.Error()) || !strings.Contains(log.lines[0], tc.wantErr.Error())) {
				t.Fatalf("error %q, logged %q: want %v", msg, log.lines[0], tc.wantErr)
			}
			if tc.wantVerification && !strings.Contains(log.lines[0], "certificate signed by unknown authority") {
				t.Fatalf("logged %q: want the verification failure", log.lines[0])
			}
		})
	}
}

// TestSocketOutputTLSErrorKinds checks with errors.Is/As, on a Go TLS
// server, what the stunnel test checks in the messages.
func TestSocketOutputTLSErrorKinds(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	other := newPKI(t, dir, "other")
	srvCert, srvKey := ca.Issue(t, "receiver", "receiver.test")
	kp, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs, err := LoadTLSConfig(ca.CAFile, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{kp}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs.RootCAs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				var b [64]byte
				_, _ = c.Read(b[:])
			}()
		}
	}()
	for _, tc := range []struct {
		name   string
		caFile string
		check  func(err error) bool
	}{
		{"another-ca", other.CAFile, func(err error) bool {
			var v *tls.CertificateVerificationError
			return errors.As(err, &v)
		}},
		{"no-client-cert", ca.CAFile, func(err error) bool { return errors.Is(err, ErrClientCertRequired) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tcfg, err := LoadTLSConfig(tc.caFile, "", "", "receiver.test")
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSocketOutput(SocketOutputConfig{
				Endpoints: []Endpoint{{"tcp", l.Addr().String()}}, TLS: tcfg,
				Socket: SocketConfig{DialTimeout: time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			var got error
			s.logf = func(format string, args ...any) {
				for _, a := range args {
					if e, ok := a.(error); ok && got == nil {
						got = e
					}
				}
			}
			if err := s.WriteBatch(batchOf(seqFrames(0, 3))); !errors.Is(err, ErrNotConnected) {
				t.Fatalf("WriteBatch: %v", err)
			}
			if got == nil || !tc.check(got) {
				t.Fatalf("error %v is not of the expected kind", got)
			}
		})
	}
}
