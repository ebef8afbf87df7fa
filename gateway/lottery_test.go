package gateway

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/lottery"
	"github.com/usherhq/usher/queue/queuetest"
)

// lotteryAnswer is GET /_usher/lottery as a fan's tool reads it.
type lotteryAnswer struct {
	Room         string    `json:"room"`
	OpensAt      time.Time `json:"opens_at"`
	SaleStartsAt time.Time `json:"sale_starts_at"`
	Commitment   string    `json:"commitment"`
	Drawn        bool      `json:"drawn"`
	Seed         string    `json:"seed"`
	LastSeq      int64     `json:"last_seq"`
	Entrants     int       `json:"entrants"`
	Digest       string    `json:"digest"`
	EntrantsURL  string    `json:"entrants_url"`
}

func getLottery(t *testing.T, g *testGateway) lotteryAnswer {
	t.Helper()
	resp, body := newBrowser(t).get(g.URL+"/_usher/lottery?room=sale", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lottery: %d %s", resp.StatusCode, body)
	}
	var a lotteryAnswer
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("lottery %q: %v", body, err)
	}
	return a
}

// TestLottery: two instances on one store publish one commitment before
// the line opens; fans who join in the pre-queue, through either instance,
// learn their entry number and no place; at the start both instances draw
// the same order, reveal the seed that matches the commitment and the list
// of entrants, and every fan's place is what anyone recomputes from them;
// a fan who comes after the draw joins behind every entrant.
func TestLottery(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			keys := newKeys(t)
			origin := newOrigin(t, nil).URL
			opens, starts := queuetest.Start.Add(time.Hour), queuetest.Start.Add(2*time.Hour)
			setup := gatewaySetup{keys: keys, clock: clk, origin: origin, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) {
					r.Mode = "lottery"
					r.OpensAt, r.SaleStartsAt = opens.Format(time.RFC3339), starts.Format(time.RFC3339)
					r.RatePerMinute = 60 // two offers at the first tick, one a second after
				}}
			g1, _ := startGateway(t, setup)
			g2, _ := startGateway(t, setup)

			before := getLottery(t, g1)
			if before.Drawn || before.Seed != "" || len(before.Commitment) != 64 || !before.SaleStartsAt.Equal(starts) {
				t.Fatalf("before the line opens: %+v", before)
			}
			if c := getLottery(t, g2).Commitment; c != before.Commitment {
				t.Fatalf("the instances publish different commitments: %s, %s", before.Commitment, c)
			}

			clk.Add(time.Hour)
			const n = 12
			fans := make([]*browser, n)
			for i := range fans {
				g := []*testGateway{g1, g2}[i%2]
				fans[i] = newBrowser(t)
				resp, body := fans[i].get(g.URL + "/events/1")
				if resp.StatusCode != 200 || !strings.Contains(body, "Your entry number") || !strings.Contains(body, "drawn when the sale starts") {
					t.Fatalf("fan %d in the pre-queue: %d %.400q", i, resp.StatusCode, body)
				}
			}
			g1.tick(t)
			g2.tick(t)
			for i, f := range fans {
				s := f.status(g1)
				if s.State != "prequeue" || s.Position != nil || s.Entry == nil || *s.Entry != int64(i+1) || s.Admitted {
					t.Fatalf("fan %d in the pre-queue: %+v", i, s)
				}
			}
			if a := getLottery(t, g2); a.Drawn {
				t.Fatalf("drawn before the sale: %+v", a)
			}

			// The sale starts; the instances draw at their first tick past
			// the settling second.
			clk.Add(time.Hour + 2*time.Second)
			g1.tick(t)
			g2.tick(t)
			a1, a2 := getLottery(t, g1), getLottery(t, g2)
			if !a1.Drawn || a1.Seed != a2.Seed || a1.Digest != a2.Digest || a1.Entrants != n || a1.LastSeq != n {
				t.Fatalf("the draw: %+v and %+v", a1, a2)
			}
			if a1.Commitment != before.Commitment {
				t.Fatalf("commitment changed from %s to %s", before.Commitment, a1.Commitment)
			}
			resp, list := newBrowser(t).get(g2.URL + a1.EntrantsURL)
			if resp.StatusCode != 200 {
				t.Fatalf("entrants: %d %s", resp.StatusCode, list)
			}
			entrants, err := lottery.Read(strings.NewReader(list))
			if err != nil {
				t.Fatal(err)
			}
			seed, err := hex.DecodeString(a1.Seed)
			if err != nil {
				t.Fatal(err)
			}
			if err := lottery.Check(before.Commitment, seed, a1.Digest, entrants); err != nil {
				t.Fatal(err)
			}
			order := lottery.Draw(seed, a1.LastSeq, entrants)

			late := newBrowser(t)
			late.join(g1)
			served := g2.ctrl.Room("sale").View().Served
			if served < 1 || served >= n {
				t.Fatalf("served %d after the first tick of the sale; the test wants some offered, not all", served)
			}
			identity := true
			for i, f := range fans {
				place := order.Place(int64(i + 1))
				identity = identity && place == int64(i+1)
				s := f.status([]*testGateway{g1, g2}[i%2])
				switch {
				case place <= served && !s.Admitted:
					t.Errorf("fan %d, place %d of %d offered, not admitted: %+v", i, place, served, s)
				case place > served && (s.Admitted || s.position(t) != place-served):
					t.Errorf("fan %d, place %d, %d offered: %+v, want position %d", i, place, served, s, place-served)
				}
			}
			if identity {
				t.Error("the draw kept arrival order")
			}
			if s := late.status(g2); s.position(t) != n+1-served || *s.Entry != n+1 {
				t.Errorf("a fan after the draw: %+v, want place %d", s, n+1)
			}
		})
	}
}

// TestLotteryMissing: rooms without a lottery say so.
func TestLotteryMissing(t *testing.T) {
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), origin: newOrigin(t, nil).URL, store: storeKinds(t)[0].open(t, time.Now)})
	b := newBrowser(t)
	for _, path := range []string{"/_usher/lottery?room=sale", "/_usher/lottery/entrants?room=sale"} {
		if resp, body := b.get(g.URL+path, "Accept", "application/json"); resp.StatusCode != 404 || !strings.Contains(body, "no lottery") && !strings.Contains(body, "not drawn") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := b.get(g.URL + "/_usher/lottery?room=nowhere"); resp.StatusCode != 404 {
		t.Errorf("unknown room: %d", resp.StatusCode)
	}
}
