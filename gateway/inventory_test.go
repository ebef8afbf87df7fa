package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue/memory"
)

// TestInventory: the room admits no more shoppers than the tickets left can
// serve, and marks itself sold out when none are left and none held.
func TestInventory(t *testing.T) {
	var mu sync.Mutex
	left := map[string]any{"available": 2, "held": 0}
	var auth string
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth = r.Header.Get("Authorization")
		if left == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(left)
	}))
	defer src.Close()
	set := func(v map[string]any) {
		mu.Lock()
		left = v
		mu.Unlock()
	}

	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.Inventory.URL, r.Inventory.TicketsPerShopper = src.URL, 1 }})
	rm := g.routing.Load().rooms["sale"]
	if err := g.readInventory(t.Context(), rm); err != nil {
		t.Fatal(err)
	}
	if c, ok := rm.adm.ShoppersCap(); !ok || c != 2 {
		t.Fatalf("shoppers cap %d %v, want 2", c, ok)
	}
	// An empty room admits at once, up to what two tickets can serve.
	for i := range 2 {
		if resp, body := newBrowser(t).get(g.URL + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
			t.Fatalf("shopper %d: %d %.80q", i+1, resp.StatusCode, body)
		}
	}
	newBrowser(t).join(g)

	// A source that fails leaves the last reading in force.
	set(nil)
	if err := g.readInventory(t.Context(), rm); err == nil {
		t.Error("a failing source read without error")
	}
	if c, _ := rm.adm.ShoppersCap(); c != 2 {
		t.Errorf("shoppers cap after a failed read: %d", c)
	}
	// Nothing available but a place held: not sold out, it may come back.
	set(map[string]any{"available": 0, "held": 1})
	if err := g.readInventory(t.Context(), rm); err != nil {
		t.Fatal(err)
	}
	if s := rm.adm.Policy().State; s != admission.StateOpen {
		t.Errorf("state with a place held: %s", s)
	}
	set(map[string]any{"available": 0, "held": 0})
	if err := g.readInventory(t.Context(), rm); err != nil {
		t.Fatal(err)
	}
	if s := rm.adm.Policy().State; s != admission.StateSoldOut {
		t.Errorf("state with nothing left: %s, want soldout", s)
	}
	entries, err := rm.adm.Audit(t.Context(), 1)
	if err != nil || len(entries) != 1 || entries[0].Who != "inventory" || entries[0].Action != "soldout" {
		t.Errorf("audit: %+v %v", entries, err)
	}
	if resp, body := newBrowser(t).get(g.URL + "/events/1"); resp.StatusCode != 200 || !strings.Contains(body, "sold out") {
		t.Errorf("a newcomer after the sell-out: %d %.200q", resp.StatusCode, body)
	}
	if auth != "" {
		t.Errorf("a token was sent without USHER_INVENTORY_TOKEN: %q", auth)
	}
}

// TestOperatorInventory: an operator says how many tickets are left; the
// room keeps no more shoppers active than they can serve, at two tickets
// a shopper by default.
func TestOperatorInventory(t *testing.T) {
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{Now: clk.Now})})
	rm := g.routing.Load().rooms["sale"]
	_, _, problems, err := rm.adm.Change(t.Context(), admission.Actor{Who: "test", Via: "token"}, "patch", func(p admission.Policy) (admission.Policy, []admission.FieldProblem) {
		return p.Patch([]byte(`{"inventory":2}`), clk.Now())
	})
	if err != nil || len(problems) != 0 {
		t.Fatalf("patch: %v %v", err, problems)
	}
	if resp, body := newBrowser(t).get(g.URL + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Fatalf("the first shopper: %d %.80q", resp.StatusCode, body)
	}
	// Two tickets serve one shopper: the next one waits.
	newBrowser(t).join(g)
}
