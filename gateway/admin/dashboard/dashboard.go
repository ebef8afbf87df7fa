// Package dashboard renders the operators' dashboard: the one page, served
// at / on the admin listener, from which operators watch every room live and
// change its policy and state through the admin API.
//
// The page is one self-contained HTML document: one inline style and one
// inline script, no other asset, no request to anyone but its own origin.
// The style and the script are the same bytes for every operator (the script
// reads who is logged in and how to authenticate from data-* attributes), so
// CSP can allow them by hash and forbid everything else. Send CSP() as the
// Content-Security-Policy header with the page.
//
// The page works in two modes. In session mode the operator logged in with
// OpenID Connect: the browser sends its session cookie, and the page sends
// the CSRF token in the X-CSRF-Token header with every POST and PATCH. In
// token mode no login provider is configured: the page asks for an admin API
// token, keeps it in the tab's session storage and sends it as a bearer
// token.
//
// The template is parsed once, when the package is loaded; rendering only
// executes it.
package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"sync"

	"github.com/usherhq/usher/internal/inlinepage"
)

// DefaultLogout is the path the logout form posts to in session mode when
// Page.Logout is empty.
const DefaultLogout = "/logout"

//go:embed assets
var assets embed.FS

var page = inlinepage.MustParse(assets, inlinepage.Spec{
	Name: "dashboard", Style: "assets/dashboard.css", Script: "assets/dashboard.js",
	Templates: []string{"assets/dashboard.html"}, FormAction: "'self'",
})

// CSP is the Content-Security-Policy header value to send with the page. It
// forbids everything but the page's own inline script and style (allowed by
// their SHA-256 hashes, computed once from the exact bytes the page
// carries), requests to the page's own origin (connect-src 'self': the admin
// API and its event streams), data: images and the logout form posting to
// the same origin; it also forbids <base> and framing, so no other site can
// embed the dashboard and trick an operator into clicking its buttons.
func CSP() string { return page.CSP }

// Page is what the dashboard is rendered with. Every field is shown or sent
// as text: none of them may carry markup.
type Page struct {
	// Auth is how the page authenticates to the admin API. "session": the
	// operator logged in with OpenID Connect and the browser holds a session
	// cookie. "token": no login provider is configured, and the page asks
	// for an admin API token and sends it as a bearer token. Any other
	// value, including "", means "token", which grants nothing by itself.
	Auth string
	// Who is who is logged in, e.g. "op@venue.example"; shown in session
	// mode.
	Who string
	// Role is "operator" (may change things) or "viewer" (read only). It is
	// where the page starts: the page asks /api/me and follows its answer.
	// Anything else, including "" (token mode until /api/me answers), keeps
	// the controls disabled.
	Role string
	// CSRF is, in session mode, the value the page sends in the
	// X-CSRF-Token header with every POST and PATCH, and in the csrf field
	// of the logout form.
	CSRF string
	// Logout is, in session mode, the path the logout form posts to. Empty
	// means DefaultLogout.
	Logout string
}

// view is Page as the template uses it, with the defaults applied.
type view struct {
	Session bool
	Auth    string
	Who     string
	Role    string
	CSRF    string
	Logout  string
}

func newView(p Page) view {
	v := view{Auth: "token", Role: p.Role}
	if p.Role != "operator" && p.Role != "viewer" {
		v.Role = ""
	}
	if p.Auth != "session" {
		// Nothing of a session belongs on a token-mode page: its script
		// would send the CSRF token with requests that carry no cookie.
		return v
	}
	v.Session, v.Auth = true, "session"
	v.Who, v.CSRF, v.Logout = p.Who, p.CSRF, p.Logout
	if v.Logout == "" {
		v.Logout = DefaultLogout
	}
	return v
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Render writes the dashboard for p to w. It writes nothing if the page
// cannot be rendered, and the whole page in one write otherwise.
func Render(w io.Writer, p Page) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := page.Template.ExecuteTemplate(buf, "dashboard.html", newView(p)); err != nil {
		return fmt.Errorf("render dashboard: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write dashboard: %w", err)
	}
	return nil
}
