package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixture is a fixed, passing run: fifteen minutes of samples (more than
// the charts keep per line) and more admissions than the scatter draws.
// Its figures come from integer arithmetic only, so the golden file is the
// same on every machine.
func fixture() *Results {
	var seed uint32 = 7
	noise := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	r := &Results{
		Target:   "https://tickets.example.test",
		Started:  time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		Duration: 15*time.Minute + 2*time.Second + 400*time.Millisecond,
		Settings: map[string]string{
			"fans":     "12000",
			"bots":     "300",
			"arrival":  "burst:60s",
			"room":     "tour-2026",
			"patience": "20m",
		},
		Machine: "AMD EPYC 7B13, 2 cores, linux/amd64",
		Fans:    12000,
		Bots:    300,
		Latency: map[string]Summary{
			"status":  {Count: 412_004, P50ms: 3.1, P90ms: 7.9, P99ms: 21.4, Maxms: 188},
			"join":    {Count: 12_300, P50ms: 9.4, P90ms: 31.2, P99ms: 96.7, Maxms: 1204.5},
			"origin":  {Count: 9_870, P50ms: 84, P90ms: 131, P99ms: 240.2, Maxms: 901},
			"proxied": {Count: 10_112, P50ms: 91.3, P90ms: 140.8, P99ms: 260.9, Maxms: 955.1},
		},
		JoinsPerSecondPeak:         412,
		JoinsPerSecondMean:         13.7,
		KendallTau:                 0.9874,
		FansAdmitted:               2500,
		FansAbandoned:              1810,
		FansWithTickets:            2412,
		FansChallenged:             3204,
		FansChallengedMoreThanOnce: 41,
		FansBlocked:                2,
		BotRequests:                58_112,
		BotRequestsStopped:         57_740,
		BotsAdmitted:               3,
		BotTickets:                 1,
		BotAdmissionShare:          3.0 / 2503,
		BotTicketShare:             1.0 / 2413,
		Capacity:                   2413,
		TicketsSold:                2413,
		MaxActive:                  500,
		MaxActiveSeen:              500,
	}
	for sec := 1; sec <= 900; sec++ {
		s := Sample{At: time.Duration(sec) * time.Second}
		switch {
		case sec <= 60:
			s.Waiting = sec * 200
			s.Joins = 150 + noise(100)
			s.BotsStopped = 60 + noise(40)
		case sec <= 800:
			s.Waiting = 12000 * (800 - sec) / 740
			s.Joins = noise(5)
			s.BotsStopped = noise(20)
		}
		s.Active = min(500, sec*10) - noise(12)
		if sec > 60 && sec < 820 {
			s.AdmittedPerMinute = 160 + noise(40)
		}
		s.StatusPolls = s.Waiting/3 + noise(50)
		s.Proxied = s.Active/2 + noise(30)
		s.JoinP50ms = float64(80+noise(40)) / 10
		s.JoinP99ms = float64(300+noise(600)) / 10
		if sec == 30 {
			s.JoinP99ms = 1204.5
		}
		s.StatusP50ms = float64(25+noise(15)) / 10
		s.StatusP99ms = float64(150+noise(100)) / 10
		// The origin is read every ten seconds only: other seconds are gaps.
		if sec%10 == 0 {
			s.OriginP95ms = float64(1000+noise(1500)) / 10
		}
		r.Series = append(r.Series, s)
	}
	for i := 1; i <= 2500; i++ {
		admitted := i
		if i%50 == 0 && i < 2500 {
			admitted = i + 1
		} else if i%50 == 1 && i > 1 {
			admitted = i - 1
		}
		r.Admissions = append(r.Admissions, Admission{
			ArrivalRank:   i,
			AdmissionRank: admitted,
			Wait:          time.Duration(60_000+i*300+noise(20_000)) * time.Millisecond,
		})
	}
	return r
}

func render(t *testing.T, r *Results) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.String()
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered page; run go test -update and review the diff", path)
	}
}

func TestWriteHTMLGolden(t *testing.T) {
	page := render(t, fixture())
	checkGolden(t, "report.golden.html", page)

	for _, want := range []string{
		`<html lang="en">`,
		"<title>Storm report: https://tickets.example.test</title>",
		"✓ Pass: every invariant held.",
		"99.4 %", // bot requests stopped
		"0.987",  // Kendall's tau
		"<td>join</td><td class=\"num\">12,300</td>",
		"2,000 of 2,500 admitted fans",
		"prefers-color-scheme:dark",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	svgs := checkSVGs(t, page)
	if len(svgs) != 7 {
		t.Errorf("page has %d charts, want 6 over time and the scatter", len(svgs))
	}
	// The scatter draws each sampled fan as one move of its path.
	scatter := svgs[len(svgs)-1]
	if !strings.Contains(scatter, "Time to admission") {
		t.Fatalf("last chart is not the scatter:\n%.200s", scatter)
	}
	if n := strings.Count(scatter, "h0"); n != maxDots {
		t.Errorf("scatter draws %d fans, want %d", n, maxDots)
	}
	// The one-second join p99 spike survives the thinning of the line.
	if !strings.Contains(page, "join p99 peaks at 1,204.5") {
		t.Error("latency chart lost the join p99 peak")
	}
}

var svgRE = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// checkSVGs returns each chart of page after checking that it parses as
// XML, scales with a view box, and has a title, a description, a legend and
// labelled ticks on both axes.
func checkSVGs(t *testing.T, page string) []string {
	t.Helper()
	svgs := svgRE.FindAllString(page, -1)
	for _, svg := range svgs {
		d := xml.NewDecoder(strings.NewReader(svg))
		elems := map[string]int{}
		for {
			tok, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("chart is not well-formed: %v\n%.300s", err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok {
				elems[se.Name.Local]++
			}
		}
		for _, want := range []string{`viewBox="0 0 480 250"`, `class="legend"`, `text-anchor="end"`, `text-anchor="middle"`} {
			if !strings.Contains(svg, want) {
				t.Errorf("chart lacks %s:\n%.300s", want, svg)
			}
		}
		if elems["title"] != 1 || elems["desc"] != 1 || elems["path"] == 0 {
			t.Errorf("chart has %d titles, %d descriptions, %d paths; want 1, 1, some:\n%.300s", elems["title"], elems["desc"], elems["path"], svg)
		}
	}
	return svgs
}

func TestWriteHTMLEscapes(t *testing.T) {
	r := fixture()
	r.Target = `<script>alert("t")</script>`
	r.Machine = `x86 & "friends"`
	r.Settings = map[string]string{"<b>key</b>": `"><img src=x onerror=alert(1)>`}
	r.Violations = []string{`oversold <i>3</i>`}
	r.Latency = map[string]Summary{"<svg onload=alert(1)>": {Count: 1}}
	page := render(t, r)

	for _, bad := range []string{"<script", "<b>", "<img", "<i>", "<svg onload"} {
		if strings.Contains(page, bad) {
			t.Errorf("page carries %q unescaped", bad)
		}
	}
	for _, want := range []string{
		"<title>Storm report: &lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;</title>",
		`<p class="target">&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;</p>`,
		"x86 &amp; &#34;friends&#34;",
		"&lt;b&gt;key&lt;/b&gt;",
		"<li>oversold &lt;i&gt;3&lt;/i&gt;</li>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped %q", want)
		}
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	page := render(t, &Results{})
	// Six charts over time, the scatter and the latency table.
	if n := strings.Count(page, `<p class="nodata">No data.</p>`); n != 8 {
		t.Errorf("page says no data %d times, want 8", n)
	}
	for _, want := range []string{"No settings recorded.", "no bot requests", "no fans", `<th scope="row">Started</th><td>–</td>`, "<strong>no data</strong>"} {
		if !strings.Contains(page, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("empty page draws a chart")
	}
	checkNoBadNumbers(t, page)
}

func TestWriteHTMLNaN(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	r := &Results{
		Target:             "gw",
		Fans:               10,
		KendallTau:         nan,
		BotAdmissionShare:  inf,
		BotTicketShare:     math.Inf(-1),
		JoinsPerSecondPeak: nan,
		JoinsPerSecondMean: inf,
		Latency:            map[string]Summary{"join": {Count: 3, P50ms: nan, P90ms: inf, P99ms: math.Inf(-1), Maxms: nan}},
		Admissions:         []Admission{{ArrivalRank: 1, AdmissionRank: 1}, {ArrivalRank: 2, AdmissionRank: 2, Wait: time.Second}},
	}
	for sec := range 5 {
		s := Sample{At: time.Duration(sec) * time.Second, JoinP50ms: nan, JoinP99ms: inf, StatusP50ms: nan, StatusP99ms: -inf, OriginP95ms: nan}
		if sec == 2 {
			// One finite figure between gaps is drawn as a dot.
			s.OriginP95ms = 40
		}
		r.Series = append(r.Series, s)
	}
	page := render(t, r)
	checkNoBadNumbers(t, page)
	checkSVGs(t, page)
	if !strings.Contains(page, `<td>join</td><td class="num">3</td><td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td>`) {
		t.Error("latency row does not show NaN and Inf as –")
	}
	if !strings.Contains(page, "<strong>–</strong>") {
		t.Error("Kendall's tau NaN is not shown as –")
	}
	// Join and status latency are all NaN or Inf: that chart has no data;
	// the origin chart draws its one point.
	if !regexp.MustCompile(`Join and status latency <span>\(ms, log scale\)</span></figcaption>\s*<p class="nodata">No data\.</p>`).MatchString(page) {
		t.Error("latency chart of NaNs does not say no data")
	}
	if !regexp.MustCompile(`d="M[0-9.]+ [0-9.]+h0"`).MatchString(page) {
		t.Error("origin chart does not draw its lone point")
	}
}

// checkNoBadNumbers fails if a NaN or infinity leaked into the page as text.
func checkNoBadNumbers(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf", "e+", "%!"} {
		if strings.Contains(page, bad) {
			i := strings.Index(page, bad)
			t.Errorf("page contains %q: …%s…", bad, page[max(0, i-80):min(len(page), i+40)])
		}
	}
}

func TestWriteHTMLNoExternalResources(t *testing.T) {
	r := fixture()
	r.Violations = []string{"oversold: see http://backend.example.test/audit"}
	page := render(t, r)
	// Addresses the model itself carries are shown as text; take them out
	// and nothing of the page's own may point anywhere.
	for _, own := range append([]string{r.Target}, r.Violations...) {
		page = strings.ReplaceAll(page, own, "")
	}
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(", "src=", "href=", "xlink"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page has %q: it must not fetch anything", bad)
		}
	}
}

func TestWriteHTMLVerdict(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Results)
		wants []string
	}{
		{"pass", func(*Results) {}, []string{"✓ Pass: every invariant held.", "<p>None.</p>"}},
		{"violations", func(r *Results) {
			r.Oversold, r.DoubleCharges = 2, 1
			r.Violations = []string{"oversold by 2", "1 double charge"}
		}, []string{
			"✗ Fail: 2 violations.",
			`<td>Tickets oversold</td><td class="num">2</td><td class="num">0</td><td><span class="mark fail">✗ fail</span></td>`,
			`<td>Double charges</td><td class="num">1</td><td class="num">0</td><td><span class="mark fail">✗ fail</span></td>`,
			"<li>oversold by 2</li>",
			"<li>1 double charge</li>",
		}},
		{"broken invariant not in violations", func(r *Results) { r.MaxActiveSeen = 512 }, []string{
			"✗ Fail: an invariant was broken.",
			`<td>Most active at once</td><td class="num">512</td><td class="num">≤ 500</td><td><span class="mark fail">✗ fail</span></td>`,
		}},
		{"shield missed", func(r *Results) {
			r.BotRequests, r.BotRequestsStopped = 1000, 900
			r.Fans, r.FansChallengedMoreThanOnce = 1000, 11
		}, []string{
			`<td>Bot requests stopped<br><span class="note">target ≥ 95 %</span></td><td class="num">90.0 %<br><span class="note">900 of 1,000</span></td><td><span class="mark fail">✗ fail</span></td>`,
			`<td>Fans challenged more than once<br><span class="note">target ≤ 1 %</span></td><td class="num">1.1 %<br><span class="note">11 of 1,000</span></td><td><span class="mark fail">✗ fail</span></td>`,
			// The shield's targets are not invariants: the run still passes.
			"✓ Pass: every invariant held.",
		}},
		{"shield met", func(*Results) {}, []string{
			`<td>Bot requests stopped<br><span class="note">target ≥ 95 %</span></td><td class="num">99.4 %<br><span class="note">57,740 of 58,112</span></td><td><span class="mark pass">✓ pass</span></td>`,
			`<td>Fans challenged more than once<br><span class="note">target ≤ 1 %</span></td><td class="num">0.3 %<br><span class="note">41 of 12,000</span></td><td><span class="mark pass">✓ pass</span></td>`,
			`<td>Bot share of admissions</td><td class="num">0.1 %</td><td></td>`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixture()
			tt.edit(r)
			page := render(t, r)
			for _, want := range tt.wants {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteHTMLErrors(t *testing.T) {
	if err := WriteHTML(failingWriter{}, fixture()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteHTML to a failing writer = %v, want its error", err)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, nil); err == nil {
		t.Error("WriteHTML(nil) = nil, want an error")
	}
	if b.Len() != 0 {
		t.Errorf("WriteHTML(nil) wrote %d bytes", b.Len())
	}
}

func TestSampleAdmissions(t *testing.T) {
	adms := make([]Admission, 10_000)
	for i := range adms {
		// Stored out of arrival order.
		rank := (i*7919)%len(adms) + 1
		adms[i] = Admission{ArrivalRank: rank, AdmissionRank: rank, Wait: time.Duration(rank) * time.Second}
	}
	got := sampleAdmissions(adms, maxDots)
	if len(got) != maxDots {
		t.Fatalf("sampled %d admissions, want %d", len(got), maxDots)
	}
	if got[0].ArrivalRank != 1 || got[1].ArrivalRank != 6 || got[len(got)-1].ArrivalRank != 9996 {
		t.Errorf("sample is not even in arrival order: first %d, second %d, last %d", got[0].ArrivalRank, got[1].ArrivalRank, got[len(got)-1].ArrivalRank)
	}
	reversed := slices.Clone(adms)
	slices.Reverse(reversed)
	if !slices.Equal(got, sampleAdmissions(reversed, maxDots)) {
		t.Error("the sample depends on the order admissions are stored in")
	}
	few := adms[:10]
	if n := len(sampleAdmissions(few, maxDots)); n != 10 {
		t.Errorf("sampled %d of 10 admissions, want all", n)
	}
}

func TestReduce(t *testing.T) {
	xs := make([]float64, 10_000)
	ys := make([]float64, len(xs))
	for i := range xs {
		xs[i], ys[i] = float64(i), float64(i%7)
	}
	ys[4321] = 999
	ys[8000] = -5
	for i := 9000; i < 9100; i++ {
		ys[i] = math.NaN()
	}
	rx, ry := reduce(xs, ys, 100)
	if len(rx) > 200 || len(rx) != len(ry) {
		t.Fatalf("reduced to %d x and %d y, want the same, at most 200", len(rx), len(ry))
	}
	if !slices.Contains(ry, 999) || !slices.Contains(ry, -5) {
		t.Error("reduce lost the peak or the trough")
	}
	if !slices.ContainsFunc(ry, math.IsNaN) {
		t.Error("reduce lost the gap")
	}
	if !slices.IsSorted(rx) {
		t.Error("reduce put points out of order")
	}
	short := []float64{1, 2, 3}
	if rx, _ := reduce(short, short, 100); len(rx) != 3 {
		t.Errorf("reduce thinned a short series to %d points", len(rx))
	}
}

func TestLinePath(t *testing.T) {
	xs := make([]float64, 101)
	ys := make([]float64, len(xs))
	for i := range xs {
		xs[i], ys[i] = float64(i), math.NaN()
	}
	// A short run, a lone point more than maxBridge from both neighbours,
	// then two points a few seconds apart across a bridged gap.
	for _, i := range []int{0, 1, 2, 50, 90, 95} {
		ys[i] = 10
	}
	xa := linearAxis(0, 100, false, 0, 100)
	ya := linearAxis(0, 100, false, 100, 0)
	got := linePath(xs, ys, xa, ya, maxBridge)
	want := "M0 90L1 90L2 90M50 90h0M90 90L95 90"
	if got != want {
		t.Errorf("linePath = %q, want %q", got, want)
	}
}

func TestTimeChartLongRun(t *testing.T) {
	// Three hours of samples, thinned to maxBuckets, with the origin read
	// every ten seconds: each line is still drawn in one stroke.
	var samples []Sample
	for sec := range 3 * 3600 {
		s := Sample{At: time.Duration(sec) * time.Second, Waiting: 5000 + sec%97}
		if sec%10 == 0 {
			s.OriginP95ms = float64(100 + sec%13)
		}
		samples = append(samples, s)
	}
	for _, c := range timeCharts(samples) {
		for _, l := range c.Lines {
			if l.D == "" {
				continue
			}
			if n := strings.Count(l.D, "M"); n != 1 {
				t.Errorf("%s: %s is broken into %d strokes", c.ID, l.Name, n)
			}
			if n := strings.Count(l.D, "L") + 1; n > 2*maxBuckets {
				t.Errorf("%s: %s has %d points, want at most %d", c.ID, l.Name, n, 2*maxBuckets)
			}
		}
	}
}

func TestAxes(t *testing.T) {
	labels := func(a axis) []string {
		var ls []string
		for _, tk := range a.ticks() {
			ls = append(ls, tk.Label)
		}
		return ls
	}
	tests := []struct {
		name string
		a    axis
		want []string
	}{
		{"seconds", linearAxis(0, 903, false, 0, 100), []string{"0", "200", "400", "600", "800", "1,000"}},
		{"empty counts", linearAxis(0, 0, true, 0, 100), []string{"0", "1"}},
		{"small counts", linearAxis(0, 3, true, 0, 100), []string{"0", "1", "2", "3"}},
		{"fractions", linearAxis(0, 0.7, false, 0, 100), []string{"0", "0.2", "0.4", "0.6", "0.8"}},
		{"millions", linearAxis(0, 2_300_000, true, 0, 100), []string{"0", "0.5M", "1.0M", "1.5M", "2.0M", "2.5M"}},
		{"two decades", logAxis(3, 40, 0, 100), []string{"1", "2", "5", "10", "20", "50", "100"}},
		{"many decades", logAxis(0.4, 1204.5, 0, 100), []string{"0.1", "1", "10", "100", "1,000", "10,000"}},
		{"one value", logAxis(10, 10, 0, 100), []string{"10", "20", "50", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := labels(tt.a); !slices.Equal(got, tt.want) {
				t.Errorf("ticks %q, want %q", got, tt.want)
			}
			ticks := tt.a.ticks()
			if first, last := ticks[0].Pos, ticks[len(ticks)-1].Pos; first != 0 || last != 100 {
				t.Errorf("ticks run from %v to %v, want the axis ends 0 and 100", first, last)
			}
		})
	}
}

func TestFormatFloat(t *testing.T) {
	tests := []struct {
		v        float64
		decimals int
		want     string
	}{
		{0, 0, "0"},
		{999, 0, "999"},
		{1000, 0, "1,000"},
		{1234567.891, 2, "1,234,567.89"},
		{-12345, 0, "−12,345"},
		{-0.01, 1, "0.0"},
		{math.NaN(), 1, "–"},
		{math.Inf(-1), 0, "–"},
	}
	for _, tt := range tests {
		if got := formatFloat(tt.v, tt.decimals); got != tt.want {
			t.Errorf("formatFloat(%v, %d) = %q, want %q", tt.v, tt.decimals, got, tt.want)
		}
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	r := fixture()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteHTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHTMLBotKinds: the bots' figures by behaviour get a table of their own.
func TestHTMLBotKinds(t *testing.T) {
	var b strings.Builder
	r := &Results{BotKinds: map[string]BotKind{
		"forger":      {Bots: 3, Requests: 40, Stopped: 38, Admitted: 0},
		"fast-poller": {Bots: 2, Requests: 0},
	}}
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bots by behaviour", "<td>fast-poller</td>", "<td>forger</td>", "95.0 %", "–"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(b.String(), "fast-poller") > strings.Index(b.String(), ">forger<") {
		t.Error("behaviours are not in name order")
	}
}
