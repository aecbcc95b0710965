package analyze

import (
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// The page is one self-contained file: styles inline, charts as inline SVG,
// no script, no font, no image fetched. The Content-Security-Policy forbids
// every fetch, so even a name in the data that looked like a URL could not
// make the page load anything.
//
// The charts sit in a fixed grid at known places (chartBoxes, in CSS
// pixels of a 1200-pixel wide window) so that the screenshot test can look
// for each chart's colour where it must be.

type chartBox struct {
	X, Y, W, H int
	Color      string // fill of the chart's bars, "#rrggbb"
}

const (
	chartW   = 560
	chartH   = 240
	headerH  = 120
	chartGap = 20
)

var chartBoxes = [4]chartBox{
	{chartGap, headerH, chartW, chartH, "#2b6cb0"},                                // volume over time
	{2*chartGap + chartW, headerH, chartW, chartH, "#c05621"},                     // rcodes
	{chartGap, headerH + chartH + chartGap, chartW, chartH, "#2f855a"},            // query types
	{2*chartGap + chartW, headerH + chartH + chartGap, chartW, chartH, "#6b46c1"}, // transports
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; font-src 'none'; connect-src 'none'; script-src 'none'; form-action 'none'; base-uri 'none'">
<title>DNS security report</title>
<style>
body{margin:0;font:13px/1.4 sans-serif;color:#1a202c;background:#fff;width:1200px}
header{height:{{.HeaderH}}px;box-sizing:border-box;padding:14px 20px;border-bottom:1px solid #ddd}
h1{margin:0 0 6px;font-size:20px}
.charts{display:grid;grid-template-columns:{{.ChartW}}px {{.ChartW}}px;grid-auto-rows:{{.ChartH}}px;gap:{{.Gap}}px;padding:0 {{.Gap}}px;margin:0}
.chart{height:{{.ChartH}}px;overflow:hidden;margin:0}
.chart h2{font-size:13px;margin:2px 0}
section{padding:0 20px}
h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;margin-bottom:8px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;font-size:12px;max-width:640px;overflow-wrap:anywhere}
th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.none{color:#777}
.note{color:#555;font-size:11px;max-width:1100px}
</style></head><body>
<header><h1>DNS security report</h1>
<div>{{.R.TimeRange.First}} → {{.R.TimeRange.Last}} ({{printf "%.1f" .R.TimeRange.Seconds}} s) · {{.R.Frames}} frames · {{.R.Queries}} queries · {{.R.Responses}} responses · ~{{.R.Distinct.Clients}} clients · ~{{.R.Distinct.Names}} names · ~{{.R.Distinct.RegisteredDomains}} registered domains</div>
<div class="note">files: {{range $i, $f := .R.Files}}{{if $i}}, {{end}}{{$f}}{{end}}{{if .R.Sinkholes}} · sinkholes: {{range $i, $s := .R.Sinkholes}}{{if $i}}, {{end}}{{$s}}{{end}}{{end}}</div>
</header>
<div class="charts">
<div class="chart"><h2>Volume over time ({{.R.Volume.BucketSeconds}} s buckets; queries dark, responses light)</h2>{{.Volume}}</div>
<div class="chart"><h2>Response codes</h2>{{.Rcodes}}</div>
<div class="chart"><h2>Query types</h2>{{.QTypes}}</div>
<div class="chart"><h2>Transports</h2>{{.Transports}}</div>
</div>
<section>
<h2>Tunnel suspects (client and registered domain)</h2>
{{if .R.TunnelSuspects}}<table><tr><th>client</th><th>domain</th><th>queries</th><th>unique subdomains ~</th><th>avg length</th><th>avg entropy</th><th>TXT/NULL/CNAME</th><th>sample</th></tr>
{{range .R.TunnelSuspects}}<tr><td>{{.Client}}</td><td>{{.Domain}}</td><td class="n">{{.Queries}}</td><td class="n">{{.UniqueSubdomains}}</td><td class="n">{{.AvgSubdomainLen}}</td><td class="n">{{.AvgEntropy}}</td><td class="n">{{pct .TXTNullCNAMEShare}}</td><td>{{.Sample}}</td></tr>
{{end}}</table>{{else}}<p class="none">none</p>{{end}}
<h2>NXDOMAIN by client</h2>
{{if .R.NXDomainClients}}<table><tr><th>client</th><th>NXDOMAIN</th><th>responses ~</th><th>rate ~</th><th>sample name</th></tr>
{{range .R.NXDomainClients}}<tr><td>{{.Client}}</td><td class="n">{{.NXDomain}}</td><td class="n">{{.Responses}}</td><td class="n">{{pct .Rate}}</td><td>{{.Sample}}</td></tr>
{{end}}</table>{{else}}<p class="none">none</p>{{end}}
<h2>Sinkhole hits</h2>
{{if .R.SinkholeHits}}<table><tr><th>client</th><th>frames</th><th>by answer</th><th>by name</th><th>names</th><th>first</th><th>last</th></tr>
{{range .R.SinkholeHits}}<tr><td>{{.Client}}</td><td class="n">{{.Hits}}</td><td class="n">{{.ByAnswer}}</td><td class="n">{{.ByName}}</td><td>{{range $i, $n := .Names}}{{if $i}}, {{end}}{{$n}}{{end}}</td><td>{{.First}}</td><td>{{.Last}}</td></tr>
{{end}}</table>{{else}}<p class="none">{{if .R.Sinkholes}}none{{else}}no --sinkhole given{{end}}</p>{{end}}
{{with .R.Baseline}}<h2>New against the baseline</h2>
<h3>Registered domains</h3>
{{if .NewDomains}}<table><tr><th>domain</th><th>queries ~</th><th>first client</th><th>first seen</th></tr>
{{range .NewDomains}}<tr><td>{{.Domain}}</td><td class="n">{{.Queries}}</td><td>{{.FirstClient}}</td><td>{{.First}}</td></tr>
{{end}}</table>{{else}}<p class="none">none</p>{{end}}
<h3>Clients</h3>
{{if .NewClients}}<table><tr><th>client</th><th>queries ~</th></tr>
{{range .NewClients}}<tr><td>{{.Client}}</td><td class="n">{{.Queries}}</td></tr>
{{end}}</table>{{else}}<p class="none">none</p>{{end}}
<h3>Out of line</h3>
{{if .OutOfLine}}<table><tr><th>client</th><th>why</th><th>queries/h</th><th>baseline queries/h</th><th>NXDOMAIN rate</th><th>baseline rate</th></tr>
{{range .OutOfLine}}<tr><td>{{.Client}}</td><td>{{.Reason}}</td><td class="n">{{.QueriesPerHour}}</td><td class="n">{{.BaselineQueriesPerHour}}</td><td class="n">{{pct .NXDomainRate}}</td><td class="n">{{pct .BaselineNXDomainRate}}</td></tr>
{{end}}</table>{{else}}<p class="none">none</p>{{end}}{{end}}
<h2>Top clients</h2>
<table><tr><th>client</th><th>queries</th><th>± error</th></tr>
{{range .R.TopClients}}<tr><td>{{.Client}}</td><td class="n">{{.Queries}}</td><td class="n">{{.Error}}</td></tr>
{{end}}</table>
<h2>Top names</h2>
<table><tr><th>name</th><th>queries</th><th>± error</th></tr>
{{range .R.TopNames}}<tr><td>{{.Name}}</td><td class="n">{{.Queries}}</td><td class="n">{{.Error}}</td></tr>
{{end}}</table>
<h2>Answer latency per server</h2>
{{if .R.Latency}}<table><tr><th>server</th><th>answers</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .R.Latency}}<tr><td>{{.Server}}</td><td class="n">{{.Answers}}</td><td class="n">{{.P50ms}}</td><td class="n">{{.P90ms}}</td><td class="n">{{.P99ms}}</td><td class="n">{{.MaxMs}}</td></tr>
{{end}}</table>{{else}}<p class="none">no response carried its query's time</p>{{end}}
<h2>Longest names</h2>
<table><tr><th>name</th><th>length</th><th>client</th></tr>
{{range .R.LongestNames}}<tr><td>{{.Name}}</td><td class="n">{{.Length}}</td><td>{{.Client}}</td></tr>
{{end}}</table>
<h2>Most random-looking names (entropy of the subdomain, bits per character)</h2>
<table><tr><th>name</th><th>entropy</th><th>client</th></tr>
{{range .R.RandomNames}}<tr><td>{{.Name}}</td><td class="n">{{.Entropy}}</td><td>{{.Client}}</td></tr>
{{end}}</table>
<p class="note">Undecoded frames: {{.R.Undecoded.NotDnstap}} not dnstap, {{.R.Undecoded.NoMessage}} without message, {{.R.Undecoded.BadDNS}} with unparsable DNS. Figures — {{.R.Estimates}}</p>
</section>
</body></html>
`))

// WriteHTML writes the result as one self-contained HTML page.
func (res *Result) WriteHTML(w io.Writer) error {
	labels := func(cs []Count) ([]string, []uint64) {
		var l []string
		var v []uint64
		for _, c := range head(cs, 10) {
			l = append(l, c.Name)
			v = append(v, c.Count)
		}
		return l, v
	}
	rl, rv := labels(res.Rcodes)
	ql, qv := labels(res.QTypes)
	tl, tv := labels(res.Transports)
	data := struct {
		R                                  *Result
		HeaderH, ChartW, ChartH, Gap       int
		Volume, Rcodes, QTypes, Transports template.HTML
	}{
		R: res, HeaderH: headerH, ChartW: chartW, ChartH: chartH, Gap: chartGap,
		Volume:     volumeSVG(res.Volume, chartBoxes[0].Color),
		Rcodes:     barsSVG(rl, rv, chartBoxes[1].Color),
		QTypes:     barsSVG(ql, qv, chartBoxes[2].Color),
		Transports: barsSVG(tl, tv, chartBoxes[3].Color),
	}
	return pageTmpl.Execute(w, data)
}

const svgH = chartH - 24 // room for the chart's title

func esc(s string) string { return template.HTMLEscapeString(s) }

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// volumeSVG draws queries (dark) and responses (light) per bucket as bars.
func volumeSVG(v Volume, color string) template.HTML {
	var b strings.Builder
	b.WriteString(`<svg width="` + itoa(chartW) + `" height="` + itoa(svgH) + `" shape-rendering="crispEdges">`)
	n := len(v.Queries)
	var peak uint64 = 1
	for i := range n {
		peak = max(peak, v.Queries[i], v.Responses[i])
	}
	const left, bottom = 50, 20
	plotW, plotH := float64(chartW-left-10), float64(svgH-bottom-10)
	b.WriteString(`<line x1="` + itoa(left) + `" y1="` + itoa(svgH-bottom) + `" x2="` + itoa(chartW-10) + `" y2="` + itoa(svgH-bottom) + `" stroke="#888"/>`)
	b.WriteString(`<text x="4" y="14" font-size="10">` + strconv.FormatUint(peak, 10) + `</text><text x="4" y="` + itoa(svgH-bottom) + `" font-size="10">0</text>`)
	if n > 0 {
		w := plotW / float64(n)
		for i := range n {
			for j, c := range []uint64{v.Queries[i], v.Responses[i]} {
				h := math.Max(1, plotH*float64(c)/float64(peak))
				if c == 0 {
					continue
				}
				fill, op := color, "1"
				if j == 1 {
					op = "0.45"
				}
				x := float64(left) + w*float64(i) + w*float64(j)/2
				b.WriteString(`<rect x="` + ftoa(x) + `" y="` + ftoa(float64(svgH-bottom)-h) + `" width="` + ftoa(math.Max(1, w/2)) +
					`" height="` + ftoa(h) + `" fill="` + fill + `" fill-opacity="` + op + `"/>`)
			}
		}
		b.WriteString(`<text x="` + itoa(left) + `" y="` + itoa(svgH-4) + `" font-size="10">` + esc(v.Start) + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barsSVG draws labelled horizontal bars.
func barsSVG(labels []string, vals []uint64, color string) template.HTML {
	var b strings.Builder
	b.WriteString(`<svg width="` + itoa(chartW) + `" height="` + itoa(svgH) + `" shape-rendering="crispEdges">`)
	var peak uint64 = 1
	for _, v := range vals {
		peak = max(peak, v)
	}
	const left, right = 130, 80
	rowH := 20
	plotW := float64(chartW - left - right)
	for i, l := range labels {
		y := 4 + i*rowH
		w := math.Max(2, plotW*float64(vals[i])/float64(peak))
		b.WriteString(`<text x="4" y="` + itoa(y+14) + `" font-size="11">` + esc(l) + `</text>`)
		b.WriteString(`<rect x="` + itoa(left) + `" y="` + itoa(y+2) + `" width="` + ftoa(w) + `" height="` + itoa(rowH-5) + `" fill="` + color + `"/>`)
		b.WriteString(`<text x="` + ftoa(float64(left)+w+4) + `" y="` + itoa(y+14) + `" font-size="11">` + strconv.FormatUint(vals[i], 10) + `</text>`)
	}
	if len(labels) == 0 {
		b.WriteString(`<text x="4" y="20" font-size="11" fill="#777">no data</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
