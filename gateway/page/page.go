// Package page renders the pages that the gateway serves itself: the queue
// page that a visitor without a pass sees on a protected URL, the challenge
// page that asks a suspicious visitor's browser to prove some work before it
// joins the queue, and the gateway's own error pages.
//
// Every page is self-contained: one inline style and, on the queue and
// challenge pages, one inline script, with no request to the origin or to
// anyone else. The style and the scripts are the same bytes for every
// visitor (the scripts read their figures from data-* attributes), so CSP
// can allow them by hash and forbid everything else. Send CSP() as the
// Content-Security-Policy header with the queue and error pages, and
// ChallengeCSP() with the challenge page.
//
// The templates are parsed once, when the package is loaded; rendering only
// executes them.
package page

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usherhq/usher/internal/inlinepage"
)

// DefaultPollAfter is how long the queue page waits between status polls
// when Queue.PollAfter is not positive.
const DefaultPollAfter = 5 * time.Second

//go:embed assets
var assets embed.FS

var pages = inlinepage.MustParse(assets, inlinepage.Spec{
	Name: "page", Style: "assets/page.css", Script: "assets/queue.js",
	Templates: []string{"assets/head.html", "assets/queue.html", "assets/error.html"}, FormAction: "'none'",
})

// CSP is the Content-Security-Policy header value to send with the queue
// and error pages. It forbids everything but the pages' own inline script and
// style (allowed by their SHA-256 hashes, computed once from the exact bytes
// the pages carry), status polls to the page's own origin (connect-src
// 'self') and data: images; it also forbids <base>, form submissions and
// framing, so the queue page cannot be embedded by another site.
func CSP() string { return pages.CSP }

// Queue is what the queue page shows when it is first served; the page then
// keeps itself up to date by polling StatusURL.
type Queue struct {
	// Room is the room id, e.g. "demo". The page keeps its progress and its
	// cookie check in browser storage per room.
	Room string
	// Title names what the visitor queues for, e.g. "Summer Tour 2027
	// on-sale". Empty means "the sale".
	Title string
	// State is the room's state: "open" or "paused"; "soldout" and "closed"
	// tell the visitor the sale is over. Empty means "open".
	State string
	// Position is the visitor's place in line, 1 being next; 0 when unknown.
	Position int64
	// Ahead is how many visitors are ahead; shown only when Position is known.
	Ahead int64
	// ETASeconds is the estimated wait in seconds; negative when unknown
	// (e.g. paused), and then the page shows no estimate.
	ETASeconds int64
	// ETARange is the range of the wait around ETASeconds, in seconds,
	// which the page shows when it holds ETASeconds; otherwise the page
	// shows ETASeconds alone.
	ETARange [2]int64
	// PollAfter is how long the page waits before it asks StatusURL again;
	// not positive means DefaultPollAfter. Without JavaScript the page
	// reloads itself after it instead, rounded up to whole seconds.
	PollAfter time.Duration
	// StatusURL is the status endpoint as an escaped path and query, e.g.
	// "/_usher/status?room=demo". Empty means /_usher/status for Room.
	StatusURL string
	// OpensAt is when the line opens, shown in the "scheduled" state;
	// StartsAt when the sale starts, shown in the "prequeue" state. The page
	// writes them in the visitor's time zone (in UTC without JavaScript).
	OpensAt, StartsAt time.Time
	// Entry, in a lottery room, is the visitor's arrival number, which the
	// draw is checked with; 0 elsewhere. Position is 0 until the draw.
	Entry int64
	// LotteryURL is where the room publishes its draw (a lottery room
	// only).
	LotteryURL string
	// SoldOutLikely: the tickets left will likely be gone before the
	// visitor's turn; the page says so, and that the place is kept.
	SoldOutLikely bool
	// Holding: the line cannot move for now (the queue store does not
	// answer); the page asks the visitor to hold on.
	Holding bool
}

// Error is a page for a request the gateway could not serve.
type Error struct {
	// Status is the HTTP status code the page goes with: 502, 503, 504,
	// 404, ... Values outside 400-599 are shown as 500.
	Status int
	// Title is the page's heading. Empty means a plain one for Status.
	Title string
	// Message says what happened, in a sentence or two. Empty means a plain
	// one for Status.
	Message string
	// RetryAfter, when positive, makes the page load itself again after it
	// (a meta refresh, rounded up to whole seconds) and say so. 0 means the
	// page does not retry by itself.
	RetryAfter time.Duration
}

// queueView is Queue as the template uses it: every figure already in
// words. It copies fields rather than embedding Queue, because the template
// engine finds a promoted field by a slow search on every use.
type queueView struct {
	Room          string
	Title         string
	State         string
	StatusURL     string
	Position      int64
	Ahead         int64
	ETASeconds    int64
	ETALow        int64
	ETAHigh       int64
	Class         string
	PollMS        int64
	Refresh       int64
	PositionText  string
	AheadText     string
	Wait          string
	Notice        string
	Stopped       bool
	Entry         int64
	EntryText     string
	SoldOutLikely bool
	Holding       bool
	LotteryURL    string
	// At is the time the notice speaks of (RFC 3339), for the script to
	// write in the visitor's time zone.
	At string
}

// errorView is Error as the template uses it.
type errorView struct {
	Status    int
	Title     string
	Message   string
	Refresh   int64
	RetryText string
	Retry     bool
}

// RenderQueue writes the queue page for q to w. It writes nothing if the
// page cannot be rendered.
func RenderQueue(w io.Writer, q Queue) error {
	return render(w, pages, "queue.html", newQueueView(q))
}

// RenderError writes the error page for e to w. It writes nothing if the
// page cannot be rendered.
func RenderError(w io.Writer, e Error) error {
	return render(w, pages, "error.html", newErrorView(e))
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a template into a buffer first, so that a failure never
// leaves half a page on the wire, and the page goes out in one write.
func render(w io.Writer, set *inlinepage.Set, name string, data any) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := set.Template.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func newQueueView(q Queue) queueView {
	if q.Title == "" {
		q.Title = "the sale"
	}
	if q.State == "" {
		q.State = "open"
	}
	if q.StatusURL == "" {
		q.StatusURL = "/_usher/status?room=" + url.QueryEscape(q.Room)
	}
	if q.PollAfter <= 0 {
		q.PollAfter = DefaultPollAfter
	}
	if q.Position < 0 {
		q.Position = 0
	}
	if q.Ahead < 0 {
		q.Ahead = 0
	}
	if q.ETASeconds < 0 {
		q.ETASeconds = -1
	}
	v := queueView{
		Room:          q.Room,
		Title:         q.Title,
		State:         q.State,
		StatusURL:     q.StatusURL,
		Position:      q.Position,
		Ahead:         q.Ahead,
		ETASeconds:    q.ETASeconds,
		ETALow:        -1,
		ETAHigh:       -1,
		Class:         "card",
		PollMS:        q.PollAfter.Milliseconds(),
		Wait:          rangeText(q.ETASeconds, q.ETARange),
		Notice:        notice(q.State),
		Entry:         max(q.Entry, 0),
		SoldOutLikely: q.SoldOutLikely && q.State == "open",
		LotteryURL:    q.LotteryURL,
	}
	if r := q.ETARange; q.ETASeconds >= 0 && r[0] >= 0 && r[0] <= q.ETASeconds && r[1] >= q.ETASeconds {
		v.ETALow, v.ETAHigh = r[0], r[1]
	}
	if q.SoldOutLikely && q.State == "open" {
		v.Notice = soldOutLikelyNotice
	}
	if q.Holding {
		v.Notice = holdingNotice
		v.Holding = true
	}
	if v.Entry > 0 {
		v.EntryText = group(v.Entry)
	}
	switch at := map[string]time.Time{"scheduled": q.OpensAt, "prequeue": q.StartsAt}[q.State]; {
	case q.State == "scheduled":
		v.Notice = "The line opens " + whenText(at) + ". Keep this page open: it lets you in by itself."
		v.At = rfc3339(at)
	case q.State == "prequeue" && v.Entry > 0:
		v.Notice = "The sale starts " + whenText(at) + ". " + lotteryNotice
		v.At = rfc3339(at)
	case q.State == "prequeue":
		v.Notice = "The sale starts " + whenText(at) + ". You keep your place in line until then."
		v.At = rfc3339(at)
	}
	if q.Position > 0 {
		v.PositionText = group(q.Position)
		v.AheadText = aheadText(q.Ahead)
	}
	switch q.State {
	case "paused":
		v.Class += " paused"
	case "soldout", "closed":
		// The sale is over: nothing to poll for, and nothing to reload for.
		v.Class += " stopped"
		v.Stopped = true
		return v
	}
	v.Refresh = ceilSeconds(q.PollAfter)
	return v
}

func newErrorView(e Error) errorView {
	if e.Status < 400 || e.Status > 599 {
		e.Status = 500
	}
	title, message := errorText(e.Status)
	if e.Title == "" {
		e.Title = title
	}
	if e.Message == "" {
		e.Message = message
	}
	v := errorView{Status: e.Status, Title: e.Title, Message: e.Message, Retry: e.Status >= 500}
	if e.RetryAfter > 0 {
		v.Refresh = ceilSeconds(e.RetryAfter)
		v.RetryText = delayText(v.Refresh)
		v.Retry = true
	}
	return v
}

// errorText is the plain title and message for a status code.
func errorText(status int) (title, message string) {
	switch status {
	case 404:
		return "Page not found", "There is nothing at this address."
	case 429:
		return "Too many requests", "Too many requests came from your connection. Please wait a moment."
	case 502:
		return "The site is not answering", "We could not reach the site just now."
	case 503:
		return "The site is busy", "Many people are trying to get in right now."
	case 504:
		return "The site is slow to answer", "The site took too long to answer."
	}
	if status >= 500 {
		return "Something went wrong", "Something went wrong on our side."
	}
	return "This request cannot be served", "The site could not serve this request."
}

// notice is the sentence the queue page shows for a room state, if any.
func notice(state string) string {
	switch state {
	case "paused":
		return "The sale is paused for a moment. You keep your place."
	case "soldout":
		return "This sale is sold out. Thank you for waiting."
	case "closed":
		return "This sale has ended."
	}
	return ""
}

// holdingNotice tells a waiting visitor that the line is stuck for a
// moment; the script says the same.
const holdingNotice = "We cannot move the line right now. Hold on: you keep your place, and it moves again by itself."

// soldOutLikelyNotice warns a visitor whose turn will likely come after the
// last ticket; the script says the same.
const soldOutLikelyNotice = "At the pace tickets are selling, they will likely be gone before your turn. You keep your place in case more are released."

// lotteryNotice tells a visitor who joined a lottery before the sale what
// happens at the start; the script says the same.
const lotteryNotice = "Everyone in line before then gets a random place in a draw at the start, so there is no need to hurry."

// whenText writes a time for a notice, in UTC: "on Tue 1 Jun at 09:00
// UTC", or "soon" for the zero time.
func whenText(t time.Time) string {
	if t.IsZero() {
		return "soon"
	}
	return t.UTC().Format("on Mon 2 Jan at 15:04 MST")
}

// rfc3339 is t for the page's script, "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// group writes n with a comma between thousands: 1234567 is "1,234,567".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign, digits := "", s
	if n < 0 {
		sign, digits = "-", s[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(digits[i])
	}
	return b.String()
}

// plural is n with its noun: "1 minute", "2 minutes".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return group(n) + " " + many
}

// aheadText is the sentence for the number of visitors ahead.
func aheadText(n int64) string {
	switch n {
	case 0:
		return "Nobody is ahead of you."
	case 1:
		return "1 person is ahead of you."
	}
	return group(n) + " people are ahead of you."
}

// waitText puts an estimated wait in words: to the nearest minute under an
// hour, to the nearest five minutes above, since an estimate is no more
// precise than that. Negative means unknown and gives "". The page's script
// has the same rules, so its first update does not reword the estimate.
func waitText(seconds int64) string {
	if seconds < 0 {
		return ""
	}
	if seconds < 60 {
		return "less than a minute"
	}
	if m := (seconds + 30) / 60; m < 60 {
		return "about " + plural(m, "minute", "minutes")
	}
	m := (seconds + 150) / 300 * 5
	h, m := m/60, m%60
	if h >= 24 {
		return "more than a day"
	}
	text := "about " + plural(h, "hour", "hours")
	if m > 0 {
		text += " " + plural(m, "minute", "minutes")
	}
	return text
}

// rangeText puts a wait's range in words, "12–18 minutes", or the middle
// as waitText does when there is no range. The script says the same.
func rangeText(mid int64, r [2]int64) string {
	low, high := r[0], r[1]
	switch {
	case mid < 0:
		return ""
	case low < 0 || low > mid || high < mid:
		return waitText(mid)
	case high < 60:
		return "less than a minute"
	case high < 90*60:
		lo := max(1, low/60)
		hi := max(lo+1, (high+59)/60)
		return strconv.FormatInt(lo, 10) + "–" + strconv.FormatInt(hi, 10) + " minutes"
	case high < 24*3600:
		// In half hours: the width of a range this long hides the minutes.
		lo, hi := low/1800, (high+1799)/1800
		if hi <= lo {
			hi = lo + 1
		}
		return halfHours(lo) + "–" + halfHours(hi) + " hours"
	}
	return "more than a day"
}

// halfHours writes n half hours: "1", "1½".
func halfHours(n int64) string {
	s := strconv.FormatInt(n/2, 10)
	if n%2 == 1 {
		s += "½"
	}
	return s
}

// delayText puts a retry delay in whole seconds in words.
func delayText(seconds int64) string {
	if seconds < 60 {
		return plural(seconds, "second", "seconds")
	}
	return "about " + plural((seconds+30)/60, "minute", "minutes")
}
