package page

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/usherhq/usher/gateway/shield"
	"github.com/usherhq/usher/internal/browsertest"
)

const (
	siteRoom    = "demo"
	siteVisitor = "Vb3mZ0q9xH2kLwE5tYc1Aa"
	siteBits    = 14
	submitPath  = "/_usher/challenge?room=" + siteRoom
)

// challengeSite is the part of a gateway the challenge page talks to: it
// serves the page until a solution is accepted, and then a page that says
// "joined". Its clock stands still at now, so that no challenge expires
// during the test however slow the machine.
type challengeSite struct {
	t   *testing.T
	c   *shield.Challenger
	now time.Time
	// retry makes the site answer the first valid solution with 429 and a
	// new challenge, as a gateway does when it wants more work.
	retry bool
	// fail makes the site answer the first valid solution with 503, as a
	// gateway whose store is down does, without spending it.
	fail bool

	posted   chan struct{} // a solution was accepted; the answer waits for release
	failed   chan string   // the page sent something the site rejected
	released chan struct{}
	once     sync.Once

	mu      sync.Mutex
	spent   map[string]bool
	solved  []shield.Challenge // accepted solutions, in order
	headers []http.Header      // of every POST
	joined  bool
}

func newChallengeSite(t *testing.T, retry, fail bool) (*challengeSite, *httptest.Server) {
	c, err := shield.NewChallenger([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := &challengeSite{
		t: t, c: c, now: time.Now(), retry: retry, fail: fail,
		posted:   make(chan struct{}, 1),
		failed:   make(chan string, 10),
		released: make(chan struct{}),
		spent:    map[string]bool{},
	}
	srv := httptest.NewServer(s) // on 127.0.0.1
	t.Cleanup(srv.Close)
	// Runs before srv.Close, so that a held answer does not hold Close.
	t.Cleanup(s.release)
	return s, srv
}

// release lets the held answer to the solution go.
func (s *challengeSite) release() { s.once.Do(func() { close(s.released) }) }

func (s *challengeSite) challenge() shield.Challenge {
	return shield.NewChallenge(siteRoom, siteVisitor, siteBits, s.now.Add(10*time.Minute))
}

func (s *challengeSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		s.servePage(w)
	case r.Method == http.MethodPost && r.URL.Path == "/_usher/challenge" && r.URL.Query().Get("room") == siteRoom:
		s.serveSolution(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *challengeSite) servePage(w http.ResponseWriter) {
	s.mu.Lock()
	joined := s.joined
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if joined {
		fmt.Fprint(w, "<!doctype html><title>Queue</title><p id=joined>joined</p>")
		return
	}
	ch := s.challenge()
	w.Header().Set("Content-Security-Policy", ChallengeCSP())
	err := RenderChallenge(w, Challenge{
		Room: siteRoom, Title: "Test sale", Token: s.c.Token(ch), ID: ch.ID, Bits: ch.Bits, SubmitURL: submitPath,
	})
	if err != nil {
		s.failed <- err.Error()
	}
}

func (s *challengeSite) serveSolution(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		s.reject(w, "form: "+err.Error())
		return
	}
	ch, err := s.c.Verify(r.PostForm.Get("token"), r.PostForm.Get("nonce"), siteRoom, siteVisitor, s.now)
	if err != nil {
		s.reject(w, fmt.Sprintf("nonce %q: %v", r.PostForm.Get("nonce"), err))
		return
	}
	s.mu.Lock()
	if s.fail {
		s.fail = false
		s.mu.Unlock()
		http.Error(w, "store down", http.StatusServiceUnavailable)
		return
	}
	if s.spent[ch.ID] {
		s.mu.Unlock()
		s.reject(w, "a solution sent twice")
		return
	}
	s.spent[ch.ID] = true
	s.solved = append(s.solved, ch)
	more := s.retry && len(s.solved) == 1
	s.mu.Unlock()

	if more {
		next := s.challenge()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"challenge": map[string]any{
			"token": s.c.Token(next), "id": next.ID, "bits": next.Bits, "submit": submitPath,
		}})
		return
	}
	// Hold the answer until the test has looked at the solved page.
	s.posted <- struct{}{}
	select {
	case <-s.released:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.joined = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *challengeSite) reject(w http.ResponseWriter, why string) {
	s.failed <- why
	http.Error(w, why, http.StatusBadRequest)
}

// statusLog records every text of the page's status region, in order, in
// window.statuses. DevTools runs it before the page's script, outside the
// page's CSP.
const statusLog = `window.statuses = [];
new MutationObserver(function (records) {
  records.forEach(function (r) {
    if (r.target.id !== "status") return;
    r.addedNodes.forEach(function (n) { window.statuses.push(n.textContent); });
  });
}).observe(document, { childList: true, subtree: true });`

// TestChallengeInBrowser solves the challenge page in chromium under its
// own CSP, against a site that checks the solution with shield: in a worker,
// again after a 429 that brings a new challenge, again after a 503, and on
// the page itself where there is no Worker.
func TestChallengeInBrowser(t *testing.T) {
	const (
		checking = "Checking your browser…"
		done     = "Done. Joining the line…"
	)
	tests := []struct {
		name     string
		retry    bool
		fail     bool
		noWorker bool
		solver   string   // where the page solved: "worker" or "page"
		statuses []string // what the status region said, up to the last POST
	}{
		{name: "worker", solver: "worker", statuses: []string{checking, done}},
		{
			name: "new challenge after 429", retry: true, solver: "worker",
			statuses: []string{checking, done, "One more check, a few seconds more…", done},
		},
		{
			// The one case here that waits on the real clock: the page's
			// first retry comes after 1.6 to 2 s.
			name: "retry after 503", fail: true, solver: "worker",
			statuses: []string{checking, done, "We could not finish the check just now. Trying again in 2 seconds.", "Trying again…"},
		},
		{name: "no worker", noWorker: true, solver: "page", statuses: []string{checking, done}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site, srv := newChallengeSite(t, tt.retry, tt.fail)
			b := browsertest.New(t, 390, 844)
			ctx, cancel := context.WithTimeout(b.Context(), 60*time.Second)
			defer cancel()

			// Every exception and every CSP violation is a failure.
			var mu sync.Mutex
			var problems []string
			if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
				t.Fatal(err)
			}
			err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch ev := ev.(type) {
				case *runtime.EventExceptionThrown:
					problems = append(problems, "exception: "+ev.ExceptionDetails.Text+" "+exceptionText(ev.ExceptionDetails))
				case *log.EventEntryAdded:
					if e := ev.Entry; e != nil && (strings.Contains(e.Text, "Content Security Policy") || e.Source == log.EntrySourceSecurity) {
						problems = append(problems, "log: "+e.Text)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			before := statusLog
			if tt.noWorker {
				before += "\nwindow.Worker = undefined;"
			}
			_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: before})
			if err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
				t.Fatal(err)
			}

			select {
			case <-site.posted:
			case why := <-site.failed:
				t.Fatalf("the site rejected what the page sent: %s", why)
			case <-ctx.Done():
				t.Fatal("the page sent no valid solution within 60 s")
			}
			// The answer is held: the page shows the solved state.
			type view struct {
				Solver, Title string
				Progress      float64
				Statuses      []string
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[view](`({
				Solver: document.getElementById("challenge").dataset.solver || "",
				Title: document.title,
				Progress: document.getElementById("progress").value,
				Statuses: window.statuses
			})`))
			if err != nil {
				t.Fatal(err)
			}
			if got.Solver != tt.solver || got.Title != "Waiting room: Test sale" || got.Progress != 100 {
				t.Errorf("solved page: solver %q, title %q, progress %v; want %q, %q, 100",
					got.Solver, got.Title, got.Progress, tt.solver, "Waiting room: Test sale")
			}
			if !slices.Equal(got.Statuses, tt.statuses) {
				t.Errorf("the status region said %q, want %q", got.Statuses, tt.statuses)
			}
			if tt.name == "worker" {
				b.Screenshot("challenge-solved")
			}
			// The page reloads once the answer comes: wait for that load.
			loads := chromedp.Events(ctx, page.LoadEventFired)
			site.release()
			for _, err := range loads {
				if err != nil {
					t.Fatalf("the page did not load again: %v", err)
				}
				break
			}
			joined, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("joined") !== null`))
			if err != nil || !joined {
				t.Fatalf("the page did not reload into the queue: %v %v", joined, err)
			}

			site.mu.Lock()
			defer site.mu.Unlock()
			wantSolved := 1
			if tt.retry {
				wantSolved = 2
			}
			if len(site.solved) != wantSolved {
				t.Errorf("the site accepted %d solutions, want %d", len(site.solved), wantSolved)
			}
			for i, h := range site.headers {
				if ct := h.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
					t.Errorf("POST %d: Content-Type %q", i, ct)
				}
				if a := h.Get("Accept"); a != "application/json" {
					t.Errorf("POST %d: Accept %q", i, a)
				}
			}
			select {
			case why := <-site.failed:
				t.Errorf("the site rejected what the page sent: %s", why)
			default:
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Errorf("browser: %s", p)
			}
		})
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
