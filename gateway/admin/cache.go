package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"
)

// Purge is an operator's request to forget pages of the edge cache.
type Purge struct {
	// Path is the path whose pages go (with every query string), or, when
	// Prefix is set, the start of the paths whose pages go.
	Path   string
	Prefix bool
	// Host limits the purge to one host; "" purges on every host.
	Host string
	// Rule limits the purge to one cache rule; "" purges in every rule.
	Rule string
}

// CacheRule is one cache rule as an instance sees it.
type CacheRule struct {
	Name     string            `json:"name"`
	Host     string            `json:"host,omitempty"`
	Paths    []string          `json:"paths"`
	Entries  int               `json:"entries"`
	Bytes    int64             `json:"bytes"`
	MaxBytes int64             `json:"max_bytes"`
	Requests map[string]uint64 `json:"requests"`
}

// Cache is the gateway's edge cache.
type Cache interface {
	// Purge forgets the pages a purge names on this instance at once and
	// on every other within seconds; it returns how many went here.
	Purge(ctx context.Context, p Purge) (int, error)
	// CacheRules reports the rules on this instance.
	CacheRules() []CacheRule
	// HasRule reports whether a rule of that name exists.
	HasRule(name string) bool
}

// purgeRequest is the body of POST /api/cache/purge.
type purgeRequest struct {
	Path   string `json:"path"`
	Prefix string `json:"prefix"`
	Host   string `json:"host"`
	Rule   string `json:"rule"`
}

var (
	ruleName = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)
	hostName = regexp.MustCompile(`^[a-z0-9.-]{1,253}$`)
)

func (s *Server) listCache(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, map[string][]CacheRule{"rules": s.deps.Cache.CacheRules()})
}

func (s *Server) purgeCache(w http.ResponseWriter, r *http.Request, p principal) {
	var req purgeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body must be a JSON object {\"path\"|\"prefix\", \"host\", \"rule\"}: %v", err))
		return
	}
	pg := Purge{Path: req.Path, Host: strings.ToLower(req.Host), Rule: req.Rule}
	if req.Prefix != "" {
		pg.Path, pg.Prefix = req.Prefix, true
	}
	switch {
	case (req.Path == "") == (req.Prefix == ""):
		writeError(w, http.StatusBadRequest, "give exactly one of path and prefix")
		return
	case !strings.HasPrefix(pg.Path, "/") || len(pg.Path) > 2048 || strings.ContainsFunc(pg.Path, unicode.IsSpace) || strings.ContainsFunc(pg.Path, unicode.IsControl):
		writeError(w, http.StatusBadRequest, "path and prefix must start with / and hold no spaces, at most 2048 bytes")
		return
	case pg.Host != "" && !hostName.MatchString(pg.Host):
		writeError(w, http.StatusBadRequest, "host must be a host name without scheme or port")
		return
	case pg.Rule != "" && (!ruleName.MatchString(pg.Rule) || !s.deps.Cache.HasRule(pg.Rule)):
		writeError(w, http.StatusNotFound, "no such cache rule")
		return
	}
	n, err := s.deps.Cache.Purge(r.Context(), pg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.log.Error("cache purge failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("purged %d pages here, but the queue store does not answer: the other instances were not told", n))
		return
	}
	s.log.Info("cache purged", "path", pg.Path, "prefix", pg.Prefix, "host", pg.Host, "rule", pg.Rule, "here", n, "who", p.Who, "via", p.Via)
	writeJSON(w, http.StatusOK, map[string]int{"purged": n})
}

// noCache stands in when the gateway has no edge cache.
type noCache struct{}

func (noCache) Purge(context.Context, Purge) (int, error) { return 0, nil }
func (noCache) CacheRules() []CacheRule                   { return []CacheRule{} }
func (noCache) HasRule(string) bool                       { return false }
