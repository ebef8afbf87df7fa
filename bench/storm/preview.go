package main

// The policy preview plays an arrival curve through one room's policy in
// simulated time, with the gateway's own admission code on the in-memory
// queue store and a fake clock, so a venue can see the waits, the crowd on
// the site and the origin's load a rate would give before the on-sale.
//
// Visitors are modelled as always coming back in time: each simulated
// second, after the controller's tick, every visitor the line has reached
// claims their offer. A shopper stops sending requests after -session-use,
// but the store frees a place only when its pass expires, so capacity is
// held for the whole session.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/usherhq/usher/admission"
	cfgfile "github.com/usherhq/usher/config"
	"github.com/usherhq/usher/gateway"
	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
)

// maxArrivals bounds a curve's total, so that a typo cannot make the
// preview join people for hours.
const maxArrivals = 100_000_000

// checkPreviewFlags validates the preview's flags once parseFlags has read
// them; the storm's own flags are not checked, since a preview never uses
// them. -duration defaults to 3h of simulated time here.
func checkPreviewFlags(c *config, fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["duration"] {
		c.duration = 3 * time.Hour
	}
	var problems []error
	if c.replay == "" || c.policy == "" {
		problems = append(problems, errors.New("-replay and -policy go together: an arrival curve and the policy to play it through"))
	}
	if c.duration < time.Second {
		problems = append(problems, fmt.Errorf("-duration %s: want at least 1s of simulated time", c.duration))
	}
	if c.sessionUse < time.Second {
		problems = append(problems, fmt.Errorf("-session-use %s: want at least 1s", c.sessionUse))
	}
	if !(c.requestsPerShopperMinute >= 0) || math.IsInf(c.requestsPerShopperMinute, 0) {
		problems = append(problems, fmt.Errorf("-requests-per-shopper-minute %v: want a number ≥ 0", c.requestsPerShopperMinute))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(problems...))
	}
	return nil
}

// runPreview reads the curve and the policy the flags name, simulates, and
// writes the text summary to stdout and the JSON to -json. Unreadable or
// malformed input is an errUsage.
func runPreview(ctx context.Context, cfg config, stdout io.Writer) error {
	f, err := os.Open(cfg.replay)
	if err != nil {
		return fmt.Errorf("%w: -replay: %w", errUsage, err)
	}
	cv, err := readCurve(f, cfg.replay)
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	data, err := os.ReadFile(cfg.policy)
	if err != nil {
		return fmt.Errorf("%w: -policy: %w", errUsage, err)
	}
	p, err := readPolicy(data, cfg.policy)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	res, err := simulate(ctx, cv, p, previewOptions{
		duration: cfg.duration, sessionUse: cfg.sessionUse, requestsPerShopperMinute: cfg.requestsPerShopperMinute,
	})
	if err != nil {
		return err
	}
	if err := writePreviewText(stdout, res); err != nil {
		return err
	}
	if cfg.jsonOut == "" {
		return nil
	}
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("preview json: %w", err)
	}
	if err := os.WriteFile(cfg.jsonOut, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("preview json: %w", err)
	}
	return nil
}

// arrivalRow is one line of a curve: count visitors arrive at second.
type arrivalRow struct {
	second, count int64
}

// curve is an arrival curve, its rows in ascending seconds.
type curve struct {
	rows  []arrivalRow
	total int64
}

// readCurve reads a CSV curve with the header second,arrivals: whole
// seconds since the sale started, ascending, and whole numbers of arrivals,
// neither negative. Seconds left out have no arrivals. name labels errors,
// which name the line.
func readCurve(r io.Reader, name string) (curve, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var cv curve
	header := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return curve{}, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if header {
			header = false
			if strings.TrimSpace(rec[0]) != "second" || strings.TrimSpace(rec[1]) != "arrivals" {
				return curve{}, fmt.Errorf("%s line %d: want the header second,arrivals, not %q", name, line, strings.Join(rec, ","))
			}
			continue
		}
		sec, err1 := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64)
		n, err2 := strconv.ParseInt(strings.TrimSpace(rec[1]), 10, 64)
		switch {
		case err1 != nil || sec < 0:
			return curve{}, fmt.Errorf("%s line %d: second %q: want a whole number ≥ 0", name, line, rec[0])
		case err2 != nil || n < 0:
			return curve{}, fmt.Errorf("%s line %d: arrivals %q: want a whole number ≥ 0", name, line, rec[1])
		case len(cv.rows) > 0 && sec <= cv.rows[len(cv.rows)-1].second:
			return curve{}, fmt.Errorf("%s line %d: second %d: want seconds in ascending order, each once", name, line, sec)
		case n > maxArrivals-cv.total:
			return curve{}, fmt.Errorf("%s line %d: more than %d arrivals in all", name, line, maxArrivals)
		}
		cv.rows = append(cv.rows, arrivalRow{second: sec, count: n})
		cv.total += n
	}
	if header {
		return curve{}, fmt.Errorf("%s line 1: want the header second,arrivals, the file is empty", name)
	}
	if cv.total == 0 {
		return curve{}, fmt.Errorf("%s: the curve has no arrivals", name)
	}
	return cv, nil
}

// roomPolicy is the part of a gateway room's keys that the preview plays;
// keys left out take the gateway's defaults, and any other key is an error.
type roomPolicy struct {
	// RatePerMinute is admissions per minute. Required.
	RatePerMinute float64 `yaml:"rate_per_minute"`
	// MaxActive is the most live passes at once. Required.
	MaxActive int `yaml:"max_active"`
	// Session is how long a pass lasts. Default 10m.
	Session cfgfile.Duration `yaml:"session"`
	// ClaimWindow is how long an offer waits for its visitor. Default 60s.
	ClaimWindow cfgfile.Duration `yaml:"claim_window"`
	// PollMin and PollMax bound how often waiting visitors ask. Defaults 2s
	// and 20s.
	PollMin cfgfile.Duration `yaml:"poll_min"`
	PollMax cfgfile.Duration `yaml:"poll_max"`
	// RateRamp is how long a raised rate takes to reach its value. Default
	// 1m; a room starts at its configured rate, so it plays no part here.
	RateRamp cfgfile.Duration `yaml:"rate_ramp"`
}

// readPolicy decodes a room policy strictly and checks it as the gateway
// does; name labels errors, which name their lines.
func readPolicy(data []byte, name string) (admission.Policy, error) {
	d := gateway.DefaultRoom()
	rp := roomPolicy{
		Session: d.Session, ClaimWindow: d.ClaimWindow,
		PollMin: d.PollMin, PollMax: d.PollMax, RateRamp: d.RateRamp,
	}
	doc, problems := cfgfile.Decode(data, &rp)
	p := admission.Policy{
		RatePerMinute: rp.RatePerMinute,
		MaxActive:     rp.MaxActive,
		Session:       time.Duration(rp.Session),
		ClaimWindow:   time.Duration(rp.ClaimWindow),
		Mode:          admission.Mode(d.Mode),
		State:         admission.State(d.State),
		PollMin:       time.Duration(rp.PollMin),
		PollMax:       time.Duration(rp.PollMax),
		RateRamp:      time.Duration(rp.RateRamp),
	}
	// A key that failed to decode kept its default; checking it would
	// report the same key twice. A file that is not YAML (a problem with no
	// key) has nothing worth checking.
	failed := map[string]bool{}
	for _, pr := range problems {
		failed[pr.Path] = true
	}
	if !failed[""] {
		p.Check(func(field, problem string) {
			if !failed[field] {
				problems.Add(field, "%s", problem)
			}
		})
	}
	problems = doc.Locate(problems)
	if err := problems.Err(); err != nil {
		return admission.Policy{}, fmt.Errorf("policy %s:\n%w", name, err)
	}
	return p, nil
}

// previewOptions are the flags that shape a simulation.
type previewOptions struct {
	// duration bounds the simulated time.
	duration time.Duration
	// sessionUse is how long a shopper shops, cut to the policy's session.
	sessionUse time.Duration
	// requestsPerShopperMinute is each shopper's load on the origin.
	requestsPerShopperMinute float64
}

// previewResult is what a preview found; -json writes it. Times are
// seconds since the sale started (the curve's second 0).
type previewResult struct {
	// Policy is the policy played.
	Policy admission.Policy `json:"policy"`
	// SessionUseSeconds is how long each shopper shopped: -session-use, at
	// most the session. A pass holds its place for the whole session.
	SessionUseSeconds int64 `json:"session_use_seconds"`
	// RequestsPerShopperMinute is the origin load of one shopper.
	RequestsPerShopperMinute float64 `json:"requests_per_shopper_minute"`
	// SimulatedSeconds is how long the simulation ran; Finished is true when
	// it stopped because everyone was admitted, false at -duration.
	SimulatedSeconds int64 `json:"simulated_seconds"`
	Finished         bool  `json:"finished"`

	// Arrivals is the curve's total; Joined how many of them arrived within
	// the simulated time; Admitted how many got a pass; Waiting how many
	// were still in line at the end.
	Arrivals int64 `json:"arrivals"`
	Joined   int64 `json:"joined"`
	Admitted int64 `json:"admitted"`
	Waiting  int64 `json:"waiting"`

	// Wait is the admitted shoppers' waits from arrival to admission.
	Wait waitSummary `json:"wait"`
	// LongestWaitingSeconds is how long the first still in line had waited
	// at the end (0 when nobody was).
	LongestWaitingSeconds int64 `json:"longest_waiting_seconds"`

	// PeakShoppers is the most shoppers on the site at once (admitted, and
	// within their session use), at PeakShoppersAt.
	PeakShoppers   int64 `json:"peak_shoppers"`
	PeakShoppersAt int64 `json:"peak_shoppers_at"`
	// PeakPasses is the most live passes at once, as the store counts them,
	// at PeakPassesAt.
	PeakPasses   int   `json:"peak_passes"`
	PeakPassesAt int64 `json:"peak_passes_at"`
	// PeakRequestsPerSecond is the origin's busiest second, shoppers ×
	// requests per shopper-minute / 60, at PeakRequestsAt.
	PeakRequestsPerSecond float64 `json:"peak_requests_per_second"`
	PeakRequestsAt        int64   `json:"peak_requests_at"`

	// AdmissionsPerMinuteMean is admissions over the simulated minutes;
	// AdmissionsPerMinuteMax the most in one minute of the sale (minutes
	// counted from second 0).
	AdmissionsPerMinuteMean float64 `json:"admissions_per_minute_mean"`
	AdmissionsPerMinuteMax  int64   `json:"admissions_per_minute_max"`
}

// waitSummary is a wait distribution in whole seconds (nearest rank).
type waitSummary struct {
	P50 int64 `json:"p50_seconds"`
	P90 int64 `json:"p90_seconds"`
	P99 int64 `json:"p99_seconds"`
	Max int64 `json:"max_seconds"`
}

// previewRoom is the simulated room's id.
const previewRoom = "preview"

// simulate plays cv through p one simulated second at a time: the second's
// arrivals join, the controller ticks, and every visitor the line has
// reached claims their offer. It stops once everyone has arrived and been
// admitted, or after o.duration.
func simulate(ctx context.Context, cv curve, p admission.Policy, o previewOptions) (*previewResult, error) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	store := memory.New(memory.Options{Now: clock})
	ctl := admission.NewController(store, admission.ControllerOptions{
		Now: clock, Tick: time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	room := ctl.AddRoom(previewRoom, previewRoom, p)

	stay := min(o.sessionUse, p.Session)
	staySec := max(1, int64((stay+time.Second-1)/time.Second))
	limit := max(1, int64(o.duration/time.Second))
	res := &previewResult{
		Policy: p, SessionUseSeconds: staySec, RequestsPerShopperMinute: o.requestsPerShopperMinute,
		Arrivals: cv.total,
	}

	var (
		admits   []int64 // admissions in each second
		waits    []int64 // admitted visitors by wait in seconds
		joined   int64
		next     int64 = 1 // the next place to claim
		joinRow  int       // the row whose arrivals join next
		claimRow int       // the row place next arrived in
		claimEnd int64     // the last place of claimRow
		shoppers int64
		t        int64
	)
	// arrivedAt is the second place seq (>= next) arrived: the curve's rows
	// hand out places in order, so a cursor finds it.
	arrivedAt := func(seq int64) int64 {
		for claimEnd < seq {
			claimEnd += cv.rows[claimRow].count
			claimRow++
		}
		return cv.rows[claimRow-1].second
	}
	admit := func(seq, t int64) {
		w := t - arrivedAt(seq)
		for int64(len(waits)) <= w {
			waits = append(waits, 0)
		}
		waits[w]++
		admits[t]++
		res.Admitted++
	}

	for t = 0; t < limit; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now = start.Add(time.Duration(t) * time.Second)
		admits = append(admits, 0)
		for ; joinRow < len(cv.rows) && cv.rows[joinRow].second == t; joinRow++ {
			for range cv.rows[joinRow].count {
				pl, err := room.Join(ctx, "v"+strconv.FormatInt(joined+1, 36))
				if err != nil {
					return nil, fmt.Errorf("preview at %ds: %w", t, err)
				}
				joined++
				if pl.Admitted {
					// Nobody waited ahead, so every earlier place has been
					// claimed and this one is next.
					if pl.Seq != next {
						return nil, fmt.Errorf("preview at %ds: place %d admitted on joining while %d waits", t, pl.Seq, next)
					}
					admit(next, t)
					next++
				}
			}
		}
		if err := ctl.Tick(ctx); err != nil {
			return nil, fmt.Errorf("preview at %ds: %w", t, err)
		}
		for next <= joined && room.Wait(next).Offered {
			c, err := room.Claim(ctx, next)
			if err != nil {
				return nil, fmt.Errorf("preview at %ds: %w", t, err)
			}
			if c.Outcome != queue.Admitted {
				break // no budget or capacity for it now: again next second
			}
			admit(next, t)
			next++
		}

		snap, err := store.Snapshot(ctx, previewRoom)
		if err != nil {
			return nil, fmt.Errorf("preview at %ds: %w", t, err)
		}
		if snap.Active > res.PeakPasses {
			res.PeakPasses, res.PeakPassesAt = snap.Active, t
		}
		shoppers += admits[t]
		if t >= staySec {
			shoppers -= admits[t-staySec]
		}
		if shoppers > res.PeakShoppers {
			res.PeakShoppers, res.PeakShoppersAt = shoppers, t
		}
		if joinRow == len(cv.rows) && next > joined {
			res.Finished = true
			t++
			break
		}
	}

	res.SimulatedSeconds = t
	res.Joined = joined
	res.Waiting = joined - res.Admitted
	if next <= joined {
		res.LongestWaitingSeconds = t - 1 - arrivedAt(next)
	}
	res.Wait = summarizeWaits(waits, res.Admitted)
	res.PeakRequestsPerSecond = float64(res.PeakShoppers) * o.requestsPerShopperMinute / 60
	res.PeakRequestsAt = res.PeakShoppersAt
	res.AdmissionsPerMinuteMean = float64(res.Admitted) / (float64(t) / 60)
	for m := 0; m < len(admits); m += 60 {
		var n int64
		for _, a := range admits[m:min(m+60, len(admits))] {
			n += a
		}
		res.AdmissionsPerMinuteMax = max(res.AdmissionsPerMinuteMax, n)
	}
	return res, nil
}

// summarizeWaits reads quantiles off counts, where counts[w] visitors waited
// w seconds and n is their sum.
func summarizeWaits(counts []int64, n int64) waitSummary {
	if n == 0 {
		return waitSummary{}
	}
	q := func(p float64) int64 {
		rank := max(1, int64(math.Ceil(p*float64(n))))
		var seen int64
		for w, c := range counts {
			if seen += c; seen >= rank {
				return int64(w)
			}
		}
		return int64(len(counts) - 1)
	}
	return waitSummary{P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: q(1)}
}

// writePreviewText writes the preview's summary for a person.
func writePreviewText(w io.Writer, r *previewResult) error {
	secs := func(s int64) string { return (time.Duration(s) * time.Second).String() }
	var b bytes.Buffer
	fmt.Fprintf(&b, "policy preview: rate_per_minute %v, max_active %d, session %s, claim_window %s\n",
		r.Policy.RatePerMinute, r.Policy.MaxActive, r.Policy.Session, r.Policy.ClaimWindow)
	if r.Finished {
		fmt.Fprintf(&b, "simulated  %s: everyone admitted\n", secs(r.SimulatedSeconds))
	} else {
		fmt.Fprintf(&b, "simulated  %s: stopped at -duration with people still to admit\n", secs(r.SimulatedSeconds))
	}
	fmt.Fprintf(&b, "arrivals   %d in the curve, %d arrived, %d admitted, %d still waiting", r.Arrivals, r.Joined, r.Admitted, r.Waiting)
	if r.Waiting > 0 {
		fmt.Fprintf(&b, " (the longest for %s)", secs(r.LongestWaitingSeconds))
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "wait       p50 %s, p90 %s, p99 %s, max %s (of those admitted)\n",
		secs(r.Wait.P50), secs(r.Wait.P90), secs(r.Wait.P99), secs(r.Wait.Max))
	fmt.Fprintf(&b, "shoppers   peak %d at +%s, each shopping %s\n", r.PeakShoppers, secs(r.PeakShoppersAt), secs(r.SessionUseSeconds))
	fmt.Fprintf(&b, "passes     peak %d at +%s: a pass holds its place for the whole session (%s), however soon its shopper leaves\n",
		r.PeakPasses, secs(r.PeakPassesAt), r.Policy.Session)
	fmt.Fprintf(&b, "origin     peak %.0f requests/s at +%s (%v requests per shopper-minute)\n",
		r.PeakRequestsPerSecond, secs(r.PeakRequestsAt), r.RequestsPerShopperMinute)
	fmt.Fprintf(&b, "admissions %.0f/min mean, %d/min max\n", r.AdmissionsPerMinuteMean, r.AdmissionsPerMinuteMax)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	return nil
}
