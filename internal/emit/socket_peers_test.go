package emit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
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

// seqFrames returns n distinct frames: an 8-byte sequence number, then
// padding of a varying length (so batches cut at varied offsets).
func seqFrames(first, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		seq := first + i
		f := make([]byte, 8+100+seq%300)
		binary.BigEndian.PutUint64(f, uint64(seq))
		for j := 8; j < len(f); j++ {
			f[j] = byte(seq + j)
		}
		out[i] = f
	}
	return out
}

// seqOf returns the sequence numbers of frames made by seqFrames, failing
// on any frame it did not make.
func seqOf(t testing.TB, frames [][]byte) []int {
	t.Helper()
	out := make([]int, len(frames))
	for i, f := range frames {
		seq := int(binary.BigEndian.Uint64(f))
		if want := seqFrames(seq, 1)[0]; !bytes.Equal(f, want) {
			t.Fatalf("frame %d (seq %d) is corrupt", i, seq)
		}
		out[i] = seq
	}
	return out
}

// readFrames reads every data frame of a Frame Streams file.
func readFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := NewFrameReader(f)
	var out [][]byte
	for {
		b, err := fr.ReadFrame()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(out), err)
		}
		out = append(out, append([]byte(nil), b...))
	}
}

// fstrmCapture is a running fstrm_capture, the reference Frame Streams receiver
// (C, Debian fstrm-bin).
type fstrmCapture struct {
	t      testing.TB
	ep     Endpoint
	file   string
	cmd    *exec.Cmd
	exited chan error
	stderr bytes.Buffer
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCapture starts fstrm_capture on ep (a unix path or 127.0.0.1:port),
// writing to file, and waits until it listens. It is stopped at the end of
// the test if the test did not stop it.
func startCapture(t testing.TB, ep Endpoint, file string) *fstrmCapture {
	t.Helper()
	tool := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	args := []string{"-t", ContentType, "-w", file}
	if ep.Network == "unix" {
		args = append(args, "-u", ep.Addr)
	} else {
		host, port, _ := net.SplitHostPort(ep.Addr)
		args = append(args, "-a", host, "-p", port)
	}
	if ep.Network == "unix" {
		// fstrm_capture leaves its socket behind and refuses to bind
		// over one.
		os.Remove(ep.Addr)
	}
	c := &fstrmCapture{t: t, ep: ep, file: file, cmd: exec.Command(tool, args...), exited: make(chan error, 1)}
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
		if ep.Network == "unix" {
			if unixListening(t, ep.Addr) {
				break
			}
		} else if listening(t, ep.Addr) {
			break
		}
		if i == 500 {
			t.Fatalf("fstrm_capture on %s did not start: %s", ep, c.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// listening reports whether a TCP port on 127.0.0.1 is in the LISTEN state,
// from /proc, without connecting (a connection would be a client to it).
func listening(t testing.TB, addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, fmt.Appendf(nil, ":%04X 00000000:0000 0A", p))
}

// unixListening reports whether a unix socket is bound to path and
// listening (the file appears at bind, before listen: a client in between
// would be refused).
func unixListening(t testing.TB, path string) bool {
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

// stop ends fstrm_capture with SIGINT (it writes its file on exit) and
// returns the frames of its file.
func (c *fstrmCapture) stop() [][]byte {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		c.t.Fatal(err)
	}
	<-c.exited
	if _, err := os.Stat(c.file); err != nil {
		c.t.Fatalf("fstrm_capture wrote no file: %v: %s", err, c.stderr.String())
	}
	return readFrames(c.t, c.file)
}

// pki is a test CA with certificates it signed, written as PEM files.
type pki struct {
	dir    string
	name   string
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	CAFile string
}

func newPKI(t testing.TB, dir, name string) *pki {
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
	p := &pki{dir: dir, name: name, key: key, cert: cert, CAFile: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

// issue writes a certificate for cn (a server when dnsName is set) and its
// key, returning their paths.
func (p *pki) issue(t testing.TB, cn, dnsName string) (certFile, keyFile string) {
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

// startStunnel runs stunnel (Debian stunnel4) as a TLS server on a free
// port in front of backend (host:port), with the server certificate and,
// when caFile is set, client certificates required and checked against it
// (verifyChain). It returns the TLS endpoint.
func startStunnel(t testing.TB, dir, certFile, keyFile, caFile, backend string) Endpoint {
	t.Helper()
	tool, err := exec.LookPath("stunnel4")
	if err != nil {
		tool = testenv.NeedTool(t, "stunnel", "stunnel4")
	}
	port := freePort(t)
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
	for i := 0; !listening(t, addr); i++ {
		if i == 500 {
			t.Fatalf("stunnel did not start: %s", stderr.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("stunnel exited: %v: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return Endpoint{"tcp", addr}
}

// BenchmarkSocketOutput measures frames/s through a SocketOutput to a
// local fstrm_capture (writing to a temporary file) over a unix socket, TCP, and
// TLS 1.3 through stunnel in front of it, and, for comparison in the same
// run, through a FileOutput to a file. Frames average 258 bytes, in
// 256 KiB batches as a Queue hands them over.
func BenchmarkSocketOutput(b *testing.B) {
	frames := seqFrames(0, 1000)
	var batch []byte
	per := 0
	for len(batch) < DefaultBatchSize-1000 {
		f := frames[per%len(frames)]
		batch = binary.BigEndian.AppendUint32(batch, uint32(len(f)))
		batch = append(batch, f...)
		per++
	}
	for _, kind := range []string{"file", "unix", "tcp", "tls"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			// fstrm_capture replaces its output path rather than writing
			// into it: given /dev/null it would leave a regular file in
			// place of the device. Its file goes to the test's directory.
			sink := filepath.Join(dir, "rx.fstrm")
			var ep Endpoint
			var tcfg *tls.Config
			switch kind {
			case "unix":
				ep = Endpoint{"unix", filepath.Join(dir, "rx.sock")}
				startCapture(b, ep, sink)
			case "tcp":
				ep = Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))}
				startCapture(b, ep, sink)
			case "tls":
				backend := Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))}
				startCapture(b, backend, sink)
				ca := newPKI(b, dir, "ca")
				cert, key := ca.issue(b, "receiver", "receiver.test")
				ep = startStunnel(b, dir, cert, key, "", backend.Addr)
				var err error
				if tcfg, err = LoadTLSConfig(ca.CAFile, "", "", "receiver.test"); err != nil {
					b.Fatal(err)
				}
			}
			var s Output
			var err error
			if kind == "file" {
				s, err = NewFileOutput(FileConfig{Path: filepath.Join(dir, "out.dnstap"), Logf: b.Logf})
			} else {
				s, err = NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{ep}, TLS: tcfg, Logf: b.Logf})
			}
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.WriteBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "frames/s")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if st := s.Stats(); st.Dropped() != 0 {
				b.Fatalf("%d frames dropped", st.Dropped())
			}
		})
	}
}
