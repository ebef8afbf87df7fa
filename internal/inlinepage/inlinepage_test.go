package inlinepage

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMustParse(t *testing.T) {
	fsys := fstest.MapFS{
		"a.css":  {Data: []byte("body{color:red}\n/* a comment html/template would drop */")},
		"a.js":   {Data: []byte("console.log('<b>');\n// a comment\n")},
		"a.html": {Data: []byte(`{{define "a.html"}}<style>{{style}}</style><script>{{script}}</script><p>{{.}}</p>{{end}}`)},
	}
	set := MustParse(fsys, Spec{Name: "t", Style: "a.css", Script: "a.js", Templates: []string{"*.html"}, FormAction: "'self'"})
	var buf bytes.Buffer
	if err := set.Template.ExecuteTemplate(&buf, "a.html", "<i>"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"<style>body{color:red}\n/* a comment html/template would drop */</style>",
		"<script>console.log('<b>');\n// a comment\n</script>",
		"<p>&lt;i&gt;</p>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered %q lacks %q", out, want)
		}
	}
	for _, want := range []string{
		"script-src " + Hash("console.log('<b>');\n// a comment\n") + ";",
		"style-src " + Hash("body{color:red}\n/* a comment html/template would drop */") + ";",
		"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(set.CSP, want) {
			t.Errorf("CSP %q lacks %q", set.CSP, want)
		}
	}
	// The hash is that of the exact bytes (a known vector).
	if got := Hash("alert(1)"); got != "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='" {
		t.Errorf("Hash = %s", got)
	}
}

func TestExtraDirectives(t *testing.T) {
	fsys := fstest.MapFS{
		"a.css":  {Data: []byte("p{}")},
		"a.js":   {Data: []byte("0")},
		"a.html": {Data: []byte(`{{define "a.html"}}<style>{{style}}</style><script>{{script}}</script>{{end}}`)},
	}
	spec := Spec{Name: "t", Style: "a.css", Script: "a.js", Templates: []string{"*.html"}, FormAction: "'none'"}
	plain := MustParse(fsys, spec)
	// Without Extra the policy is exactly what it always was.
	want := "default-src 'none'; script-src " + Hash("0") + "; style-src " + Hash("p{}") +
		"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	if plain.CSP != want {
		t.Errorf("CSP without Extra = %q, want %q", plain.CSP, want)
	}
	spec.Extra = "worker-src blob:"
	if got := MustParse(fsys, spec).CSP; got != want+"; worker-src blob:" {
		t.Errorf("CSP with Extra = %q, want %q", got, want+"; worker-src blob:")
	}
}
