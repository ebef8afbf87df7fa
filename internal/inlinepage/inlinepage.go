// Package inlinepage builds self-contained HTML pages: templates embedded in
// the binary, carrying one inline style and one inline script whose bytes
// never vary per request, so that a Content-Security-Policy can allow exactly
// them by their SHA-256 hashes and forbid everything else.
package inlinepage

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
)

// Set is a page's templates and the policy that goes with them.
type Set struct {
	// Template holds the parsed templates; {{style}} and {{script}} in them
	// insert the inline style and script byte for byte.
	Template *template.Template
	// CSP is the Content-Security-Policy header value for the pages.
	CSP string
}

// Spec says where a page's parts are and what else its policy allows.
type Spec struct {
	// Name names the template set, for errors.
	Name string
	// Style and Script are the files of the inline style and script.
	Style, Script string
	// Templates are the glob patterns of the HTML templates.
	Templates []string
	// FormAction is the CSP form-action source: "'none'" or "'self'".
	FormAction string
	// Extra is more CSP directives, appended to the policy after "; ", e.g.
	// "worker-src blob:" for a page that starts a worker from its own
	// script. Empty (the default) adds nothing.
	Extra string
}

// MustParse parses the set from fsys. The files are part of the binary, so a
// failure is a build mistake, never bad input: it panics.
func MustParse(fsys fs.FS, s Spec) *Set {
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(fmt.Sprintf("%s: read embedded %s: %v", s.Name, name, err))
		}
		return string(b)
	}
	// template.CSS and template.JS keep the bytes exactly as embedded, so
	// the hashes below match what the browser sees.
	style, script := template.CSS(read(s.Style)), template.JS(read(s.Script))
	t := template.Must(template.New(s.Name).Funcs(template.FuncMap{
		"style":  func() template.CSS { return style },
		"script": func() template.JS { return script },
	}).ParseFS(fsys, s.Templates...))
	csp := "default-src 'none'; " +
		"script-src " + Hash(string(script)) + "; " +
		"style-src " + Hash(string(style)) + "; " +
		"connect-src 'self'; img-src data:; base-uri 'none'; form-action " + s.FormAction + "; frame-ancestors 'none'"
	if s.Extra != "" {
		csp += "; " + s.Extra
	}
	return &Set{Template: t, CSP: csp}
}

// Hash is the CSP source expression that allows an inline element whose
// text is exactly s.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
