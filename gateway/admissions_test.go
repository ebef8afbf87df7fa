package gateway

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admissionlog"
)

// TestAdmissionLog: two instances admit a line between them, at once and
// in batches; both then publish the same head, and the published records
// cover every place offered, in order, with the rate in force, and chain to
// that head.
func TestAdmissionLog(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			setup := gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.RatePerMinute = 120 }}
			g1, _ := startGateway(t, setup)
			g2, _ := startGateway(t, setup)
			gws := []*testGateway{g1, g2}
			for i := range 12 {
				b := newBrowser(t)
				if resp, _ := b.get(gws[i%2].URL + "/events/1"); resp.StatusCode != 200 {
					t.Fatalf("join %d: %d", i, resp.StatusCode)
				}
			}
			for range 10 {
				clk.Add(time.Second)
				g1.tick(t)
				g2.tick(t)
			}
			served := g2.ctrl.Room("sale").View().Served
			if served != 12 {
				t.Fatalf("served %d of 12 after 10 s at 120 a minute", served)
			}
			// Past the instances' next reading of the log.
			clk.Add(11 * time.Second)
			g1.tick(t)
			g2.tick(t)

			var heads []admissionsJSON
			for _, g := range gws {
				resp, body := newBrowser(t).get(g.URL+"/_usher/admissions?room=sale", "Accept", "application/json")
				var a admissionsJSON
				if err := json.Unmarshal([]byte(body), &a); resp.StatusCode != 200 || err != nil {
					t.Fatalf("admissions: %d %s", resp.StatusCode, body)
				}
				heads = append(heads, a)
			}
			if heads[0] != heads[1] || heads[0].Through != served || heads[0].Gaps != 0 || heads[0].Entries < 2 {
				t.Fatalf("heads %+v, %+v; want both through place %d", heads[0], heads[1], served)
			}
			resp, body := newBrowser(t).get(g1.URL + heads[0].LogURL)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("log: %d %s", resp.StatusCode, body)
			}
			records, err := admissionlog.Read(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			next := int64(1)
			for _, r := range records {
				if r.From != next || r.RatePerMinute != 120 || r.MaxActive != 1000 {
					t.Errorf("record %q: want places from %d at 120 a minute, 1000 at most", r.Line(), next)
				}
				next = r.To + 1
			}
			replayed := admissionlog.Replay("sale", records)
			if got := hex.EncodeToString(replayed[len(replayed)-1][:]); got != heads[0].Head {
				t.Errorf("the log replays to %s, the published head is %s", got, heads[0].Head)
			}
			if g := admissionlog.Genesis("sale"); hex.EncodeToString(g[:]) != heads[0].Genesis {
				t.Errorf("genesis %s", heads[0].Genesis)
			}
		})
	}
}
