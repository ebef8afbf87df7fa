package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue"
)

// roomJSON is a room's live policy and state, with the configuration's field
// names.
type roomJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	State         string    `json:"state"`
	Mode          string    `json:"mode"`
	RatePerMinute float64   `json:"rate_per_minute"`
	EffectiveRate float64   `json:"effective_rate_per_minute"`
	RateRamp      string    `json:"rate_ramp"`
	Ramp          *rampJSON `json:"ramp"`
	MaxActive     int       `json:"max_active"`
	Session       string    `json:"session"`
	ClaimWindow   string    `json:"claim_window"`
	PollMin       string    `json:"poll_min"`
	PollMax       string    `json:"poll_max"`
	// OpensAt and SaleStartsAt are the schedule (null: none), and Phase
	// the state it puts an open room in now: scheduled, prequeue or open.
	OpensAt      *time.Time `json:"opens_at"`
	SaleStartsAt *time.Time `json:"sale_starts_at"`
	Phase        string     `json:"phase"`
	// Inventory is the tickets left as an operator set them (null: not
	// set); ShoppersCap the cap on active shoppers that the inventory
	// puts on the room now (null: none).
	Inventory   *int64 `json:"inventory"`
	ShoppersCap *int64 `json:"shoppers_cap"`
	Version     int64  `json:"version"`
}

// rampJSON is a rate ramp under way.
type rampJSON struct {
	From      float64   `json:"from"`
	To        float64   `json:"to"`
	StartedAt time.Time `json:"started_at"`
	EndsAt    time.Time `json:"ends_at"`
}

func (s *Server) roomJSON(r *admission.Room, p admission.Policy, version int64) roomJSON {
	now := s.deps.Now()
	out := roomJSON{
		ID: r.ID(), Name: r.Name(), State: string(p.State), Mode: string(p.Mode),
		RatePerMinute: p.RatePerMinute, EffectiveRate: p.EffectiveRate(now), RateRamp: p.RateRamp.String(),
		MaxActive: p.MaxActive, Session: p.Session.String(), ClaimWindow: p.ClaimWindow.String(),
		PollMin: p.PollMin.String(), PollMax: p.PollMax.String(), Version: version,
		Phase: string(p.Phase(now)), Inventory: p.Inventory,
	}
	if c, ok := r.ShoppersCap(); ok {
		out.ShoppersCap = &c
	}
	if !p.OpensAt.IsZero() {
		t := p.OpensAt.UTC()
		out.OpensAt = &t
	}
	if !p.SaleStartsAt.IsZero() {
		t := p.SaleStartsAt.UTC()
		out.SaleStartsAt = &t
	}
	if ramping, end := p.Ramping(now); ramping {
		out.Ramp = &rampJSON{From: p.Ramp.From, To: p.RatePerMinute, StartedAt: p.Ramp.Since.UTC(), EndsAt: end.UTC()}
	}
	return out
}

func (s *Server) listRooms(w http.ResponseWriter, _ *http.Request, _ principal) {
	out := []roomJSON{}
	for _, r := range s.deps.Rooms.Rooms() {
		out = append(out, s.roomJSON(r, r.Policy(), r.PolicyVersion()))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRoom(w http.ResponseWriter, r *http.Request, _ principal) {
	if rm := s.roomFrom(w, r); rm != nil {
		writeJSON(w, http.StatusOK, s.roomJSON(rm, rm.Policy(), rm.PolicyVersion()))
	}
}

// maxPatch bounds a patch body: a few fields of JSON.
const maxPatch = 64 << 10

// patchRoom changes policy fields with a JSON merge patch. ?dry_run=1
// answers what the change would do to the wait at the back of the line,
// without applying it.
func (s *Server) patchRoom(w http.ResponseWriter, r *http.Request, p principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPatch+1))
	if err != nil || len(body) > maxPatch {
		writeError(w, http.StatusBadRequest, "the body must be a JSON object of at most 64 KiB")
		return
	}
	now := s.deps.Now()
	if dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run")); dry {
		next, problems := rm.Policy().Patch(body, now)
		if len(problems) > 0 {
			writeProblems(w, problems)
			return
		}
		st := rm.Stats()
		out := struct {
			DryRun   bool     `json:"dry_run"`
			Room     roomJSON `json:"room"`
			Waiting  int64    `json:"waiting"`
			ETANow   *int64   `json:"eta_last_seconds_now"`
			ETAAfter *int64   `json:"eta_last_seconds_after"`
		}{DryRun: true, Room: s.roomJSON(rm, next, rm.PolicyVersion()), Waiting: st.Waiting}
		out.ETANow = etaSeconds(st.Waiting, st.View.Snapshot, rm.Policy(), now)
		out.ETAAfter = etaSeconds(st.Waiting, st.View.Snapshot, next, now)
		writeJSON(w, http.StatusOK, out)
		return
	}
	s.change(w, r, rm, p, "patch", func(cur admission.Policy) (admission.Policy, []admission.FieldProblem) {
		return cur.Patch(body, s.deps.Now())
	})
}

// etaSeconds is the wait of the visitor at the back under policy p, or nil
// when the room would not admit.
func etaSeconds(waiting int64, v queue.Snapshot, p admission.Policy, now time.Time) *int64 {
	if p.State != admission.StateOpen {
		return nil
	}
	secs := int64(admission.Estimate(waiting, v, p, now) / time.Second)
	return &secs
}

// actionStates are the state each room action sets.
var actionStates = map[string]admission.State{"pause": admission.StatePaused, "resume": admission.StateOpen, "soldout": admission.StateSoldOut, "close": admission.StateClosed}

// roomAction is pause, resume, soldout and close.
func (s *Server) roomAction(w http.ResponseWriter, r *http.Request, p principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	action := path.Base(r.URL.Path)
	state := actionStates[action]
	s.change(w, r, rm, p, action, func(cur admission.Policy) (admission.Policy, []admission.FieldProblem) {
		cur.State = state
		return cur, nil
	})
}

// change applies and saves a change, answering with the room as it is now.
func (s *Server) change(w http.ResponseWriter, r *http.Request, rm *admission.Room, p principal, action string, fn func(admission.Policy) (admission.Policy, []admission.FieldProblem)) {
	_, after, problems, err := rm.Change(r.Context(), admission.Actor{Who: p.Who, Via: p.Via}, action, fn)
	switch {
	case errors.Is(err, admission.ErrInvalidChange):
		writeProblems(w, problems)
	case errors.Is(err, queue.ErrConflict):
		writeError(w, http.StatusConflict, "the room was changed by someone else meanwhile; reload and try again")
	case err != nil:
		s.log.Error("room change failed", "room", rm.ID(), "action", action, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the change could not be saved: the queue store does not answer")
	default:
		writeJSON(w, http.StatusOK, s.roomJSON(rm, after, rm.PolicyVersion()))
	}
}

func writeProblems(w http.ResponseWriter, problems []admission.FieldProblem) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid policy", "problems": problems})
}

// statsJSON is a room's figures.
type statsJSON struct {
	Room               string     `json:"room"`
	State              string     `json:"state"`
	Waiting            int64      `json:"waiting"`
	Active             int        `json:"active"`
	Offered            int        `json:"offered"`
	AdmittedTotal      int64      `json:"admitted_total"`
	AdmittedLastMinute int64      `json:"admitted_last_minute"`
	JoinsLastMinute    int64      `json:"joins_last_minute"`
	ETALast            *int64     `json:"eta_last_seconds"`
	RatePerMinute      float64    `json:"rate_per_minute"`
	EffectiveRate      float64    `json:"effective_rate_per_minute"`
	Origin             originJSON `json:"origin"`
	// AdmissionLog is the head of the room's admission log as this
	// instance last read it (null before the first reading).
	AdmissionLog *logJSON  `json:"admission_log"`
	At           time.Time `json:"at"`
	Fresh        bool      `json:"fresh"`
}

// logJSON is the head of a room's admission log, as published at
// /_usher/admissions.
type logJSON struct {
	Entries int    `json:"entries"`
	Through int64  `json:"through"`
	Gaps    int64  `json:"gaps"`
	Head    string `json:"head"`
}

// originJSON is this instance's measure of the origin on the room's paths
// over the last minute.
type originJSON struct {
	Requests  int64   `json:"requests_last_minute"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	ErrorRate float64 `json:"error_rate"`
}

func statsOf(rm *admission.Room) statsJSON {
	st := rm.Stats()
	out := statsJSON{
		Room: rm.ID(), State: string(st.Policy.State),
		Waiting: st.Waiting, Active: st.Active, Offered: st.Pending, AdmittedTotal: st.AdmittedTotal,
		AdmittedLastMinute: st.AdmittedLastMinute, JoinsLastMinute: st.JoinsLastMinute,
		RatePerMinute: st.Policy.RatePerMinute, EffectiveRate: st.EffectiveRate,
		Origin: originJSON{Requests: st.Origin.Requests, P50: ms(st.Origin.P50), P95: ms(st.Origin.P95), ErrorRate: st.Origin.ErrorRate},
		At:     st.At.UTC(), Fresh: st.Fresh,
	}
	if st.ETALastKnown {
		secs := int64(st.ETALast / time.Second)
		out.ETALast = &secs
	}
	if c := rm.AdmissionLog(); c != nil {
		out.AdmissionLog = &logJSON{Entries: len(c.Records), Through: c.Through, Gaps: c.Gaps, Head: c.HeadHex()}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *Server) roomStats(w http.ResponseWriter, r *http.Request, _ principal) {
	if rm := s.roomFrom(w, r); rm != nil {
		writeJSON(w, http.StatusOK, statsOf(rm))
	}
}

// sampleJSON is one second of a room's history.
type sampleJSON struct {
	At                 time.Time `json:"at"`
	Waiting            int64     `json:"waiting"`
	Active             int       `json:"active"`
	AdmittedLastMinute int64     `json:"admitted_last_minute"`
	OriginP95          float64   `json:"origin_p95_ms"`
	EffectiveRate      float64   `json:"effective_rate_per_minute"`
}

// historyJSON turns samples into per-second points; admissions per minute
// at each point count the minute that ends there.
func historyJSON(h []admission.Sample) []sampleJSON {
	out := make([]sampleJSON, len(h))
	start := 0
	for i, smp := range h {
		for start < i && smp.At.Sub(h[start].At) > time.Minute {
			start++
		}
		out[i] = sampleJSON{
			At: smp.At.UTC(), Waiting: max(0, smp.Joined-smp.Served), Active: smp.Active,
			AdmittedLastMinute: smp.AdmittedTotal - h[start].AdmittedTotal,
			OriginP95:          ms(smp.OriginP95), EffectiveRate: smp.EffectiveRate,
		}
	}
	return out
}

// roomEvents streams the room's figures as Server-Sent Events: its history
// of the last 15 minutes first, then its stats every second.
func (s *Server) roomEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err == nil {
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		}
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	if !send("history", map[string]any{"samples": historyJSON(rm.History(15 * time.Minute))}) {
		return
	}
	t := time.NewTicker(s.deps.StreamInterval)
	defer t.Stop()
	for {
		if !send("stats", statsOf(rm)) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.deps.Stop.Done():
			return
		case <-t.C:
		}
	}
}

// roomAudit lists the room's newest changes: ?limit=N (default 50, at most
// 1,000).
func (s *Server) roomAudit(w http.ResponseWriter, r *http.Request, _ principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > queue.AuditKeep {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be between 1 and %d", queue.AuditKeep))
			return
		}
		limit = n
	}
	entries, err := rm.Audit(r.Context(), limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "the audit trail could not be read: the queue store does not answer")
		return
	}
	writeJSON(w, http.StatusOK, entries)
}
