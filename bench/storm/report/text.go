package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The shield's efficacy targets, from the issue that asked for them: they
// are reported as met or not, and never fail a run.
const (
	// BotStopTarget is the least share of bot requests the shield should stop.
	BotStopTarget = 0.95
	// FanChallengeTarget is the largest share of fans that may be challenged
	// more than once.
	FanChallengeTarget = 0.01
)

// BotStopShare is the share of bot requests that were stopped, 0 when
// there were none.
func (r *Results) BotStopShare() float64 {
	return share(r.BotRequestsStopped, r.BotRequests)
}

// FanChallengeShare is the share of fans challenged more than once, 0 when
// there were no fans.
func (r *Results) FanChallengeShare() float64 {
	return share(r.FansChallengedMoreThanOnce, r.Fans)
}

func share(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// WriteJSON writes r as indented JSON, the storm's -json output.
func WriteJSON(w io.Writer, r *Results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteText writes the summary an operator reads at the end of a run: what
// was played, throughput and latency, fairness, bots, then the invariants
// and the verdict.
func WriteText(w io.Writer, r *Results) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("usher storm against %s", r.Target)
	p("  started %s, ran %s; %d fans, %d bots", r.Started.UTC().Format(time.RFC3339), r.Duration.Round(time.Millisecond), r.Fans, r.Bots)
	if r.Machine != "" {
		p("  machine %s", r.Machine)
	}
	if len(r.Settings) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(r.Settings)) {
			kv = append(kv, "-"+k+"="+r.Settings[k])
		}
		p("  settings %s", strings.Join(kv, " "))
	}

	p("")
	p("Throughput")
	p("  joins per second: peak %.0f, mean %.1f", r.JoinsPerSecondPeak, r.JoinsPerSecondMean)
	p("Latency (ms)        count      p50      p90      p99      max")
	for _, k := range latencyKinds(r.Latency) {
		s := r.Latency[k]
		p("  %-14s %9d %8.1f %8.1f %8.1f %8.1f", k, s.Count, s.P50ms, s.P90ms, s.P99ms, s.Maxms)
	}
	if w, ok := r.Latency[ConnWait]; ok && w.P50ms > r.Latency["status"].P50ms {
		p("  Requests waited longer for one of the storm's connections (%s) than for usher's", ConnWait)
		p("  answers: the storm set every client's pace, a bot's as a fan's.")
	}

	p("")
	p("Fans")
	p("  admitted %d of %d; with tickets %d; abandoned %d; blocked %d", r.FansAdmitted, r.Fans, r.FansWithTickets, r.FansAbandoned, r.FansBlocked)
	p("  challenged %d, more than once %d", r.FansChallenged, r.FansChallengedMoreThanOnce)
	p("  fairness (Kendall's tau, arrival vs admission order): %.3f over %d admissions", r.KendallTau, len(r.Admissions))
	if waits := waitByPlace(r.Admissions); waits != "" {
		p("  wait by place in line: %s", waits)
	}

	p("")
	p("Bots")
	p("  requests %d, stopped %d; admitted %d, tickets %d", r.BotRequests, r.BotRequestsStopped, r.BotsAdmitted, r.BotTickets)
	p("  share of admissions %.1f %%, of tickets %.1f %%", 100*r.BotAdmissionShare, 100*r.BotTicketShare)
	if len(r.BotKinds) > 0 {
		p("  %-16s %6s %9s %9s %8s %9s %8s", "behaviour", "bots", "requests", "stopped", "share", "admitted", "tickets")
		for _, name := range slices.Sorted(maps.Keys(r.BotKinds)) {
			k := r.BotKinds[name]
			share := "–"
			if k.Requests > 0 {
				share = fmt.Sprintf("%.1f %%", 100*float64(k.Stopped)/float64(k.Requests))
			}
			p("  %-16s %6d %9d %9d %8s %9d %8d", name, k.Bots, k.Requests, k.Stopped, share, k.Admitted, k.Tickets)
		}
	}

	p("")
	p("Shield efficacy (reported, not an invariant)")
	p("  bot requests stopped  %5.1f %% (target ≥ %.0f %%): %s", 100*r.BotStopShare(), 100*BotStopTarget, met(r.BotRequests > 0 && r.BotStopShare() >= BotStopTarget))
	p("  fans challenged twice %5.1f %% (target ≤ %.0f %%): %s", 100*r.FanChallengeShare(), 100*FanChallengeTarget, met(r.FanChallengeShare() <= FanChallengeTarget))

	p("")
	p("Invariants")
	p("  tickets sold %d of capacity %d; oversold %d", r.TicketsSold, r.Capacity, r.Oversold)
	p("  double charges %d; paid orders without tickets %d; tickets without a paid order %d", r.DoubleCharges, r.PaidWithoutTickets, r.TicketsWithoutPayment)
	p("  active passes at most %d seen, max_active %d", r.MaxActiveSeen, r.MaxActive)
	if len(r.Violations) == 0 {
		p("PASS: every invariant held")
	} else {
		p("FAIL: %d invariant(s) broken", len(r.Violations))
		for _, v := range r.Violations {
			p("  - %s", v)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// latencyKinds orders the latency kinds: the three first, then the
// others by name.
func latencyKinds(m map[string]Summary) []string {
	first := []string{"join", "status", "proxied"}
	var out []string
	for _, k := range first {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(first, k) {
			out = append(out, k)
		}
	}
	return out
}

// waitByPlace is the median wait of each fifth of the line, front first:
// time to admission against place in line, in one line of text.
func waitByPlace(adm []Admission) string {
	if len(adm) == 0 {
		return ""
	}
	sorted := slices.Clone(adm)
	slices.SortFunc(sorted, func(a, b Admission) int { return a.ArrivalRank - b.ArrivalRank })
	const parts = 5
	var out []string
	for i := range parts {
		lo, hi := i*len(sorted)/parts, (i+1)*len(sorted)/parts
		if lo == hi {
			continue
		}
		var waits []float64
		for _, a := range sorted[lo:hi] {
			waits = append(waits, a.Wait.Seconds())
		}
		out = append(out, fmt.Sprintf("%d–%d: %.1fs", sorted[lo].ArrivalRank, sorted[hi-1].ArrivalRank, Percentiles(waits, 50)[0]))
	}
	return strings.Join(out, ", ")
}
