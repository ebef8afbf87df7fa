package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes every route of the admin listener; a test holds it
// and the served routes to each other.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(openAPIDoc)
}
