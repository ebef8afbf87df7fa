package admission

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

func basePolicy() Policy {
	return Policy{
		RatePerMinute: 60, MaxActive: 100, Session: 10 * time.Minute, ClaimWindow: time.Minute,
		Mode: ModeFIFO, State: StateOpen, PollMin: 2 * time.Second, PollMax: 20 * time.Second, RateRamp: time.Minute,
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	p := basePolicy().WithRate(600, t0)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"rate_per_minute":600`, `"max_active":100`, `"session":"10m0s"`, `"state":"open"`, `"rate_ramp":"1m0s"`, `"ramp":{"from":60`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("%s lacks %s", b, field)
		}
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, p)
	}
	if err := json.Unmarshal([]byte(`{"rate_per_minute":1,"bogus":2}`), &back); err == nil {
		t.Error("an unknown field was accepted")
	}
}

func TestRamp(t *testing.T) {
	p := basePolicy().WithRate(600, t0)
	for _, tt := range []struct {
		at   time.Duration
		want float64
	}{{-time.Second, 60}, {0, 60}, {30 * time.Second, 330}, {time.Minute, 600}, {time.Hour, 600}} {
		if got := p.EffectiveRate(t0.Add(tt.at)); got != tt.want {
			t.Errorf("effective rate at %v: %v, want %v", tt.at, got, tt.want)
		}
	}
	if ramping, end := p.Ramping(t0.Add(10 * time.Second)); !ramping || !end.Equal(t0.Add(time.Minute)) {
		t.Errorf("Ramping: %v %v", ramping, end)
	}
	// A raise in the middle of a ramp starts from the rate in force.
	q := p.WithRate(1200, t0.Add(30*time.Second))
	if q.Ramp == nil || q.Ramp.From != 330 {
		t.Errorf("raise during a ramp: %+v", q.Ramp)
	}
	// A cut applies at once.
	if c := p.WithRate(30, t0.Add(10*time.Second)); c.Ramp != nil || c.EffectiveRate(t0.Add(10*time.Second)) != 30 {
		t.Errorf("cut: %+v", c)
	}
	// Without a ramp time, a raise applies at once too.
	flat := basePolicy()
	flat.RateRamp = 0
	if f := flat.WithRate(600, t0); f.EffectiveRate(t0) != 600 {
		t.Errorf("no ramp: %v", f.EffectiveRate(t0))
	}
	// The store's limits follow the ramp.
	if lim := p.Limits(t0.Add(30 * time.Second)); lim.RatePerMinute != 330 || lim.Burst != 11 {
		t.Errorf("limits during the ramp: %+v", lim)
	}
}

func TestPatch(t *testing.T) {
	p := basePolicy()
	tests := []struct {
		name     string
		patch    string
		problems []string // fields, sorted
		check    func(Policy) bool
	}{
		{"rate and capacity", `{"rate_per_minute":120,"max_active":500}`, nil, func(q Policy) bool { return q.RatePerMinute == 120 && q.MaxActive == 500 && q.Ramp != nil }},
		{"durations", `{"session":"15m","claim_window":"2m","poll_max":"30s","rate_ramp":"0s"}`, nil, func(q Policy) bool {
			return q.Session == 15*time.Minute && q.ClaimWindow == 2*time.Minute && q.PollMax == 30*time.Second && q.RateRamp == 0
		}},
		{"state", `{"state":"paused"}`, nil, func(q Policy) bool { return q.State == StatePaused }},
		{"every problem", `{"rate_per_minute":"fast","max_active":0,"session":"ten","mode":"raffle","colour":1,"poll_min":null}`,
			[]string{"colour", "max_active", "mode", "poll_min", "rate_per_minute", "session"}, nil},
		{"window shorter than polls", `{"poll_max":"2m"}`, []string{"claim_window"}, nil},
		{"lottery without a sale start", `{"mode":"lottery"}`, []string{"sale_starts_at"}, nil},
		{"lottery", `{"mode":"lottery","sale_starts_at":"2030-01-01T10:00:00Z"}`, nil, func(q Policy) bool { return q.Mode == ModeLottery }},
		{"not an object", `[1]`, []string{""}, nil},
		{"empty object changes nothing", `{}`, nil, func(q Policy) bool { return reflect.DeepEqual(q, p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, problems := p.Patch([]byte(tt.patch), t0)
			var fields []string
			for _, pr := range problems {
				fields = append(fields, pr.Field)
			}
			sort.Strings(fields)
			if !reflect.DeepEqual(fields, tt.problems) {
				t.Fatalf("problems %v, want %v (%+v)", fields, tt.problems, problems)
			}
			if tt.check != nil && !tt.check(q) {
				t.Errorf("patched policy %+v", q)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	p := basePolicy()
	p.RateRamp = 0
	v := queue.Snapshot{}
	// 60 a minute with room to spare: 120 places take two minutes.
	roomy := p
	roomy.MaxActive = 10_000
	if got := Estimate(120, v, roomy, t0); got != 2*time.Minute {
		t.Errorf("at the rate: %v", got)
	}
	// Capacity binds after 100 (100 s at the rate); the last 20 wait for
	// sessions to end, 100 per 10 minutes: 2 more minutes.
	if got := Estimate(120, v, p, t0); got != 100*time.Second+2*time.Minute {
		t.Errorf("with capacity: %v", got)
	}
	full := queue.Snapshot{Active: 100}
	if got := Estimate(10, full, p, t0); got != time.Minute {
		t.Errorf("a full room admits 10 per minute: %v", got)
	}
	// A ramp from 60 to 600 over a minute: the first minute admits
	// 60·1 + 540/2 = 330, so 330 places take exactly a minute.
	r := basePolicy().WithRate(600, t0)
	r.MaxActive = 100_000
	if got := Estimate(330, queue.Snapshot{}, r, t0); got != time.Minute {
		t.Errorf("under a ramp: %v, want 1m", got)
	}
	if got := Estimate(930, queue.Snapshot{}, r, t0); got != 2*time.Minute {
		t.Errorf("after a ramp: %v, want 2m", got)
	}
}

func TestPhaseAndSchedule(t *testing.T) {
	p := basePolicy()
	p.OpensAt, p.SaleStartsAt = t0.Add(time.Hour), t0.Add(2*time.Hour)
	for _, tt := range []struct {
		state State
		at    time.Duration
		want  State
		admit bool
	}{
		{StateOpen, 0, StateScheduled, false},
		{StateOpen, time.Hour, StatePrequeue, false},
		{StateOpen, 2 * time.Hour, StateOpen, true},
		{StatePaused, 0, StatePaused, false},
		{StateSoldOut, 3 * time.Hour, StateSoldOut, false},
	} {
		p.State = tt.state
		now := t0.Add(tt.at)
		if got := p.Phase(now); got != tt.want {
			t.Errorf("%s at +%v: phase %s, want %s", tt.state, tt.at, got, tt.want)
		}
		if got := p.Limits(now).Admit; got != tt.admit {
			t.Errorf("%s at +%v: admit %v, want %v", tt.state, tt.at, got, tt.admit)
		}
	}

	// The schedule survives the store and the admin API's patches.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil || !back.OpensAt.Equal(p.OpensAt) || !back.SaleStartsAt.Equal(p.SaleStartsAt) {
		t.Errorf("round trip: %+v (%v) from %s", back, err, b)
	}
	got, problems := p.Patch([]byte(`{"opens_at":null,"sale_starts_at":"2031-03-01T12:00:00+02:00"}`), t0)
	if len(problems) != 0 || !got.OpensAt.IsZero() || !got.SaleStartsAt.Equal(time.Date(2031, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("patch: %+v %v", got, problems)
	}
	_, problems = p.Patch([]byte(`{"opens_at":"tomorrow"}`), t0)
	if len(problems) != 1 || problems[0].Field != "opens_at" {
		t.Errorf("a bad time: %v", problems)
	}
	_, problems = p.Patch([]byte(`{"sale_starts_at":"2000-01-01T00:00:00Z"}`), t0)
	if len(problems) != 1 || problems[0].Field != "sale_starts_at" {
		t.Errorf("a sale before the line opens: %v", problems)
	}
}

func TestPatchInventory(t *testing.T) {
	p := basePolicy()
	got, problems := p.Patch([]byte(`{"inventory":120}`), t0)
	if len(problems) != 0 || got.Inventory == nil || *got.Inventory != 120 {
		t.Fatalf("patch: %+v %v", got.Inventory, problems)
	}
	b, _ := json.Marshal(got)
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil || back.Inventory == nil || *back.Inventory != 120 {
		t.Errorf("round trip of %s: %+v %v", b, back.Inventory, err)
	}
	if got, problems = got.Patch([]byte(`{"inventory":null}`), t0); len(problems) != 0 || got.Inventory != nil {
		t.Errorf("removing it: %+v %v", got.Inventory, problems)
	}
	for _, bad := range []string{`{"inventory":-1}`, `{"inventory":"many"}`, `{"inventory":1.5}`} {
		if _, problems := p.Patch([]byte(bad), t0); len(problems) != 1 || problems[0].Field != "inventory" {
			t.Errorf("%s: %v", bad, problems)
		}
	}
}
