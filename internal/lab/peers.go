package lab

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Frame Streams and TLS peers on loopback: fstrm_capture (the reference
// receiver), stunnel in front of it, and a small CA for their certificates.
// The emit tests and the sensor's end-to-end tests share them.

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FstrmCapture is a running fstrm_capture (Debian fstrm-bin), the
// reference Frame Streams receiver, writing what it receives to File.
type FstrmCapture struct {
	File   string
	t      testing.TB
	what   string
	cmd    *exec.Cmd
	exited chan error
	stderr bytes.Buffer
}

// StartFstrmCapture starts fstrm_capture for contentType on network
// ("unix": a path; "tcp": 127.0.0.1:port), writing to file, and waits until
// it listens. It is killed at the end of the test if the test did not stop
// it.
func StartFstrmCapture(t testing.TB, network, addr, contentType, file string) *FstrmCapture {
	t.Helper()
	tool := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	args := []string{"-t", contentType, "-w", file}
	if network == "unix" {
		args = append(args, "-u", addr)
		// fstrm_capture leaves its socket behind and refuses to bind
		// over one.
		os.Remove(addr)
	} else {
		host, port, _ := net.SplitHostPort(addr)
		args = append(args, "-a", host, "-p", port)
	}
	c := &FstrmCapture{File: file, t: t, what: network + ":" + addr, cmd: exec.Command(tool, args...), exited: make(chan error, 1)}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	// fstrm_capture gives no readiness signal but its listening socket.
	for i := 0; ; i++ {
		if network == "unix" {
			if UnixListening(t, addr) {
				break
			}
		} else if TCPListening(t, addr) {
			break
		}
		if i == 500 {
			t.Fatalf("lab: fstrm_capture on %s did not start: %s", c.what, c.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// TCPListening reports whether a TCP port on 127.0.0.1 is in the LISTEN state,
// from /proc, without connecting (a connection would be a client to it).
func TCPListening(t testing.TB, addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, fmt.Appendf(nil, ":%04X 00000000:0000 0A", p))
}

// UnixListening reports whether a unix socket is bound to path and
// listening (the file appears at bind, before listen: a client in between
// would be refused).
func UnixListening(t testing.TB, path string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path; flag
		// 0x10000 is __SO_ACCEPTCON, set by listen(2).
		if len(f) == 8 && string(f[7]) == path && string(f[3]) == "00010000" {
			return true
		}
	}
	return false
}

// Stop ends fstrm_capture with SIGINT (it writes its file on exit) and
// checks that the file is there.
func (c *FstrmCapture) Stop() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		c.t.Fatal(err)
	}
	<-c.exited
	if _, err := os.Stat(c.File); err != nil {
		c.t.Fatalf("lab: fstrm_capture wrote no file: %v: %s", err, c.stderr.String())
	}
}

// PKI is a test CA with certificates it signed, written as PEM files.
type PKI struct {
	dir    string
	name   string
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	CAFile string
}

// NewPKI makes a CA named name whose files go to dir.
func NewPKI(t testing.TB, dir, name string) *PKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{dir: dir, name: name, key: key, cert: cert, CAFile: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

// Issue writes a certificate for cn (a server when dnsName is set) and its
// key, returning their paths.
func (p *PKI) Issue(t testing.TB, cn, dnsName string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if dnsName != "" {
		tmpl.DNSNames = []string{dnsName}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, p.name+"-"+cn+".pem")
	keyFile = filepath.Join(p.dir, p.name+"-"+cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// StartStunnel runs stunnel (Debian stunnel4) as a TLS server on a free
// port in front of backend (host:port), with the server certificate and,
// when caFile is set, client certificates required and checked against it
// (verifyChain). It returns the TLS address (127.0.0.1:port).
func StartStunnel(t testing.TB, dir, certFile, keyFile, caFile, backend string) string {
	t.Helper()
	tool, err := exec.LookPath("stunnel4")
	if err != nil {
		tool = testenv.NeedTool(t, "stunnel", "stunnel4")
	}
	port := FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := fmt.Sprintf("foreground = yes\npid =\ndebug = 4\n[dnstap]\naccept = %s\nconnect = %s\ncert = %s\nkey = %s\n",
		addr, backend, certFile, keyFile)
	if caFile != "" {
		conf += fmt.Sprintf("CAfile = %s\nverifyChain = yes\n", caFile)
	}
	cf := filepath.Join(dir, fmt.Sprintf("stunnel-%d.conf", port))
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, cf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("stunnel: %s", stderr.String())
		}
	})
	for i := 0; !TCPListening(t, addr); i++ {
		if i == 500 {
			t.Fatalf("lab: stunnel did not start: %s", stderr.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("lab: stunnel exited: %v: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return addr
}
