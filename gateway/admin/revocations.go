package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Revocation is a visitor or an account an operator shut out of a room: its
// tickets and passes are refused with 403 on every instance.
type Revocation struct {
	// Kind is "visitor" (a ticket's or pass's sub) or "account" (its uid).
	Kind string `json:"kind"`
	// ID is the visitor id or the account.
	ID string `json:"id"`
	// Expires is when the revocation lapses by itself.
	Expires time.Time `json:"expires"`
}

// Revoker keeps the revocations of the rooms, shared by every instance.
type Revoker interface {
	// Revoke revokes r.Kind r.ID in room for ttl and returns the revocation
	// as stored (a standing revocation keeps the later expiry).
	Revoke(ctx context.Context, room string, r Revocation, ttl time.Duration) (Revocation, error)
	// Unrevoke takes a revocation back; false when there was none.
	Unrevoke(ctx context.Context, room, kind, id string) (bool, error)
	// Revocations lists room's revocations.
	Revocations(ctx context.Context, room string) ([]Revocation, error)
}

// SortRevocations orders revocations by expiry, then kind and id, so lists
// read the same on every instance.
func SortRevocations(rs []Revocation) {
	slices.SortFunc(rs, func(a, b Revocation) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Bounds of a revocation's life: it must outlive the tokens it stops
// (tickets live a day by default), and the store keeps a mark a year at
// most.
const (
	defaultRevocationTTL = 7 * 24 * time.Hour
	maxRevocationTTL     = 365 * 24 * time.Hour
)

// visitorID is the form of the visitor ids the gateway makes, with room to
// spare; anything else cannot be a visitor.
var visitorID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkRevoked says what is wrong with a kind and id, or "".
func checkRevoked(kind, id string) string {
	switch kind {
	case "visitor":
		if !visitorID.MatchString(id) {
			return "visitor must be a visitor id: 1 to 64 of A-Z a-z 0-9 _ -"
		}
	case "account":
		if id == "" || len(id) > 255 || !utf8.ValidString(id) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "account must be 1 to 255 bytes of printable UTF-8"
		}
	default:
		return `kind must be "visitor" or "account"`
	}
	return ""
}

// revokeRequest is the body of POST /api/rooms/{id}/revocations.
type revokeRequest struct {
	Visitor string `json:"visitor"`
	Account string `json:"account"`
	// TTL is how long the revocation stands, as a Go duration ("24h").
	// Default 168h.
	TTL string `json:"ttl"`
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, p principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	var req revokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body must be a JSON object {\"visitor\"|\"account\", \"ttl\"}: %v", err))
		return
	}
	var rev Revocation
	switch {
	case req.Visitor != "" && req.Account == "":
		rev = Revocation{Kind: "visitor", ID: req.Visitor}
	case req.Account != "" && req.Visitor == "":
		rev = Revocation{Kind: "account", ID: req.Account}
	default:
		writeError(w, http.StatusBadRequest, "give exactly one of visitor and account")
		return
	}
	if msg := checkRevoked(rev.Kind, rev.ID); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	ttl := defaultRevocationTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < time.Minute || d > maxRevocationTTL {
			writeError(w, http.StatusBadRequest, "ttl must be a duration from 1m to 8760h, such as 24h")
			return
		}
		ttl = d
	}
	got, err := s.deps.Revoker.Revoke(r.Context(), rm.ID(), rev, ttl)
	if err != nil {
		s.revocationFailed(w, rm.ID(), "revoke", err)
		return
	}
	s.log.Info("revoked", "room", rm.ID(), "kind", got.Kind, "who", p.Who, "via", p.Via, "expires", got.Expires)
	writeJSON(w, http.StatusCreated, got)
}

func (s *Server) listRevocations(w http.ResponseWriter, r *http.Request, _ principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	list, err := s.deps.Revoker.Revocations(r.Context(), rm.ID())
	if err != nil {
		s.revocationFailed(w, rm.ID(), "list revocations", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Revocation{"revocations": list})
}

func (s *Server) unrevoke(w http.ResponseWriter, r *http.Request, p principal) {
	rm := s.roomFrom(w, r)
	if rm == nil {
		return
	}
	kind, id := r.PathValue("kind"), r.PathValue("key")
	if msg := checkRevoked(kind, id); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	ok, err := s.deps.Revoker.Unrevoke(r.Context(), rm.ID(), kind, id)
	switch {
	case err != nil:
		s.revocationFailed(w, rm.ID(), "unrevoke", err)
	case !ok:
		writeError(w, http.StatusNotFound, "no such revocation")
	default:
		s.log.Info("unrevoked", "room", rm.ID(), "kind", kind, "who", p.Who, "via", p.Via)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) revocationFailed(w http.ResponseWriter, room, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error(what+" failed", "room", room, "err", err)
	writeError(w, http.StatusServiceUnavailable, "the queue store does not answer")
}

// noRevoker stands in when no Revoker was given.
type noRevoker struct{}

var errNoRevoker = errors.New("revocations are not kept here")

func (noRevoker) Revoke(context.Context, string, Revocation, time.Duration) (Revocation, error) {
	return Revocation{}, errNoRevoker
}
func (noRevoker) Unrevoke(context.Context, string, string, string) (bool, error) {
	return false, errNoRevoker
}
func (noRevoker) Revocations(context.Context, string) ([]Revocation, error) {
	return nil, errNoRevoker
}
