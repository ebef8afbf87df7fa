package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits that keep the page small whatever the length of the run.
const (
	// maxDots caps the points of the admission scatter. Beyond it,
	// admissions are taken evenly in arrival order, so the same run always
	// draws the same points.
	maxDots = 2000
	// maxBuckets caps the buckets a line over time is cut into. Each bucket
	// keeps its lowest and highest value, so peaks survive a long run.
	maxBuckets = 400
	// maxBridge is the longest stretch without a figure, in seconds, that a
	// line over time is drawn across (longer on a long run, where buckets
	// are wider).
	maxBridge = 30
)

// frame is a chart's geometry, in SVG user units. The plot box (L, R, T,
// B) leaves room for the legend above, the y tick labels on the left and
// the x tick labels and axis title below; the browser scales the whole view
// box to the page width.
type frame struct {
	W, H, L, R, T, B float64
	// Where the template puts the x tick marks' ends, the x tick labels,
	// the y tick labels, and the x axis title.
	TickEnd, XLabelY, YLabelX, MidX, XTitleY float64
}

var plotFrame = frame{
	W: 480, H: 250, L: 56, R: 456, T: 30, B: 206,
	TickEnd: 210, XLabelY: 223, YLabelX: 50, MidX: 256, XTitleY: 242,
}

// noValue stands for a figure that cannot be shown: NaN, ±Inf, or a share
// of nothing.
const noValue = "–"

// WriteHTML writes r as one self-contained HTML page: inline CSS, charts as
// inline SVG, no script and no request to anywhere. Every string from r is
// escaped. Missing figures (no samples, no admissions, NaN) read as "no
// data" or "–". The page is rendered whole before anything is written, so
// w never receives half a page from a failed render.
func WriteHTML(w io.Writer, r *Results) error {
	if r == nil {
		return fmt.Errorf("write html report: no results")
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, newPage(r)); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// page is what the template reads: every figure already formatted.
type page struct {
	Target     string
	Header     []pair
	Settings   []pair
	Passed     bool
	Verdict    string
	Invariants []check
	Violations []string
	Shield     []check
	Tau        string
	Outcomes   []pair
	Charts     []chart
	Scatter    chart
	Shown      string
	Latency    []latencyRow
	BotKinds   []botKindRow
}

// botKindRow is one bot behaviour's line of the page.
type botKindRow struct{ Name, Bots, Requests, Stopped, Share, Admitted, Tickets string }

// botKindRows lists the behaviours by name.
func botKindRows(m map[string]BotKind) []botKindRow {
	rows := make([]botKindRow, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		k := m[name]
		share := noValue
		if k.Requests > 0 {
			share = formatFloat(100*float64(k.Stopped)/float64(k.Requests), 1) + " %"
		}
		rows = append(rows, botKindRow{name, formatInt(k.Bots), formatInt(k.Requests), formatInt(k.Stopped), share, formatInt(k.Admitted), formatInt(k.Tickets)})
	}
	return rows
}

type pair struct{ Key, Value string }

// check is one row of a verdict table. Mark is empty for a figure that is
// reported without a target.
type check struct {
	Name, Seen, Target string
	// Detail is what Seen was worked out from, such as "57 of 60".
	Detail string
	Mark   mark
}

type mark struct{ Class, Text string }

var (
	markPass   = mark{"pass", "✓ pass"}
	markFail   = mark{"fail", "✗ fail"}
	markNoData = mark{"na", "no data"}
)

func passIf(ok bool) mark {
	if ok {
		return markPass
	}
	return markFail
}

type latencyRow struct{ Kind, Count, P50, P90, P99, Max string }

func newPage(r *Results) page {
	p := page{
		Target: r.Target,
		Header: []pair{
			{"Target", orNoValue(r.Target)},
			{"Started", formatTime(r.Started)},
			{"Duration", formatDuration(r.Duration)},
			{"Fans", formatInt(r.Fans)},
			{"Bots", formatInt(r.Bots)},
			{"Machine", orNoValue(r.Machine)},
		},
		Violations: r.Violations,
		Outcomes: []pair{
			{"Capacity", formatInt(r.Capacity)},
			{"Tickets sold", formatInt(r.TicketsSold)},
			{"Fans admitted", formatInt(r.FansAdmitted)},
			{"Fans with tickets", formatInt(r.FansWithTickets)},
			{"Fans who gave up", formatInt(r.FansAbandoned)},
			{"Fans challenged", formatInt(r.FansChallenged)},
			{"Fans blocked", formatInt(r.FansBlocked)},
			{"Bot requests", formatInt(r.BotRequests)},
			{"Bots admitted", formatInt(r.BotsAdmitted)},
			{"Bot tickets", formatInt(r.BotTickets)},
			{"Joins per second, busiest second", formatFloat(r.JoinsPerSecondPeak, 1)},
			{"Joins per second, mean", formatFloat(r.JoinsPerSecondMean, 1)},
		},
		Charts:   timeCharts(r.Series),
		Latency:  latencyRows(r.Latency),
		BotKinds: botKindRows(r.BotKinds),
	}
	for _, k := range slices.Sorted(maps.Keys(r.Settings)) {
		p.Settings = append(p.Settings, pair{k, r.Settings[k]})
	}

	zero := func(name string, n int) check {
		return check{Name: name, Seen: formatInt(n), Target: "0", Mark: passIf(n <= 0)}
	}
	p.Invariants = []check{
		zero("Tickets oversold", r.Oversold),
		zero("Double charges", r.DoubleCharges),
		zero("Paid without a ticket", r.PaidWithoutTickets),
		zero("Tickets without payment", r.TicketsWithoutPayment),
		{Name: "Most active at once", Seen: formatInt(r.MaxActiveSeen), Target: "≤ " + formatInt(r.MaxActive), Mark: passIf(r.MaxActiveSeen <= r.MaxActive)},
	}
	p.Passed = len(r.Violations) == 0
	for _, c := range p.Invariants {
		p.Passed = p.Passed && c.Mark == markPass
	}
	switch {
	case p.Passed:
		p.Verdict = "Pass: every invariant held."
	case len(r.Violations) == 1:
		p.Verdict = "Fail: 1 violation."
	case len(r.Violations) > 1:
		p.Verdict = "Fail: " + formatInt(len(r.Violations)) + " violations."
	default:
		p.Verdict = "Fail: an invariant was broken."
	}

	stopped := check{Name: "Bot requests stopped", Seen: "no bot requests", Target: "≥ " + formatTarget(BotStopTarget), Mark: markNoData}
	if r.BotRequests > 0 {
		share := ratio(r.BotRequestsStopped, r.BotRequests)
		stopped.Seen = formatPercent(share)
		stopped.Detail = formatInt(r.BotRequestsStopped) + " of " + formatInt(r.BotRequests)
		stopped.Mark = passIf(share >= BotStopTarget)
	}
	rechallenged := check{Name: "Fans challenged more than once", Seen: "no fans", Target: "≤ " + formatTarget(FanChallengeTarget), Mark: markNoData}
	if r.Fans > 0 {
		share := ratio(r.FansChallengedMoreThanOnce, r.Fans)
		rechallenged.Seen = formatPercent(share)
		rechallenged.Detail = formatInt(r.FansChallengedMoreThanOnce) + " of " + formatInt(r.Fans)
		rechallenged.Mark = passIf(share <= FanChallengeTarget)
	}
	p.Shield = []check{
		stopped,
		rechallenged,
		{Name: "Bot share of admissions", Seen: formatPercent(r.BotAdmissionShare)},
		{Name: "Bot share of tickets", Seen: formatPercent(r.BotTicketShare)},
	}

	// Rank correlation needs two fans at least; below that the figure is
	// whatever the storm left in it.
	p.Tau = "no data"
	if len(r.Admissions) >= 2 {
		p.Tau = formatFloat(r.KendallTau, 3)
	}
	p.Scatter, p.Shown = admissionChart(r.Admissions)
	return p
}

// latencyRows orders the kinds the storm knows first, then any other by
// name.
func latencyRows(m map[string]Summary) []latencyRow {
	known := []string{"join", "status", "proxied", "origin"}
	kinds := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		ia, ib := slices.Index(known, a), slices.Index(known, b)
		if ia < 0 {
			ia = len(known)
		}
		if ib < 0 {
			ib = len(known)
		}
		return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
	})
	rows := make([]latencyRow, 0, len(kinds))
	for _, k := range kinds {
		s := m[k]
		rows = append(rows, latencyRow{k, formatInt(s.Count), formatFloat(s.P50ms, 1), formatFloat(s.P90ms, 1), formatFloat(s.P99ms, 1), formatFloat(s.Maxms, 1)})
	}
	return rows
}

// chart is one SVG figure, drawn in the user units of its Frame.
type chart struct {
	ID, Title, Unit, Desc, XLabel string
	Frame                         frame
	// Solo is a chart alone on its row: the page caps its width so its
	// text does not grow past reading size.
	Solo bool
	// Empty means there was nothing finite to draw: the page says so.
	Empty          bool
	XTicks, YTicks []tick
	Lines          []line
}

type tick struct {
	Pos   float64
	Label string
}

// line is one series: its path and its legend entry. Dots draws each point
// on its own rather than joining them.
type line struct {
	Name, Class, D string
	Dots           bool
	// The legend's swatch runs from SwatchX to SwatchEnd; its label starts
	// at LabelX.
	SwatchX, SwatchEnd, LabelX float64
}

// seriesSpec picks one figure out of each sample.
type seriesSpec struct {
	name, class string
	value       func(Sample) float64
}

type chartSpec struct {
	id, title, unit string
	// log draws the y axis in decades; values at or below zero are gaps.
	log bool
	// integer keeps y ticks on whole numbers: the figures are counts.
	integer bool
	series  []seriesSpec
}

var timeChartSpecs = []chartSpec{
	{id: "waiting", title: "Waiting and active", unit: "people", integer: true, series: []seriesSpec{
		{"waiting", "s0", func(s Sample) float64 { return float64(s.Waiting) }},
		{"active", "s1", func(s Sample) float64 { return float64(s.Active) }},
	}},
	{id: "admitted", title: "Admissions per minute", unit: "fans", integer: true, series: []seriesSpec{
		{"admitted in the last minute", "s2", func(s Sample) float64 { return float64(s.AdmittedPerMinute) }},
	}},
	{id: "latency", title: "Join and status latency", unit: "ms, log scale", log: true, series: []seriesSpec{
		{"join p50", "s0", func(s Sample) float64 { return s.JoinP50ms }},
		{"join p99", "s0 dash", func(s Sample) float64 { return s.JoinP99ms }},
		{"status p50", "s1", func(s Sample) float64 { return s.StatusP50ms }},
		{"status p99", "s1 dash", func(s Sample) float64 { return s.StatusP99ms }},
	}},
	{id: "origin", title: "Origin latency", unit: "ms, log scale", log: true, series: []seriesSpec{
		{"origin p95", "s3", func(s Sample) float64 { return s.OriginP95ms }},
	}},
	{id: "bots", title: "Bot requests stopped", unit: "per second", integer: true, series: []seriesSpec{
		{"bot requests stopped", "s4", func(s Sample) float64 { return float64(s.BotsStopped) }},
	}},
	{id: "requests", title: "Requests answered", unit: "per second", integer: true, series: []seriesSpec{
		{"joins", "s0", func(s Sample) float64 { return float64(s.Joins) }},
		{"status polls", "s1", func(s Sample) float64 { return float64(s.StatusPolls) }},
		{"proxied", "s2", func(s Sample) float64 { return float64(s.Proxied) }},
	}},
}

func timeCharts(samples []Sample) []chart {
	charts := make([]chart, 0, len(timeChartSpecs))
	for _, spec := range timeChartSpecs {
		charts = append(charts, timeChart(spec, samples))
	}
	return charts
}

// timeChart draws spec's series against seconds since the start. NaN and
// ±Inf, and on a log axis values at or below zero, are missing figures:
// linePath decides whether the line spans them.
func timeChart(spec chartSpec, samples []Sample) chart {
	c := chart{Frame: plotFrame, ID: spec.id, Title: spec.title, Unit: spec.unit, XLabel: "seconds since start"}
	xs := make([]float64, len(samples))
	var xmin, xmax float64
	for i, s := range samples {
		xs[i] = s.At.Seconds()
		xmin, xmax = math.Min(xmin, xs[i]), math.Max(xmax, xs[i])
	}
	type points struct{ xs, ys []float64 }
	var (
		all   []points
		ymin  = math.Inf(1)
		ymax  = math.Inf(-1)
		peaks []string
	)
	for _, ss := range spec.series {
		ys := make([]float64, len(samples))
		peak := math.Inf(-1)
		for i, s := range samples {
			v := ss.value(s)
			if !finite(v) || (spec.log && v <= 0) {
				v = math.NaN()
			} else {
				ymin, ymax, peak = math.Min(ymin, v), math.Max(ymax, v), math.Max(peak, v)
			}
			ys[i] = v
		}
		rx, ry := reduce(xs, ys, maxBuckets)
		all = append(all, points{rx, ry})
		if finite(peak) {
			decimals := 1
			if spec.integer {
				decimals = 0
			}
			peaks = append(peaks, ss.name+" peaks at "+formatFloat(peak, decimals))
		}
	}
	if !finite(ymin) {
		c.Empty = true
		return c
	}
	xa := linearAxis(xmin, xmax, false, plotFrame.L, plotFrame.R)
	var ya axis
	if spec.log {
		ya = logAxis(ymin, ymax, plotFrame.B, plotFrame.T)
	} else {
		ya = linearAxis(ymin, ymax, spec.integer, plotFrame.B, plotFrame.T)
	}
	c.XTicks, c.YTicks = xa.ticks(), ya.ticks()
	c.Desc = fmt.Sprintf("Line chart over %s seconds (%s): %s.", formatFloat(xmax, 0), spec.unit, strings.Join(peaks, "; "))
	// Points kept from neighbouring buckets can be two buckets apart.
	bridge := math.Max(maxBridge, 2*(xmax-xmin)/maxBuckets)
	x := plotFrame.L
	for i, ss := range spec.series {
		c.Lines = append(c.Lines, line{
			Name: ss.name, Class: ss.class, D: linePath(all[i].xs, all[i].ys, xa, ya, bridge),
			SwatchX: x, SwatchEnd: x + 16, LabelX: x + 20,
		})
		x += 20 + legendWidth(ss.name) + 14
	}
	return c
}

// admissionChart draws each admitted fan's wait against its place in line,
// at most maxDots of them, and says how many it shows.
func admissionChart(adms []Admission) (chart, string) {
	c := chart{Frame: plotFrame, Solo: true, ID: "admissions", Title: "Time to admission by place in line", XLabel: "place in line (1 = arrived first)"}
	if len(adms) == 0 {
		c.Empty = true
		return c, ""
	}
	shown := sampleAdmissions(adms, maxDots)
	var minRank, maxRank, minWait, maxWait float64
	for _, a := range shown {
		minRank, maxRank = math.Min(minRank, float64(a.ArrivalRank)), math.Max(maxRank, float64(a.ArrivalRank))
		minWait, maxWait = math.Min(minWait, a.Wait.Seconds()), math.Max(maxWait, a.Wait.Seconds())
	}
	// Waits of ten minutes or more read better in minutes.
	unit, per := "seconds", 1.0
	if maxWait >= 600 {
		unit, per = "minutes", 60
	}
	c.Unit = "wait in " + unit
	xa := linearAxis(minRank, maxRank, true, plotFrame.L, plotFrame.R)
	ya := linearAxis(minWait/per, maxWait/per, false, plotFrame.B, plotFrame.T)
	c.XTicks, c.YTicks = xa.ticks(), ya.ticks()
	var d strings.Builder
	for _, a := range shown {
		d.WriteString("M" + coord(xa.pos(float64(a.ArrivalRank))) + " " + coord(ya.pos(a.Wait.Seconds()/per)) + "h0")
	}
	c.Lines = []line{{Name: "admitted fan", Class: "s0", Dots: true, D: d.String(), SwatchX: plotFrame.L + 8, SwatchEnd: plotFrame.L + 8, LabelX: plotFrame.L + 20}}
	c.Desc = fmt.Sprintf("Scatter of %s admitted fans: the longest wait shown is %s %s.", formatInt(len(shown)), formatFloat(maxWait/per, 1), unit)
	note := "All " + formatInt(len(adms)) + " admitted fans."
	if len(shown) < len(adms) {
		note = formatInt(len(shown)) + " of " + formatInt(len(adms)) + " admitted fans, taken evenly in arrival order."
	}
	return c, note
}

// sampleAdmissions returns at most n admissions, taken at even steps in
// arrival order: the same input, in any order, gives the same sample.
func sampleAdmissions(adms []Admission, n int) []Admission {
	sorted := slices.Clone(adms)
	slices.SortFunc(sorted, func(a, b Admission) int {
		return cmp.Or(cmp.Compare(a.ArrivalRank, b.ArrivalRank), cmp.Compare(a.AdmissionRank, b.AdmissionRank), cmp.Compare(a.Wait, b.Wait))
	})
	if len(sorted) <= n {
		return sorted
	}
	out := make([]Admission, n)
	for i := range out {
		out[i] = sorted[i*len(sorted)/n]
	}
	return out
}

// reduce cuts a long series into at most buckets runs and keeps, from each,
// its lowest and highest point in their order, so the drawn line keeps its
// peaks and troughs. A run with no finite point becomes one gap (NaN); a
// gap inside a run with finite points is lost.
func reduce(xs, ys []float64, buckets int) ([]float64, []float64) {
	if len(xs) <= 2*buckets {
		return xs, ys
	}
	size := (len(xs) + buckets - 1) / buckets
	var rx, ry []float64
	for start := 0; start < len(xs); start += size {
		end := min(start+size, len(xs))
		lo, hi := -1, -1
		for i := start; i < end; i++ {
			if math.IsNaN(ys[i]) {
				continue
			}
			if lo < 0 || ys[i] < ys[lo] {
				lo = i
			}
			if hi < 0 || ys[i] > ys[hi] {
				hi = i
			}
		}
		switch {
		case lo < 0:
			rx, ry = append(rx, xs[start]), append(ry, math.NaN())
		case lo == hi:
			rx, ry = append(rx, xs[lo]), append(ry, ys[lo])
		default:
			a, b := min(lo, hi), max(lo, hi)
			rx, ry = append(rx, xs[a], xs[b]), append(ry, ys[a], ys[b])
		}
	}
	return rx, ry
}

// linePath joins the points into an SVG path. A missing figure (NaN) is a
// second where nothing was measured, such as an origin read every ten
// seconds: the line bridges it, unless the points either side are more
// than bridge apart on the x axis. A point with no neighbour in reach is
// drawn as a dot (a zero-length segment with round caps).
func linePath(xs, ys []float64, xa, ya axis, bridge float64) string {
	var d strings.Builder
	run, last := 0, 0.0
	for i := range xs {
		if math.IsNaN(ys[i]) {
			continue
		}
		if run > 0 && xs[i]-last > bridge {
			if run == 1 {
				d.WriteString("h0")
			}
			run = 0
		}
		if run == 0 {
			d.WriteString("M")
		} else {
			d.WriteString("L")
		}
		d.WriteString(coord(xa.pos(xs[i])) + " " + coord(ya.pos(ys[i])))
		run, last = run+1, xs[i]
	}
	if run == 1 {
		d.WriteString("h0")
	}
	return d.String()
}

// legendWidth guesses the width of a legend label at the chart's font size.
func legendWidth(s string) float64 { return 6.2 * float64(len([]rune(s))) }

// axis maps data values in [lo, hi] onto SVG units in [from, to], linearly
// or in decades, with ticks every step (linear) or at 1, 2, 5 × 10ⁿ (log).
type axis struct {
	lo, hi   float64
	from, to float64
	log      bool
	step     float64
}

// pos is where v falls, in SVG units.
func (a axis) pos(v float64) float64 {
	var t float64
	if a.log {
		t = math.Log10(v/a.lo) / math.Log10(a.hi/a.lo)
	} else {
		t = (v - a.lo) / (a.hi - a.lo)
	}
	return a.from + t*(a.to-a.from)
}

func (a axis) ticks() []tick {
	// An axis that reaches a million counts in millions, so the labels fit
	// the margin.
	div, suffix := 1.0, ""
	if math.Max(math.Abs(a.lo), math.Abs(a.hi)) >= 1e6 {
		div, suffix = 1e6, "M"
	}
	label := func(v, precision float64) string {
		if v == 0 {
			return "0"
		}
		return formatFloat(v/div, decimalsFor(precision/div)) + suffix
	}
	var ts []tick
	if a.log {
		decades := int(math.Round(math.Log10(a.hi / a.lo)))
		for e := 0; e <= decades; e++ {
			base := a.lo * math.Pow10(e)
			for _, m := range []float64{1, 2, 5} {
				// Over more than two decades, 2 and 5 crowd the axis.
				if m != 1 && (decades > 2 || e == decades) {
					continue
				}
				v := base * m
				ts = append(ts, tick{round1(a.pos(v)), label(v, v)})
			}
		}
		return ts
	}
	n := int(math.Round((a.hi - a.lo) / a.step))
	for i := 0; i <= n; i++ {
		v := a.lo + float64(i)*a.step
		ts = append(ts, tick{round1(a.pos(v)), label(v, a.step)})
	}
	return ts
}

// linearAxis spans [min(0, lo), hi] widened to whole steps of 1, 2 or 5 ×
// 10ⁿ, about five of them. Integer axes never step below 1.
func linearAxis(lo, hi float64, integer bool, from, to float64) axis {
	lo = math.Min(0, lo)
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	if integer && step < 1 {
		step = 1
	}
	return axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step, from: from, to: to, step: step}
}

// logAxis spans whole decades around [lo, hi], both above zero.
func logAxis(lo, hi float64, from, to float64) axis {
	a := axis{lo: math.Pow10(int(math.Floor(math.Log10(lo)))), hi: math.Pow10(int(math.Ceil(math.Log10(hi)))), from: from, to: to, log: true}
	if a.hi <= a.lo {
		a.hi = a.lo * 10
	}
	return a
}

// niceStep rounds raw up to 1, 2 or 5 × 10ⁿ.
func niceStep(raw float64) float64 {
	if !finite(raw) || raw <= 0 {
		return 1
	}
	p := math.Pow10(int(math.Floor(math.Log10(raw))))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// decimalsFor is how many decimals show v's magnitude, 0 from 1 up.
func decimalsFor(v float64) int {
	if v <= 0 || v >= 1 {
		return 0
	}
	return int(math.Ceil(-math.Log10(v) - 1e-9))
}

func coord(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ratio is a/b, NaN when b is zero.
func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func formatPercent(share float64) string {
	if !finite(share) {
		return noValue
	}
	return formatFloat(share*100, 1) + " %"
}

// formatTarget writes a target share in whole percent: targets are round.
func formatTarget(share float64) string { return formatFloat(share*100, 0) + " %" }

func formatInt(n int) string { return formatFloat(float64(n), 0) }

// formatFloat writes v with the given decimals and thousands grouped by
// commas; NaN and ±Inf are noValue.
func formatFloat(v float64, decimals int) string {
	if !finite(v) {
		return noValue
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 && strings.Trim(s, "0.") != "" {
		b.WriteString("−")
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func orNoValue(s string) string {
	if s == "" {
		return noValue
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return noValue
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// formatDuration rounds to the second, or to the millisecond under a
// minute.
func formatDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Storm report: {{.Target}}</title>
<style>
:root{--bg:#ffffff;--card:#f6f7f9;--text:#111827;--muted:#4b5563;--line:#9ca3af;--grid:#e5e7eb;--pass:#166534;--pass-bg:#dcfce7;--fail:#991b1b;--fail-bg:#fee2e2;--na:#374151;--na-bg:#e5e7eb;--c0:#1d4ed8;--c1:#c2410c;--c2:#047857;--c3:#7e22ce;--c4:#b91c1c}
@media (prefers-color-scheme:dark){:root{--bg:#0b1120;--card:#111827;--text:#f9fafb;--muted:#cbd5e1;--line:#64748b;--grid:#1f2937;--pass:#bbf7d0;--pass-bg:#14532d;--fail:#fecaca;--fail-bg:#7f1d1d;--na:#e5e7eb;--na-bg:#374151;--c0:#93b4ff;--c1:#fdba74;--c2:#6ee7b7;--c3:#d8b4fe;--c4:#fca5a5}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 0}
h2{font-size:1.25rem;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid var(--grid)}
h3{font-size:1rem;margin:1.25rem 0 .5rem}
p{margin:0 0 .75rem}
.target{color:var(--muted);overflow-wrap:anywhere;margin-bottom:1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:0 0 1rem}
th,td{text-align:left;padding:.3rem .75rem .3rem 0;border-bottom:1px solid var(--grid);vertical-align:top}
th{font-weight:600}
.kv td{overflow-wrap:anywhere}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;padding-left:.75rem;white-space:nowrap;overflow-wrap:normal}
.kv th{color:var(--muted);font-weight:500;white-space:nowrap}
.verdict{display:inline-block;font-weight:700;font-size:1.125rem;padding:.4rem .8rem;border-radius:.4rem}
.mark{display:inline-block;font-weight:600;padding:0 .4rem;border-radius:.25rem;white-space:nowrap}
.pass{color:var(--pass);background:var(--pass-bg)}
.fail{color:var(--fail);background:var(--fail-bg)}
.na{color:var(--na);background:var(--na-bg)}
.nodata{color:var(--muted);font-style:italic}
.note{color:var(--muted);font-size:.875rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem}
figure{margin:0;padding:.75rem;background:var(--card);border-radius:.5rem}
figcaption{font-weight:600;margin-bottom:.25rem}
figcaption span{color:var(--muted);font-weight:400}
svg{display:block;width:100%;height:auto}
svg text{font-size:11px;fill:var(--muted)}
@media (max-width:30rem){table{font-size:.875rem}th,td{padding-right:.5rem}td.num,th.num{padding-left:.5rem}svg text{font-size:14px}svg .legend text{font-size:12px}}
.grid line{stroke:var(--grid)}
.axis line{stroke:var(--line)}
.series{fill:none;stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round}
.series.dash{stroke-dasharray:5 3}
.series.dots{stroke-width:2.5;stroke-opacity:.7}
.solo{max-width:40rem}
.s0{stroke:var(--c0)}.s1{stroke:var(--c1)}.s2{stroke:var(--c2)}.s3{stroke:var(--c3)}.s4{stroke:var(--c4)}
</style>
</head>
<body>
<main>
<header>
<h1>Storm report</h1>
<p class="target">{{.Target}}</p>
<div class="scroll"><table class="kv">
{{- range .Header}}
<tr><th scope="row">{{.Key}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table></div>
<h3>Settings</h3>
{{- if .Settings}}
<div class="scroll"><table class="kv">
{{- range .Settings}}
<tr><th scope="row">{{.Key}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table></div>
{{- else}}
<p class="nodata">No settings recorded.</p>
{{- end}}
</header>

<section>
<h2>Verdict</h2>
<p class="verdict {{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}✓{{else}}✗{{end}} {{.Verdict}}</p>
<h3>Invariants</h3>
<div class="scroll"><table>
<tr><th scope="col">Invariant</th><th scope="col" class="num">Seen</th><th scope="col" class="num">Allowed</th><th scope="col">Result</th></tr>
{{- range .Invariants}}
<tr><td>{{.Name}}</td><td class="num">{{.Seen}}</td><td class="num">{{.Target}}</td><td><span class="mark {{.Mark.Class}}">{{.Mark.Text}}</span></td></tr>
{{- end}}
</table></div>
<h3>Violations</h3>
{{- if .Violations}}
<ul>
{{- range .Violations}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else}}
<p>None.</p>
{{- end}}
<h3>Shield</h3>
<div class="scroll"><table>
<tr><th scope="col">Measure</th><th scope="col" class="num">Seen</th><th scope="col">Result</th></tr>
{{- range .Shield}}
<tr><td>{{.Name}}{{with .Target}}<br><span class="note">target {{.}}</span>{{end}}</td><td class="num">{{.Seen}}{{with .Detail}}<br><span class="note">{{.}}</span>{{end}}</td><td>{{if .Mark.Class}}<span class="mark {{.Mark.Class}}">{{.Mark.Text}}</span>{{end}}</td></tr>
{{- end}}
</table></div>
<h3>Fairness</h3>
<p>Kendall’s tau between fans’ arrival order and admission order: <strong>{{.Tau}}</strong> <span class="note">(1 is first come, first served; 0 is no relation)</span></p>
</section>

<section>
<h2>Outcomes</h2>
<div class="scroll"><table class="kv">
{{- range .Outcomes}}
<tr><th scope="row">{{.Key}}</th><td class="num">{{.Value}}</td></tr>
{{- end}}
</table></div>
</section>

{{- if .BotKinds}}
<section>
<h2>Bots by behaviour</h2>
<div class="scroll"><table>
<tr><th scope="col">Behaviour</th><th scope="col" class="num">Bots</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Stopped</th><th scope="col" class="num">Share stopped</th><th scope="col" class="num">Admitted</th><th scope="col" class="num">Tickets</th></tr>
{{- range .BotKinds}}
<tr><td>{{.Name}}</td><td class="num">{{.Bots}}</td><td class="num">{{.Requests}}</td><td class="num">{{.Stopped}}</td><td class="num">{{.Share}}</td><td class="num">{{.Admitted}}</td><td class="num">{{.Tickets}}</td></tr>
{{- end}}
</table></div>
</section>
{{- end}}

<section>
<h2>Over time</h2>
<div class="charts">
{{- range .Charts}}
{{template "chart" .}}
{{- end}}
</div>
</section>

<section>
<h2>Time to admission</h2>
{{template "chart" .Scatter}}
{{- with .Shown}}
<p class="note">{{.}}</p>
{{- end}}
</section>

<section>
<h2>Latency</h2>
{{- if .Latency}}
<div class="scroll"><table>
<tr><th scope="col">Kind</th><th scope="col" class="num">Count</th><th scope="col" class="num">p50 ms</th><th scope="col" class="num">p90 ms</th><th scope="col" class="num">p99 ms</th><th scope="col" class="num">max ms</th></tr>
{{- range .Latency}}
<tr><td>{{.Kind}}</td><td class="num">{{.Count}}</td><td class="num">{{.P50}}</td><td class="num">{{.P90}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td></tr>
{{- end}}
</table></div>
{{- else}}
<p class="nodata">No data.</p>
{{- end}}
</section>
</main>
</body>
</html>
{{define "chart"}}<figure{{if .Solo}} class="solo"{{end}}>
<figcaption>{{.Title}}{{with .Unit}} <span>({{.}})</span>{{end}}</figcaption>
{{- if .Empty}}
<p class="nodata">No data.</p>
{{- else}}
{{- $f := .Frame}}
<svg viewBox="0 0 {{$f.W}} {{$f.H}}" role="img" aria-labelledby="{{.ID}}-title {{.ID}}-desc">
<title id="{{.ID}}-title">{{.Title}}</title>
<desc id="{{.ID}}-desc">{{.Desc}}</desc>
<g class="grid">
{{- range .YTicks}}
<line x1="{{$f.L}}" x2="{{$f.R}}" y1="{{.Pos}}" y2="{{.Pos}}"/>
{{- end}}
</g>
<g class="axis">
<line x1="{{$f.L}}" x2="{{$f.R}}" y1="{{$f.B}}" y2="{{$f.B}}"/>
<line x1="{{$f.L}}" x2="{{$f.L}}" y1="{{$f.T}}" y2="{{$f.B}}"/>
{{- range .XTicks}}
<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$f.B}}" y2="{{$f.TickEnd}}"/><text x="{{.Pos}}" y="{{$f.XLabelY}}" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- range .YTicks}}
<text x="{{$f.YLabelX}}" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
<text x="{{$f.MidX}}" y="{{$f.XTitleY}}" text-anchor="middle">{{.XLabel}}</text>
</g>
<g class="legend">
{{- range .Lines}}
<line class="series {{.Class}}{{if .Dots}} dots{{end}}" x1="{{.SwatchX}}" x2="{{.SwatchEnd}}" y1="13" y2="13"/><text x="{{.LabelX}}" y="17">{{.Name}}</text>
{{- end}}
</g>
{{- range .Lines}}
<path class="series {{.Class}}{{if .Dots}} dots{{end}}" d="{{.D}}"/>
{{- end}}
</svg>
{{- end}}
</figure>{{end}}`))
