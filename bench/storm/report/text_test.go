package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleResults() *Results {
	return &Results{
		Target: "http://127.0.0.1:8080", Started: time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC), Duration: 90 * time.Second,
		Settings: map[string]string{"fans": "2000", "bots": "500"}, Machine: "2 cores",
		Fans: 2000, Bots: 500,
		Latency: map[string]Summary{
			"join": {Count: 2400, P50ms: 2.5, P90ms: 10, P99ms: 40, Maxms: 120}, "status": {Count: 9000, P50ms: 1.1},
			"proxied": {Count: 12000, P50ms: 7}, "pay": {Count: 500, P50ms: 1},
		},
		JoinsPerSecondPeak: 210, JoinsPerSecondMean: 80,
		Admissions:   []Admission{{1, 1, time.Second}, {2, 3, 2 * time.Second}, {3, 2, 3 * time.Second}},
		KendallTau:   1.0 / 3,
		FansAdmitted: 3, FansWithTickets: 2, FansChallenged: 40, FansChallengedMoreThanOnce: 30,
		BotRequests: 1000, BotRequestsStopped: 960, BotsAdmitted: 1, BotTickets: 2,
		BotAdmissionShare: 0.25, BotTicketShare: 0.1,
		Capacity: 596, TicketsSold: 596, MaxActive: 1200, MaxActiveSeen: 1200,
	}
}

func TestWriteTextPass(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"usher storm against http://127.0.0.1:8080",
		"-bots=500 -fans=2000",
		"joins per second: peak 210, mean 80.0",
		"  join                2400      2.5     10.0     40.0    120.0",
		"Kendall's tau, arrival vs admission order): 0.333 over 3 admissions",
		"bot requests stopped   96.0 % (target ≥ 95 %): met",
		"fans challenged twice   1.5 % (target ≤ 1 %): NOT met",
		"tickets sold 596 of capacity 596; oversold 0",
		"active passes at most 1200 seen, max_active 1200",
		"PASS: every invariant held",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	// The three kinds first, then the others.
	if i, j := strings.Index(out, "  proxied "), strings.Index(out, "  pay "); i < 0 || j < i {
		t.Errorf("latency kinds out of order:\n%s", out)
	}
}

func TestWriteTextConnWait(t *testing.T) {
	const note = "the storm set every client's pace"
	for _, tt := range []struct {
		wait float64 // p50, ms; status p50 is 1.1
		note bool
	}{{0.01, false}, {1.1, false}, {250, true}} {
		r := sampleResults()
		r.Latency[ConnWait] = Summary{Count: 9000, P50ms: tt.wait}
		var b bytes.Buffer
		if err := WriteText(&b, r); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), note); got != tt.note {
			t.Errorf("connection wait p50 %v ms against status p50 1.1 ms: note %v, want %v:\n%s", tt.wait, got, tt.note, b.String())
		}
	}
}

func TestWriteTextFail(t *testing.T) {
	r := sampleResults()
	r.Oversold, r.Violations = 2, []string{"oversold: 2 place(s) sold more than once or beyond capacity"}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "FAIL: 1 invariant(s) broken\n  - oversold: 2 place(s)") {
		t.Errorf("the summary does not name the violation:\n%s", out)
	}
}

func TestWriteJSONRoundTrips(t *testing.T) {
	var b bytes.Buffer
	want := sampleResults()
	if err := WriteJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	var got Results
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.KendallTau != want.KendallTau || got.Duration != want.Duration || len(got.Admissions) != 3 || got.Latency["join"] != want.Latency["join"] {
		t.Errorf("round trip: %+v", got)
	}
	if !strings.Contains(b.String(), `"bot_requests_stopped": 960`) {
		t.Errorf("json field names: %s", b.String())
	}
}

func TestEfficacyOfNothing(t *testing.T) {
	var r Results
	if r.BotStopShare() != 0 || r.FanChallengeShare() != 0 {
		t.Error("shares of nothing are not 0")
	}
}
