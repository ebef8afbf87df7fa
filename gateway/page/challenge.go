package page

import (
	"io"
	"net/url"

	"github.com/usherhq/usher/internal/inlinepage"
)

// challengePages is the challenge page's set: the same style as the other
// pages, its own script, and a policy that lets that script start a worker.
var challengePages = inlinepage.MustParse(assets, inlinepage.Spec{
	Name: "challenge", Style: "assets/page.css", Script: "assets/challenge.js",
	Templates: []string{"assets/head.html", "assets/challenge.html"}, FormAction: "'none'",
	Extra: "worker-src blob:",
})

// ChallengeCSP is the Content-Security-Policy header value to send with the
// challenge page: the policy of CSP(), with the challenge page's script in
// place of the queue page's, plus worker-src blob:. The page solves its
// puzzle in a Web Worker whose source is a blob: URL made from the page's
// own script, since the policy allows no script URL. A blob: worker inherits
// the page's policy: it cannot load scripts or reach another origin either.
func ChallengeCSP() string { return challengePages.CSP }

// Challenge is the page that asks the browser to prove some work before it
// joins a room's queue: find a nonce such that SHA-256(ID + ":" + nonce)
// starts with Bits zero bits, then POST token and nonce to SubmitURL. The
// page reloads itself when the answer is a 2xx; when it is a 429 or a 403
// carrying a new challenge as JSON, {"challenge": {"token", "id", "bits",
// "submit"}}, it solves that one instead; on any other answer it sends the
// solution again, waiting 2 s, 4 s, ... up to 30 s.
type Challenge struct {
	// Room is the room id, e.g. "demo".
	Room string
	// Title names what the visitor queues for, e.g. "Summer Tour 2027
	// on-sale". Empty means "the sale".
	Title string
	// Token is the challenge token, opaque to the page; the page sends it
	// back with the nonce.
	Token string
	// ID is the challenge ID, the puzzle's prefix: base64url, at most 33
	// characters (22 as shield makes them), so that the puzzle fits one
	// SHA-256 block.
	ID string
	// Bits is how many leading zero bits the hash needs. The page treats a
	// value outside 1..32 as the nearest of them.
	Bits int
	// SubmitURL is where the page POSTs the solution, as an escaped path and
	// query on the page's own origin, e.g. "/_usher/challenge?room=demo".
	// Empty means /_usher/challenge for Room.
	SubmitURL string
}

// RenderChallenge writes the challenge page for c to w. It writes nothing if
// the page cannot be rendered.
func RenderChallenge(w io.Writer, c Challenge) error {
	if c.Title == "" {
		c.Title = "the sale"
	}
	if c.SubmitURL == "" {
		c.SubmitURL = "/_usher/challenge?room=" + url.QueryEscape(c.Room)
	}
	return render(w, challengePages, "challenge.html", c)
}
