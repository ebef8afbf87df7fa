package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	queueredis "github.com/usherhq/usher/queue/redis"
)

// TestChangeReachesEveryInstance runs three gateways on one Redis, changes
// the room through one admin listener, and sees all three act on it within
// two seconds.
func TestChangeReachesEveryInstance(t *testing.T) {
	client := redisClient(t)
	prefix := "usher-test:" + randomHex(6) + ":"
	t.Cleanup(func() { deleteKeys(t, client, prefix) })
	type instance struct{ url, admin string }
	var gws []instance
	for range 3 {
		store, err := queueredis.New(client, queueredis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		url, admin, _, _ := runGateway(t, nil, store)
		gws = append(gws, instance{url, admin})
	}
	// An instance answers before it has subscribed to policy changes; a
	// change made before then would reach it only at its next tick.
	waitFor(t, "every instance to watch policy changes", func() bool {
		n, err := client.PubSubNumSub(t.Context(), prefix+"policy-changes").Result()
		return err == nil && n[prefix+"policy-changes"] == 3
	})
	api := func(method, base, path, body string) (int, string) { return adminCall(t, method, base, path, body) }
	room := func(base string) (rate float64, state string) {
		_, body := api("GET", base, "/api/rooms/sale", "")
		var r struct {
			Rate  float64 `json:"rate_per_minute"`
			State string  `json:"state"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		return r.Rate, r.State
	}
	for _, g := range gws {
		waitFor(t, "the instance to start", func() bool { rate, _ := room(g.admin); return rate == 60 })
	}

	check := func(what string, ok func(rate float64, state string) bool) {
		t.Helper()
		start := time.Now()
		for _, g := range gws {
			waitFor(t, what, func() bool { return ok(room(g.admin)) })
		}
		d := time.Since(start)
		t.Logf("%s reached all three instances in %v", what, d)
		if d > 2*time.Second {
			t.Errorf("%s took %v to reach every instance, more than 2s", what, d)
		}
	}
	if code, body := api("PATCH", gws[0].admin, "/api/rooms/sale", `{"rate_per_minute":30}`); code != 200 {
		t.Fatalf("patch: %d %s", code, body)
	}
	check("the new rate", func(rate float64, _ string) bool { return rate == 30 })

	if code, body := api("POST", gws[1].admin, "/api/rooms/sale/pause", ""); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	check("the pause", func(_ float64, state string) bool { return state == "paused" })
	// Acting on it: a newcomer at any instance of a paused room waits,
	// where an open, empty room would have let them in at once.
	for _, g := range gws {
		resp, body := newBrowser(t).get(g.url + "/events/1")
		if resp.StatusCode != 200 || !strings.Contains(body, "paused") {
			t.Errorf("%s: a newcomer was not held: %d %.100q", g.url, resp.StatusCode, body)
		}
	}
}
