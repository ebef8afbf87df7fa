package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A crowd that arrives at once through a rate of one a minute-second waits
// about a second per place ahead: the first few get in on the rate's
// burst, the 100th after about 99 s.
func TestPreviewLinearWaits(t *testing.T) {
	p, err := readPolicy([]byte("rate_per_minute: 60\nmax_active: 1000\n"), "room.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := readCurve(strings.NewReader("second,arrivals\n0,100\n"), "arrivals.csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate(t.Context(), cv, p, previewOptions{duration: time.Hour, sessionUse: 6 * time.Minute, requestsPerShopperMinute: 30})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished || res.Admitted != 100 || res.Waiting != 0 || res.Joined != 100 {
		t.Fatalf("finished %v, joined %d, admitted %d, waiting %d; want everyone of 100 admitted", res.Finished, res.Joined, res.Admitted, res.Waiting)
	}
	if res.Wait.P99 < 95 || res.Wait.P99 > 99 {
		t.Errorf("p99 wait %ds, want about 99s", res.Wait.P99)
	}
	if res.Wait.P50 < 45 || res.Wait.P50 > 50 {
		t.Errorf("p50 wait %ds, want about 50s", res.Wait.P50)
	}
	if res.Wait.Max < res.Wait.P99 || res.Wait.Max > 99 {
		t.Errorf("max wait %ds, want from p99 (%ds) to 99s", res.Wait.Max, res.Wait.P99)
	}
	// Nobody's 6 minutes run out before the last is in.
	if res.PeakShoppers != 100 || res.PeakPasses != 100 {
		t.Errorf("peak shoppers %d, passes %d; want 100 of each", res.PeakShoppers, res.PeakPasses)
	}
	if res.PeakRequestsPerSecond != 50 {
		t.Errorf("peak origin load %v requests/s, want 100 × 30/60 = 50", res.PeakRequestsPerSecond)
	}
	if res.AdmissionsPerMinuteMax != 60 && res.AdmissionsPerMinuteMax != 61 {
		t.Errorf("admissions per minute max %d, want the rate (60, and the burst)", res.AdmissionsPerMinuteMax)
	}
}

// Shoppers leave after -session-use, but their passes keep their places for
// the session, so a room full of passes admits nobody until they expire.
func TestPreviewCapacityHeldForSession(t *testing.T) {
	p, err := readPolicy([]byte("rate_per_minute: 6000\nmax_active: 10\nsession: 1m\n"), "room.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := readCurve(strings.NewReader("second,arrivals\n0,20\n"), "arrivals.csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate(t.Context(), cv, p, previewOptions{duration: time.Hour, sessionUse: 10 * time.Second, requestsPerShopperMinute: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished || res.Admitted != 20 {
		t.Fatalf("finished %v, admitted %d; want all 20", res.Finished, res.Admitted)
	}
	if res.Wait.Max != 60 || res.Wait.P50 != 0 {
		t.Errorf("p50 %ds, max %ds; want the first 10 in at once, the others when their passes expire after 60s", res.Wait.P50, res.Wait.Max)
	}
	if res.PeakShoppers != 10 || res.PeakPasses != 10 || res.SessionUseSeconds != 10 {
		t.Errorf("peak shoppers %d, passes %d, session use %ds; want 10, 10, 10s", res.PeakShoppers, res.PeakPasses, res.SessionUseSeconds)
	}
}

func TestPreviewStopsAtDuration(t *testing.T) {
	p, err := readPolicy([]byte("rate_per_minute: 60\nmax_active: 1000\n"), "room.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := readCurve(strings.NewReader("second,arrivals\n0,100\n600,5\n"), "arrivals.csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate(t.Context(), cv, p, previewOptions{duration: time.Minute, sessionUse: time.Minute, requestsPerShopperMinute: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Finished || res.SimulatedSeconds != 60 || res.Arrivals != 105 || res.Joined != 100 {
		t.Fatalf("finished %v after %ds, %d arrivals, %d joined; want a stop at 60s with 100 of 105 arrived", res.Finished, res.SimulatedSeconds, res.Arrivals, res.Joined)
	}
	if res.Admitted+res.Waiting != 100 || res.Waiting < 35 || res.LongestWaitingSeconds != 59 {
		t.Errorf("admitted %d, waiting %d, longest %ds; want about 60 in, the rest waiting since second 0", res.Admitted, res.Waiting, res.LongestWaitingSeconds)
	}
}

func TestReplayCSVErrors(t *testing.T) {
	for _, tc := range []struct{ name, csv, want string }{
		{"empty", "", "line 1: want the header"},
		{"no header", "0,10\n", "line 1: want the header second,arrivals"},
		{"negative second", "second,arrivals\n0,1\n-1,2\n", `line 3: second "-1"`},
		{"fraction", "second,arrivals\n0,1.5\n", `line 2: arrivals "1.5"`},
		{"negative arrivals", "second,arrivals\n0,5\n1,-3\n", `line 3: arrivals "-3"`},
		{"not a number", "second,arrivals\n\n0,5\nten,3\n", `line 4: second "ten"`},
		{"three fields", "second,arrivals\n0,5\n1,2,3\n", "line 3"},
		{"descending", "second,arrivals\n5,1\n4,1\n", "line 3: second 4: want seconds in ascending order"},
		{"repeated", "second,arrivals\n5,1\n5,1\n", "line 3: second 5"},
		{"too many", "second,arrivals\n0,99999999\n1,2\n", "line 3: more than"},
		{"nobody", "second,arrivals\n0,0\n", "no arrivals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readCurve(strings.NewReader(tc.csv), "arrivals.csv")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "arrivals.csv") {
				t.Fatalf("got %v, want an error about arrivals.csv with %q", err, tc.want)
			}
		})
	}
}

func TestReplayPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "rate_per_minute: 60\nmax_active: 10\nrate: 5\n", "line 3"},
		{"bad duration", "rate_per_minute: 60\nmax_active: 10\nsession: 10\n", "line 3"},
		{"no rate", "max_active: 10\n", "rate_per_minute: must be more than 0"},
		{"every problem at once", "rate_per_minute: 0\nrate: 5\n", "line 1: rate_per_minute: must be more than 0 and at most 1000000\nline 2: rate: unknown key"},
		{"short claim window", "rate_per_minute: 60\nmax_active: 10\nclaim_window: 10s\n", "line 3: claim_window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readPolicy([]byte(tc.yaml), "room.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Bad input is a usage error (exit status 2), checked before anything runs.
func TestReplayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("second,arrivals\n0,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-replay", bad, "-policy", "testdata/room.yaml"},
		{"-replay", "testdata/eras.csv", "-policy", filepath.Join(dir, "missing.yaml")},
		{"-replay", "testdata/eras.csv"},
		{"-policy", "testdata/room.yaml"},
		{"-replay", "testdata/eras.csv", "-policy", "testdata/room.yaml", "-session-use", "0s"},
	} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

// The example curve (testdata/eras.csv) is 1,000,000 arrivals spread evenly
// over the first minute, then arrivals decaying with a time constant of
// 180 s, 1,400,000 of them by minute 10 (2.4 million in all by then), a
// second per row for an hour, each row the difference of the rounded
// cumulative curve. This plays its first 30 s through the example policy.
func TestReplayExample(t *testing.T) {
	jsonOut := filepath.Join(t.TempDir(), "preview.json")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"-replay", "testdata/eras.csv", "-policy", "testdata/room.yaml", "-duration", "30s", "-json", jsonOut},
		func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"policy preview: rate_per_minute 10000, max_active 20000", "still waiting", "p99", "origin", "admissions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var res previewResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Arrivals < 2_400_000 || res.Joined != 500_000 || res.SimulatedSeconds != 30 || res.Finished {
		t.Errorf("arrivals %d, joined %d, simulated %ds, finished %v; want the curve's 2.4M+, its first 30s (500,000), unfinished",
			res.Arrivals, res.Joined, res.SimulatedSeconds, res.Finished)
	}
	// 10,000 a minute from a two-second burst: 333 at once, then about 167
	// a second.
	if res.Admitted < 4_900 || res.Admitted > 5_400 || res.Policy.Session != 10*time.Minute {
		t.Errorf("admitted %d in 30s under %+v; want about 5,300", res.Admitted, res.Policy)
	}
}
