package main

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/usherhq/usher/gateway/shield"
)

// outcome is where a client stands in the waiting room.
type outcome int

const (
	queued     outcome = iota // holds a ticket, waits for its turn
	admitted                  // holds a pass
	challenged                // was asked to solve a challenge and did not
	blocked                   // refused with 403
	gone                      // the room closed or sold out, or the run ended
)

// Bounds on every loop, beside the run's deadline.
const (
	maxJoinTries   = 20
	maxPolls       = 2000
	maxSolveTries  = 3
	solveBudget    = 1 << 26 // nonces tried per challenge: 2^22 bits need ~4M
	defaultBackoff = time.Second
	minPoll        = 250 * time.Millisecond
)

var (
	attrToken = regexp.MustCompile(`data-token="([^"]*)"`)
	attrID    = regexp.MustCompile(`data-id="([^"]*)"`)
	attrBits  = regexp.MustCompile(`data-bits="(\d+)"`)
	attrPoll  = regexp.MustCompile(`data-poll-ms="(\d+)"`)
	attrURL   = regexp.MustCompile(`data-submit-url="([^"]*)"`)
)

// challengeJSON is a challenge as the gateway hands it out, in JSON or in
// the challenge page's attributes.
type challengeJSON struct {
	Token  string `json:"token"`
	ID     string `json:"id"`
	Bits   int    `json:"bits"`
	Submit string `json:"submit"`
}

// statusJSON is the answer of /_usher/status, or a 429 carrying a challenge.
type statusJSON struct {
	State       string         `json:"state"`
	Position    *int64         `json:"position"`
	Admitted    bool           `json:"admitted"`
	PollAfterMs int            `json:"poll_after_ms"`
	Challenge   *challengeJSON `json:"challenge"`
}

// visit is one client's way through the line: what it saw.
type visit struct {
	joinedAt, admittedAt time.Time
	challenges           int
	pollMs               int // the last poll_after_ms (or the queue page's data-poll-ms)
}

// pageChallenge reads the challenge out of a challenge page, if it is one.
func pageChallenge(body []byte) (challengeJSON, bool) {
	if !strings.Contains(string(body), `id="challenge"`) {
		return challengeJSON{}, false
	}
	get := func(re *regexp.Regexp) string {
		if m := re.FindSubmatch(body); m != nil {
			return string(m[1])
		}
		return ""
	}
	bits, _ := strconv.Atoi(get(attrBits))
	ch := challengeJSON{Token: get(attrToken), ID: get(attrID), Bits: bits, Submit: strings.ReplaceAll(get(attrURL), "&amp;", "&")}
	return ch, ch.Token != "" && ch.ID != ""
}

// isQueuePage says whether an HTML answer is the queue page.
func isQueuePage(body []byte) bool { return strings.Contains(string(body), `id="queue"`) }

// join asks for a protected page as a browser opening it: a place in line,
// a challenge (solved when solve is set, as a browser with JavaScript
// does), a refusal, or the page itself when admitted at once. stopped
// judges a bot's requests.
func (c *client) join(ctx context.Context, path string, solve bool, v *visit, stopped func(answer) bool) outcome {
	for range maxJoinTries {
		a, err := c.request(ctx, kindJoin, "GET", path, acceptHTML, "", "", nil, stopped)
		if err != nil {
			if ctx.Err() != nil || !sleep(ctx, defaultBackoff) {
				return gone
			}
			continue
		}
		switch {
		case a.status == 403:
			return blocked
		case a.status == 429 || a.status >= 500:
			if !sleep(ctx, max(a.retryAfter(defaultBackoff), minPoll)) {
				return gone
			}
			continue
		case a.status != 200:
			return gone
		}
		if ch, ok := pageChallenge(a.body); ok {
			v.challenges++
			if !solve {
				return challenged
			}
			return c.solve(ctx, ch, v)
		}
		v.joinedAt = time.Now()
		if isQueuePage(a.body) {
			c.env.rec.placeGiven(v.joinedAt)
			if m := attrPoll.FindSubmatch(a.body); m != nil {
				v.pollMs, _ = strconv.Atoi(string(m[1]))
			}
			return queued
		}
		// The page itself: admitted on the spot.
		c.env.rec.placeGiven(v.joinedAt)
		v.admittedAt = v.joinedAt
		return admitted
	}
	return gone
}

// solve finds the challenge's nonce and posts it, as the challenge page
// does; a refused solution comes back with a fresh challenge, tried again
// a few times.
func (c *client) solve(ctx context.Context, ch challengeJSON, v *visit) outcome {
	for range maxSolveTries {
		nonce, ok := shield.Solve(shield.Challenge{ID: ch.ID, Bits: ch.Bits}, solveBudget)
		if !ok {
			return challenged
		}
		submit := ch.Submit
		if submit == "" {
			submit = "/_usher/challenge?room=" + url.QueryEscape(c.env.room)
		}
		form := "token=" + url.QueryEscape(ch.Token) + "&nonce=" + nonce
		a, err := c.request(ctx, kindChallenge, "POST", submit, acceptJSON, "application/x-www-form-urlencoded", form, nil, nil)
		if err != nil {
			return gone
		}
		var st statusJSON
		_ = json.Unmarshal(a.body, &st)
		switch {
		case a.status == 200:
			v.joinedAt = time.Now()
			c.env.rec.placeGiven(v.joinedAt)
			v.pollMs = st.PollAfterMs
			if st.Admitted {
				v.admittedAt = v.joinedAt
				return admitted
			}
			return queued
		case a.status == 403 && st.Challenge != nil:
			ch = *st.Challenge
			v.challenges++
		default:
			return blocked
		}
	}
	return challenged
}

// wait polls the status until the client is admitted, obeying
// poll_after_ms and Retry-After unless pollEvery is set (a bot polling as
// fast as it can). A challenge on the way is solved when solve is set.
func (c *client) wait(ctx context.Context, v *visit, solve bool, pollEvery time.Duration, stopped func(answer) bool) outcome {
	statusURL := "/_usher/status?room=" + url.QueryEscape(c.env.room)
	pause := time.Duration(v.pollMs) * time.Millisecond
	for range maxPolls {
		if pollEvery > 0 {
			pause = pollEvery
		}
		if !sleep(ctx, pause) {
			return gone
		}
		a, err := c.request(ctx, kindStatus, "GET", statusURL, acceptJSON, "", "", nil, stopped)
		if err != nil {
			if ctx.Err() != nil {
				return gone
			}
			pause = defaultBackoff
			continue
		}
		var st statusJSON
		_ = json.Unmarshal(a.body, &st)
		switch {
		case a.status == 200 && st.Admitted:
			v.admittedAt = time.Now()
			return admitted
		case a.status == 200 && (st.State == "soldout" || st.State == "closed"):
			return gone
		case a.status == 200 && st.Position == nil:
			// No valid ticket any more: the line lost this client.
			return gone
		case a.status == 200:
			pause = max(time.Duration(st.PollAfterMs)*time.Millisecond, minPoll)
		case a.status == 429 && st.Challenge != nil:
			v.challenges++
			if !solve {
				return challenged
			}
			switch o := c.solve(ctx, *st.Challenge, v); o {
			case admitted:
				return admitted
			case queued:
				pause = max(time.Duration(v.pollMs)*time.Millisecond, minPoll)
			default:
				return o
			}
		case a.status == 429 || a.status >= 500:
			pause = max(a.retryAfter(defaultBackoff), minPoll)
		case a.status == 403:
			return blocked
		default:
			return gone
		}
	}
	return gone
}
