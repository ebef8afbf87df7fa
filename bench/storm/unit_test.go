package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/bench/storm/report"
	"github.com/usherhq/usher/gateway/shield"
)

func TestArrivals(t *testing.T) {
	burst, tail := 10*time.Second, 30*time.Second
	at := arrivals(5000, burst, tail, 0.7, rand.New(rand.NewPCG(1, 1)))
	if len(at) != 5000 || !slices.IsSorted(at) {
		t.Fatalf("%d arrivals, sorted %v", len(at), slices.IsSorted(at))
	}
	if at[0] < 0 || at[len(at)-1] >= burst+tail {
		t.Errorf("arrivals outside [0, %s): %s .. %s", burst+tail, at[0], at[len(at)-1])
	}
	inBurst := 0
	perTailSecond := make([]int, int(tail/time.Second))
	for _, a := range at {
		if a < burst {
			inBurst++
		} else {
			perTailSecond[int((a-burst)/time.Second)]++
		}
	}
	if inBurst < 3300 || inBurst > 3700 {
		t.Errorf("%d of 5000 in the burst, want about 3500", inBurst)
	}
	// The tail decays: its first five seconds are busier than its last five.
	first, last := 0, 0
	for i := range 5 {
		first += perTailSecond[i]
		last += perTailSecond[len(perTailSecond)-1-i]
	}
	if first <= 3*last {
		t.Errorf("the tail does not decay: first 5 s %d, last 5 s %d", first, last)
	}
	// The same seed plays the same storm.
	if again := arrivals(5000, burst, tail, 0.7, rand.New(rand.NewPCG(1, 1))); !slices.Equal(at, again) {
		t.Error("the same seed gave another schedule")
	}
	for name, tc := range map[string]struct{ burst, tail time.Duration }{
		"no tail": {burst, 0}, "no burst": {0, tail}, "at once": {0, 0},
	} {
		got := arrivals(100, tc.burst, tc.tail, 0.5, rand.New(rand.NewPCG(2, 2)))
		if len(got) != 100 || got[len(got)-1] > max(tc.burst+tc.tail-1, 0) || got[0] < 0 {
			t.Errorf("%s: %d arrivals, %s .. %s", name, len(got), got[0], got[len(got)-1])
		}
	}
}

func TestAddresses(t *testing.T) {
	subnets := map[string]int{}
	seen := map[string]bool{}
	for i := range 2000 {
		ip := fanAddr(i).To4()
		if ip[0] != 127 || ip[3] < 2 || ip[3] == 255 {
			t.Fatalf("fan %d: %s", i, ip)
		}
		if seen[ip.String()] {
			t.Fatalf("fan %d shares %s", i, ip)
		}
		seen[ip.String()] = true
		subnets[ip.Mask(net.CIDRMask(24, 32)).String()]++
	}
	for s, n := range subnets {
		if n > fansPerSubnet {
			t.Errorf("%d fans in %s/24", n, s)
		}
	}
	for i := range 500 {
		ip := botAddr(i).To4()
		if seen[ip.String()] || ip[0] != 127 {
			t.Fatalf("bot %d: %s (a fan's?)", i, ip)
		}
		for j := range sharedCopies {
			if c := copyAddr(i, j).To4(); seen[c.String()] || c[0] != 127 || c[3] < 2 {
				t.Fatalf("copy %d of bot %d: %s", j, i, c)
			}
		}
	}
	if copyAddr(3, 0).Mask(net.CIDRMask(16, 32)).Equal(copyAddr(3, 1).Mask(net.CIDRMask(16, 32))) {
		t.Error("two copies of a pass share a network")
	}
}

func TestBotMix(t *testing.T) {
	mix, err := parseMix("fast-poller=2, automation=1,forger")
	if err != nil {
		t.Fatal(err)
	}
	kinds := assignBots(400, mix, rand.New(rand.NewPCG(1, 1)))
	count := map[string]int{}
	for _, k := range kinds {
		count[k]++
	}
	if len(kinds) != 400 || count[botFastPoller] != 200 || count[botAutomation] != 100 || count[botForger] != 100 {
		t.Errorf("assigned %v", count)
	}
	for _, bad := range []string{"robots=1", "forger=-1", "forger=x", "forger=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) took it", bad)
		}
	}
	// Remainders go somewhere: 7 bots over 7 kinds of equal weight.
	all, _ := parseMix("fast-poller,cookie-dropper,many-places,automation,forger,pass-sharer,origin")
	if got := assignBots(7, all, rand.New(rand.NewPCG(1, 1))); len(got) != 7 {
		t.Errorf("7 bots: %v", got)
	}
}

func TestPageChallenge(t *testing.T) {
	page := `<main id="challenge" class="card" data-room="demo" data-token="AQ4.x4m" data-id="c_9kLw" data-bits="18" data-submit-url="/_usher/challenge?room=demo&amp;x=1">`
	ch, ok := pageChallenge([]byte(page))
	if !ok || ch.Token != "AQ4.x4m" || ch.ID != "c_9kLw" || ch.Bits != 18 || ch.Submit != "/_usher/challenge?room=demo&x=1" {
		t.Errorf("%+v %v", ch, ok)
	}
	if _, ok := pageChallenge([]byte(`<main id="queue" data-poll-ms="5000">`)); ok {
		t.Error("the queue page read as a challenge")
	}
	if !isQueuePage([]byte(`<main id="queue" class="card">`)) || isQueuePage([]byte(`<h1>Seats</h1>`)) {
		t.Error("isQueuePage")
	}
	// The solver the fans use finds what the gateway checks.
	c := shield.Challenge{ID: "c_9kLwE5tYc1AaVb3mZ0qw", Bits: 12}
	nonce, ok := shield.Solve(c, solveBudget)
	if !ok || !shield.Solved(c, nonce) {
		t.Errorf("Solve: %q %v", nonce, ok)
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		a    answer
		want bool
	}{
		{answer{status: 403}, true}, {answer{status: 401}, true}, {answer{status: 429}, true},
		{answer{status: 200, body: []byte(`<main id="queue">`)}, true},
		{answer{status: 200, body: []byte(`<main id="challenge" data-token="t" data-id="i">`)}, true},
		{answer{status: 200, body: []byte(`{"seats":{}}`)}, false},
		{answer{status: 502}, false},
	} {
		if got := refused(tc.a); got != tc.want {
			t.Errorf("refused(%d %s) = %v", tc.a.status, tc.a.body, got)
		}
	}
}

func TestForgery(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	real := "eyJhbGciOiJFZERTQSJ9.eyJraW5kIjoidGlja2V0In0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"
	for n := range 8 {
		name, tok := forgery(n, real, "demo", rng)
		if name != "usher_pass_demo" && name != "usher_ticket_demo" {
			t.Errorf("forgery %d: cookie %q", n, name)
		}
		if tok == real || strings.Count(tok, ".") != 2 {
			t.Errorf("forgery %d: %q", n, tok)
		}
		if n%4 == 0 {
			h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var hdr map[string]string
			if json.Unmarshal(h, &hdr) != nil || hdr["alg"] != "none" {
				t.Errorf("forgery %d: header %s", n, h)
			}
		}
		if n%4 >= 2 && len(tok) != len(real) {
			t.Errorf("forgery %d: a tampered token changes length: %q", n, tok)
		}
	}
}

func TestPickPlaces(t *testing.T) {
	av := availabilityJSON{Seats: map[string]string{"s-A1": "a", "s-A2": "a", "s-A3": "s", "s-A4": "h"}}
	av.Zones = map[string]struct {
		Available int `json:"available"`
	}{"floor": {Available: 2}, "gone": {Available: 0}}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		body, ok := pickPlaces(av, "ev", 4, rng)
		if !ok {
			t.Fatal("nothing picked")
		}
		var req struct {
			SeatIDs  []string `json:"seat_ids"`
			ZoneID   string   `json:"zone_id"`
			Quantity int      `json:"quantity"`
		}
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(req.SeatIDs) > 0:
			if !slices.Equal(req.SeatIDs, []string{"s-A1", "s-A2"}) {
				t.Errorf("seats %v: only the free ones, at most what is free", req.SeatIDs)
			}
		case req.ZoneID != "floor" || req.Quantity != 2:
			t.Errorf("zone %q × %d", req.ZoneID, req.Quantity)
		}
	}
	if _, ok := pickPlaces(availabilityJSON{Seats: map[string]string{"x": "s"}}, "ev", 1, rng); ok {
		t.Error("picked from a sold-out event")
	}
}

func TestViolations(t *testing.T) {
	clean := &report.Results{MaxActive: 100, MaxActiveSeen: 100}
	if v := violations(clean); len(v) != 0 {
		t.Errorf("clean run: %v", v)
	}
	bad := &report.Results{Oversold: 1, DoubleCharges: 1, PaidWithoutTickets: 1, TicketsWithoutPayment: 1, MaxActive: 100, MaxActiveSeen: 101}
	v := violations(bad)
	if len(v) != 5 {
		t.Fatalf("want five violations, got %q", v)
	}
	for i, prefix := range []string{"oversold", "double charge", "paid without tickets", "tickets without payment", "admission above max_active"} {
		if !strings.HasPrefix(v[i], prefix) {
			t.Errorf("violation %d: %q, want %s…", i, v[i], prefix)
		}
	}
}

func TestJudgeOrders(t *testing.T) {
	st := &storm{cfg: config{}, events: []string{"ev"}}
	order := func(status string, places []string, tickets int, payments ...string) *placed {
		var o orderJSON
		o.EventID, o.Status = "ev", status
		for _, p := range places {
			o.Items = append(o.Items, struct {
				PlaceID string `json:"place_id"`
			}{p})
		}
		for range tickets {
			o.Tickets = append(o.Tickets, struct {
				TicketID string `json:"ticket_id"`
				EventID  string `json:"event_id"`
				Label    string `json:"label"`
				Void     bool   `json:"void"`
			}{EventID: "ev"})
		}
		for _, s := range payments {
			o.Payments = append(o.Payments, struct {
				PaymentID string `json:"payment_id"`
				Status    string `json:"status"`
			}{Status: s})
		}
		return &placed{last: o}
	}
	st.ledger.add(order("paid", []string{"p1", "p2"}, 2, "succeeded"))
	st.ledger.add(order("paid", []string{"p2"}, 1, "failed", "succeeded", "succeeded")) // p2 again, charged twice
	st.ledger.add(order("paid", []string{"p3"}, 0, "succeeded"))                        // no tickets
	st.ledger.add(order("expired", []string{"p4"}, 1))                                  // a ticket, unpaid
	st.ledger.add(order("pending", []string{"p5"}, 0, "created"))                       // fine
	res := &report.Results{}
	if err := st.judge(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	if res.Oversold != 1 || res.DoubleCharges != 1 || res.PaidWithoutTickets != 1 || res.TicketsWithoutPayment != 1 || len(res.Violations) != 4 {
		t.Errorf("oversold %d, double %d, paid w/o tickets %d, tickets w/o payment %d, violations %q",
			res.Oversold, res.DoubleCharges, res.PaidWithoutTickets, res.TicketsWithoutPayment, res.Violations)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-fans", "-1"}, {"-abandon", "2"}, {"-target", "ftp://x"}, {"-bot-mix", "robots=1"},
		{"-token", "", "-admin", "http://127.0.0.1:1"}, {"stray"}, {"-nope"}, {"-conns", "0"},
	} {
		err := run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := run(t.Context(), []string{"-help"}, func(string) string { return "" }, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestSettingsHideTheToken(t *testing.T) {
	cfg, err := parseFlags([]string{"-token", "s3cret", "-fans", "3"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.settings["token"]; ok || cfg.settings["fans"] != "3" {
		t.Errorf("settings %v", cfg.settings)
	}
}
