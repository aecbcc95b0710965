package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// debVersion is the version the test builds its package with.
const debVersion = "0.0.1~test"

// debianMirror is the Debian mirror apt on this machine uses (the one it
// can reach), or SENSOR_DEBIAN_MIRROR.
func debianMirror() string {
	if m := os.Getenv("SENSOR_DEBIAN_MIRROR"); m != "" {
		return m
	}
	for _, path := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			for _, u := range fields {
				if strings.HasPrefix(u, "http") && strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
					f.Close()
					return u
				}
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian"
}

// debianRoot returns a minimal Debian bookworm root (debootstrap
// --variant=minbase), made once and kept under .cache/ in the repository
// (git-ignored): about 80 MB once its package cache and documentation are
// removed. Tests install into it and purge again.
func debianRoot(t testing.TB) string {
	t.Helper()
	root := filepath.Join(testenv.RepoRoot(), ".cache", "debroot-bookworm")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/dpkg")); err == nil {
		return root
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", tmp, debianMirror()).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("debootstrap from %s: %v\n%s", debianMirror(), err, out)
	}
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*", "usr/share/locale/*", "usr/share/info/*"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, glob))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	return root
}

// inRoot runs a command chrooted into root and returns its combined
// output and exit code.
func inRoot(t testing.TB, root string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chroot %v: %v", args, err)
	}
	return string(out), code
}

// TestDebInstallsInFreshRoot (issue #10): `make dist` builds a .deb that
// lintian passes, that installs into a fresh Debian root (the system user,
// the output directory, the conffiles), whose dnstap-sensor runs there
// (version, check-config of the packaged config), that keeps an edited
// config across a reinstall and that purges cleanly.
func TestDebInstallsInFreshRoot(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "debootstrap", "debootstrap")
	testenv.NeedTool(t, "dpkg-deb", "dpkg")
	testenv.NeedTool(t, "make", "make")
	dist := t.TempDir()
	build := exec.Command("make", "--no-print-directory", "dist", "DIST_DIR="+dist, "DIST_ARCHES="+runtime.GOARCH, "DIST_VERSION="+debVersion)
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "dnstap-sensor_"+debVersion+"_"+runtime.GOARCH+".deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatal(err)
	}

	t.Run("lintian", func(t *testing.T) {
		testenv.NeedTool(t, "lintian", "lintian")
		out, err := exec.Command("lintian", "--tag-display-limit", "0", deb).CombinedOutput()
		var tags []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "running with root privileges") {
				tags = append(tags, line)
			}
		}
		if err != nil || len(tags) > 0 {
			t.Errorf("lintian (%v):\n%s", err, strings.Join(tags, "\n"))
		}
	})

	root := debianRoot(t)
	// A run that failed half-way may have left the package or its user.
	inRoot(t, root, "dpkg", "--purge", "dnstap-sensor")
	inRoot(t, root, "userdel", "dnstap-sensor")
	t.Cleanup(func() { inRoot(t, root, "dpkg", "--purge", "dnstap-sensor") })
	installFile(t, deb, filepath.Join(root, "tmp", "dnstap-sensor.deb"), 0o644)
	install := func() {
		t.Helper()
		if out, code := inRoot(t, root, "dpkg", "-i", "/tmp/dnstap-sensor.deb"); code != 0 {
			t.Fatalf("dpkg -i: exit %d\n%s", code, out)
		}
	}
	install()

	if out, code := inRoot(t, root, "dnstap-sensor", "version"); code != 0 || out != "dnstap-sensor "+debVersion+"\n" {
		t.Errorf("dnstap-sensor version: exit %d, %q; want %q", code, out, "dnstap-sensor "+debVersion+"\n")
	}
	const conf = "/etc/dnstap-sensor/sensor.conf"
	checkConfig := func(wantSummary string) {
		t.Helper()
		out, code := inRoot(t, root, "dnstap-sensor", "check-config", conf)
		if code != 0 || !strings.HasSuffix(out, conf+": "+wantSummary+"\n") {
			t.Errorf("check-config: exit %d\n%s\nwant exit 0 and %q", code, out, wantSummary)
		}
	}
	// The packaged config names eth1, which the root's namespace lacks.
	checkConfig("0 error(s), 1 warning(s)")
	out, _ := inRoot(t, root, "getent", "passwd", "dnstap-sensor")
	pw := strings.Split(strings.TrimSpace(out), ":")
	if len(pw) != 7 || pw[5] != "/var/lib/dnstap-sensor" || pw[6] != "/usr/sbin/nologin" {
		t.Fatalf("getent passwd dnstap-sensor: %q", out)
	}
	st, err := os.Stat(filepath.Join(root, "var/log/dnstap-sensor"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; strconv.FormatUint(uint64(uid), 10) != pw[2] || st.Mode().Perm() != 0o750 {
		t.Errorf("/var/log/dnstap-sensor: uid %d mode %v, want uid %s mode 0750", uid, st.Mode().Perm(), pw[2])
	}
	if out, _ := inRoot(t, root, "dpkg-query", "-W", "-f=${Conffiles}", "dnstap-sensor"); !strings.Contains(out, conf+" ") || !strings.Contains(out, "/etc/logrotate.d/dnstap-sensor ") {
		t.Errorf("conffiles: %q", out)
	}
	for _, f := range []string{"usr/bin/dnstap-sensor", "lib/systemd/system/dnstap-sensor.service", "usr/share/man/man1/dnstap-sensor.1.gz", "usr/share/doc/dnstap-sensor/copyright"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("installed: %v", err)
		}
	}

	// An operator's edit survives a reinstall (as an upgrade does it).
	f, err := os.OpenFile(filepath.Join(root, conf), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("workers 2 # edited\n")
	f.Close()
	install()
	if b, err := os.ReadFile(filepath.Join(root, conf)); err != nil || !strings.Contains(string(b), "workers 2 # edited") {
		t.Errorf("the edited %s was not kept across a reinstall (%v)", conf, err)
	}
	checkConfig("0 error(s), 1 warning(s)")

	if out, code := inRoot(t, root, "dpkg", "--purge", "dnstap-sensor"); code != 0 {
		t.Fatalf("dpkg --purge: exit %d\n%s", code, out)
	}
	for _, f := range []string{"usr/bin/dnstap-sensor", "etc/dnstap-sensor", "var/log/dnstap-sensor", "lib/systemd/system/dnstap-sensor.service"} {
		if _, err := os.Stat(filepath.Join(root, f)); !os.IsNotExist(err) {
			t.Errorf("after purge, %s: %v (want gone)", f, err)
		}
	}
}
