package analyze

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

func labReportHTML(t *testing.T) []byte {
	t.Helper()
	sh, _ := ParseSinkholes(labSinkholes)
	r := NewReport(ReportOptions{Sinkholes: sh})
	var m Msg
	for _, f := range pcapFrames(t, "security_mixed.pcap") {
		_ = r.AddFrame(&m, f)
	}
	var out bytes.Buffer
	if err := r.Result().WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestHTMLSelfContained: the page forbids every fetch in its
// Content-Security-Policy and refers to nothing outside itself.
func TestHTMLSelfContained(t *testing.T) {
	page := labReportHTML(t)
	if !bytes.Contains(page, []byte(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`)) {
		t.Error("no Content-Security-Policy forbidding fetches")
	}
	// The CSP meta's own attribute name is the only "http" allowed.
	rest := bytes.Replace(page, []byte(`http-equiv=`), nil, 1)
	for _, bad := range []string{"http:", "https:", "//", "src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe"} {
		if i := bytes.Index(rest, []byte(bad)); i >= 0 {
			t.Errorf("page holds %q: …%s…", bad, rest[max(0, i-40):min(len(rest), i+40)])
		}
	}
}

// TestHTMLRendersInChromium: headless Chromium draws every chart where the
// page puts it, and the page fetches nothing.
func TestHTMLRendersInChromium(t *testing.T) {
	chromium := testenv.NeedTool(t, "chromium", "chromium")
	img, pageRequests := renderInChromium(t, chromium, labReportHTML(t))
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 3000 {
		t.Fatalf("screenshot %v, want 1200×3000", b)
	}
	for i, box := range chartBoxes {
		want, _ := strconv.ParseUint(box.Color[1:], 16, 32)
		inside := countColor(img, image.Rect(box.X, box.Y, box.X+box.W, box.Y+box.H), uint32(want))
		// The same colour must not appear outside the chart's box (a chart
		// drawn in the wrong place would pass the first check by luck).
		total := countColor(img, img.Bounds(), uint32(want))
		if inside < 300 || total != inside {
			t.Errorf("chart %d (%s): %d pixels of its colour inside its box, %d in all; want ≥ 300, all inside", i, box.Color, inside, total)
		}
	}
	if len(pageRequests) != 0 {
		t.Errorf("the page made requests: %v", pageRequests)
	}
	// The check can fail: a page with one image from the network is caught.
	_, reqs := renderInChromium(t, chromium, []byte(`<!DOCTYPE html><img src="http://192.0.2.1/x.png">`))
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0], "http://192.0.2.1/x.png") {
		t.Errorf("control page requests %v, want the one image", reqs)
	}
}

// netRequest matches a request job in Chromium's network log (one event a
// line, params in alphabetical order); Chromium's own background requests
// (update checks, accounts) have the initiator "not an origin", a page's
// have the page's origin ("null" for a file).
var netRequest = regexp.MustCompile(`"initiator":"([^"]*)".*?"url":"([^"]+)"`)

// renderInChromium screenshots the page (1200×3000 CSS pixels at scale 1)
// and returns the URLs the page itself requested, from Chromium's network
// log.
func renderInChromium(t *testing.T, chromium string, html []byte) (image.Image, []string) {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	shot, netlog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "net.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--force-device-scale-factor=1", "--hide-scrollbars",
		"--log-net-log="+netlog, "--screenshot="+shot, "--window-size=1200,3000", "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(netlog)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, m := range netRequest.FindAllSubmatch(log, -1) {
		if string(m[1]) != "not an origin" {
			reqs = append(reqs, string(m[2]))
		}
	}
	return img, reqs
}

func countColor(img image.Image, r image.Rectangle, rgb uint32) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint32(cr>>8)<<16|uint32(cg>>8)<<8|uint32(cb>>8) == rgb {
				n++
			}
		}
	}
	return n
}
