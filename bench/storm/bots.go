package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bot behaviours, as -bot-mix names them.
const (
	botFastPoller    = "fast-poller"    // a browser that polls its status as fast as it can
	botCookieDropper = "cookie-dropper" // throws its cookies away and joins again
	botManyPlaces    = "many-places"    // opens many places from one address
	botAutomation    = "automation"     // an HTTP library's User-Agent, no Accept-Language
	botForger        = "forger"         // sends forged and tampered tickets and passes
	botPassSharer    = "pass-sharer"    // gets a pass and hands it to other addresses
	botOrigin        = "origin"         // goes straight to the origin, around the gateway
)

// botKinds lists every behaviour, in the order -bot-mix is read.
var botKinds = []string{botFastPoller, botCookieDropper, botManyPlaces, botAutomation, botForger, botPassSharer, botOrigin}

// Bounds of each bot's attack.
const (
	fastPollEvery   = 20 * time.Millisecond
	dropperJoins    = 30
	manyPlacesCount = 10
	automationTries = 10
	forgeries       = 12
	sharedCopies    = 6
	sharedUses      = 5
	originTries     = 5
	botPause        = 200 * time.Millisecond
)

// botsPerSubnet is how many bots share a /24: a rented server range.
const botsPerSubnet = 20

// botAddr is bot i's source address, in 127.64.0.0/10 and up, apart from
// the fans.
func botAddr(i int) net.IP {
	s := i / botsPerSubnet
	return net.IPv4(127, byte(64+s/256), byte(s%256), byte(2+i%botsPerSubnet))
}

// copyAddr is the address of copy j of bot i's shared pass: a network of
// its own (another /16 for each copy), as a pass sold on.
func copyAddr(i, j int) net.IP {
	return net.IPv4(127, byte(128+j%64), byte(i%256), byte(2+(i/256)%250))
}

// refused says whether an answer stopped a bot: a refusal (401, 403, 429)
// or the queue or challenge page where it wanted the site.
func refused(a answer) bool {
	switch a.status {
	case 401, 403, 429:
		return true
	case 200:
		_, ch := pageChallenge(a.body)
		return ch || isQueuePage(a.body)
	}
	return false
}

// parseMix reads -bot-mix, "kind=weight,...", into a weight per kind.
func parseMix(s string) (map[string]float64, error) {
	mix := map[string]float64{}
	var total float64
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, w, ok := strings.Cut(part, "=")
		if !ok {
			w = "1"
		}
		if !slices.Contains(botKinds, k) {
			return nil, fmt.Errorf("bot mix: unknown behaviour %q (known: %s)", k, strings.Join(botKinds, ", "))
		}
		f, err := strconv.ParseFloat(w, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("bot mix: weight of %s: want a number ≥ 0, got %q", k, w)
		}
		mix[k] = f
		total += f
	}
	if total <= 0 {
		return nil, fmt.Errorf("bot mix %q: no behaviour has a weight", s)
	}
	return mix, nil
}

// assignBots gives each of n bots a behaviour: counts in proportion to the
// weights (largest remainders first), in an order shuffled by rng.
func assignBots(n int, mix map[string]float64, rng *rand.Rand) []string {
	var total float64
	for _, w := range mix {
		total += w
	}
	counts := map[string]int{}
	type rem struct {
		kind string
		frac float64
	}
	var rems []rem
	left := n
	for _, k := range botKinds {
		exact := float64(n) * mix[k] / total
		counts[k] = int(exact)
		left -= counts[k]
		rems = append(rems, rem{k, exact - float64(counts[k])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.frac > b.frac:
			return -1
		case a.frac < b.frac:
			return 1
		}
		return 0
	})
	for i := 0; left > 0; i++ {
		counts[rems[i%len(rems)].kind]++
		left--
	}
	out := make([]string, 0, n)
	for _, k := range botKinds {
		for range counts[k] {
			out = append(out, k)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// botResult is one bot's run.
type botResult struct {
	kind     string
	admitted int // places that became passes
	tickets  int
}

// bot plays bot i of behaviour kind from its arrival time on.
func (st *storm) bot(ctx context.Context, i int, kind string, at time.Duration, rng *rand.Rand) botResult {
	res := botResult{kind: kind}
	if !sleep(ctx, time.Until(st.start.Add(at))) {
		return res
	}
	ev := st.events[rng.IntN(len(st.events))]
	page := "/events/" + url.PathEscape(ev)
	api := "/api/events/" + url.PathEscape(ev) + "/availability"
	shop := shopper{events: st.events, rng: rng, abandon: func(string) bool { return false }, ledger: &st.ledger}

	// queueAndBuy is a browser-like client that waits its turn (polling
	// every pollEvery, or as told when 0) and buys once admitted with shop.
	queueAndBuy := func(c *client, pollEvery time.Duration, shop shopper) (places, tickets int) {
		var v visit
		out := c.join(ctx, page, false, &v, refused)
		if out == queued {
			out = c.wait(ctx, &v, false, pollEvery, refused)
		}
		if out != admitted {
			return 0, 0
		}
		t, _ := c.buy(ctx, shop)
		return 1, t
	}
	add := func(places, tickets int) { res.admitted += places; res.tickets += tickets }

	switch kind {
	case botFastPoller:
		c := newClient(st.env, botAddr(i), browserUA, browserLang, kind)
		defer c.close()
		add(queueAndBuy(c, fastPollEvery, shop))

	case botCookieDropper:
		c := newClient(st.env, botAddr(i), browserUA, browserLang, kind)
		defer c.close()
		for range dropperJoins {
			c.dropCookies()
			var v visit
			if c.join(ctx, page, false, &v, refused) == blocked || !sleep(ctx, botPause) {
				break
			}
		}

	case botManyPlaces:
		// Each place is a tab of its own, with its own choices.
		type got struct{ admitted, tickets int }
		done := make(chan got, manyPlacesCount)
		for range manyPlacesCount {
			c := newClient(st.env, botAddr(i), browserUA, browserLang, kind)
			tab := shop
			tab.rng = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
			go func() {
				defer c.close()
				a, t := queueAndBuy(c, 0, tab)
				done <- got{a, t}
			}()
		}
		for range manyPlacesCount {
			g := <-done
			add(g.admitted, g.tickets)
		}

	case botAutomation:
		c := newClient(st.env, botAddr(i), automationAgents[i%len(automationAgents)], "", kind)
		defer c.close()
		for range automationTries {
			var v visit
			out := c.join(ctx, page, false, &v, refused)
			if out == queued {
				out = c.wait(ctx, &v, false, 0, refused)
			}
			if out == admitted {
				res.admitted++
				t, _ := c.buy(ctx, shop)
				res.tickets += t
				break
			}
			if out == gone || !sleep(ctx, botPause) {
				break
			}
		}

	case botForger:
		c := newClient(st.env, botAddr(i), browserUA, browserLang, kind)
		defer c.close()
		// A real ticket to tamper with: join once, keep it.
		var v visit
		c.join(ctx, page, false, &v, refused)
		real := c.cookie("usher_ticket_" + st.env.room)
		for n := range forgeries {
			c.dropCookies()
			name, tok := forgery(n, real, st.env.room, rng)
			c.setCookie(name, tok)
			if _, err := c.request(ctx, kindProxied, "GET", api, acceptJSON, "", "", nil, refused); err != nil && ctx.Err() != nil {
				break
			}
			if !sleep(ctx, botPause) {
				break
			}
		}

	case botPassSharer:
		c := newClient(st.env, botAddr(i), browserUA, browserLang, kind)
		defer c.close()
		var v visit
		out := c.join(ctx, page, false, &v, refused)
		if out == queued {
			out = c.wait(ctx, &v, false, 0, refused)
		}
		if out != admitted {
			break
		}
		res.admitted++
		pass := c.cookie("usher_pass_" + st.env.room)
		for j := range sharedCopies {
			cp := newClient(st.env, copyAddr(i, j), browserUA, browserLang, kind)
			cp.setCookie("usher_pass_"+st.env.room, pass)
			for range sharedUses {
				if _, err := cp.request(ctx, kindProxied, "GET", api, acceptJSON, "", "", nil, refused); err != nil && ctx.Err() != nil {
					break
				}
			}
			cp.close()
		}
		t, _ := c.buy(ctx, shop)
		res.tickets += t

	case botOrigin:
		if st.cfg.origin == "" {
			break
		}
		c := newClient(st.env, botAddr(i), automationAgents[i%len(automationAgents)], "", kind)
		defer c.close()
		target := strings.TrimRight(st.cfg.origin, "/") + api
		for n := range originTries {
			hdr := map[string]string{}
			if n%2 == 1 {
				_, tok := forgery(1, "", st.env.room, rng)
				hdr["X-Usher-Pass"] = tok
			}
			if _, err := c.request(ctx, kindOrigin, "GET", target, acceptJSON, "", "", hdr, func(a answer) bool { return a.status == 401 || a.status == 403 }); err != nil && ctx.Err() != nil {
				break
			}
		}
	}
	return res
}

// forgery is the n-th forged token of a forger bot: a pass with alg none,
// a pass signed with nothing the gateway knows, or, when the bot has one,
// its real ticket with one byte of the signature flipped (sent as the
// ticket, and as a pass).
func forgery(n int, real, room string, rng *rand.Rand) (cookie, token string) {
	b64 := base64.RawURLEncoding
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"kind": "pass", "aud": room, "sub": fmt.Sprintf("forged%016x", rng.Uint64()), "seq": 1, "iat": now, "exp": now + 600,
	})
	pass := "usher_pass_" + room
	switch n % 4 {
	case 0:
		return pass, b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(claims) + "."
	case 1:
		sig := make([]byte, 64)
		for k := range sig {
			sig[k] = byte(rng.UintN(256))
		}
		return pass, b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"forged"}`)) + "." + b64.EncodeToString(claims) + "." + b64.EncodeToString(sig)
	}
	if real == "" {
		return pass, b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64.EncodeToString(claims) + ".c2lnbmVk"
	}
	tampered := []byte(real)
	// Not the last character: part of its bits are padding, which a
	// lenient decoder ignores.
	k := len(tampered) - 2 - rng.IntN(min(19, len(tampered)-1))
	if tampered[k] == 'A' {
		tampered[k] = 'B'
	} else {
		tampered[k] = 'A'
	}
	if n%4 == 2 {
		return "usher_ticket_" + room, string(tampered)
	}
	return pass, string(tampered)
}
