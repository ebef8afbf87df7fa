package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	scriptRE   = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRE    = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	templateRE = regexp.MustCompile(`(?s)<template id="room-template">(.*?)</template>`)
	tagRE      = regexp.MustCompile(`<[a-zA-Z][^\s/>]*((?:\s+[^\s="'<>/]+(?:="[^"]*")?)*)\s*>`)
	attrRE     = regexp.MustCompile(`\s([^\s="'<>/]+)(?:="([^"]*)")?`)
	formRE     = regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)
)

func sessionPage() Page {
	return Page{
		Auth:   "session",
		Who:    "op@venue.example",
		Role:   "operator",
		CSRF:   "c5rf-t0ken-value",
		Logout: "/logout",
	}
}

func tokenPage() Page { return Page{Auth: "token"} }

func render(t *testing.T, p Page) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, p); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered page; run go test -update and review the diff", path)
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		page Page
	}{
		{"session.golden.html", sessionPage()},
		{"token.golden.html", tokenPage()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, tt.name, render(t, tt.page))
		})
	}
}

// withoutInline is page with the text of its script and style elements cut
// out, leaving the markup.
func withoutInline(page string) string {
	page = scriptRE.ReplaceAllString(page, "<script></script>")
	return styleRE.ReplaceAllString(page, "<style></style>")
}

// roomTemplate is the markup the script clones for each room.
func roomTemplate(t *testing.T, page string) string {
	t.Helper()
	m := templateRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("page has no room template")
	}
	return m[1]
}

// startTags is every start tag of markup as its name and attributes.
func startTags(markup string) []map[string]string {
	var tags []map[string]string
	for _, m := range tagRE.FindAllStringSubmatch(markup, -1) {
		name := strings.ToLower(strings.TrimLeft(strings.Fields(m[0])[0], "<"))
		tag := map[string]string{"": strings.TrimSuffix(name, ">")}
		for _, a := range attrRE.FindAllStringSubmatch(m[1], -1) {
			tag[strings.ToLower(a[1])] = a[2]
		}
		tags = append(tags, tag)
	}
	return tags
}

func TestPageStructure(t *testing.T) {
	for name, p := range map[string]Page{"session": sessionPage(), "token": tokenPage()} {
		t.Run(name, func(t *testing.T) {
			page := render(t, p)
			if n := len(page); n >= 80*1024 {
				t.Errorf("page is %d bytes, want under 80 KB", n)
			}
			for _, want := range []string{
				"<!doctype html>\n<html lang=\"en\">",
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<title>usher dashboard</title>`,
				`<h1>`,
				`<div id="banner" class="banner" role="status" aria-live="polite">`,
				`<div class="result" data-k="result" role="status" aria-live="polite">`,
				`<canvas data-k="chart-waiting" role="img"`,
				`<select id="pick">`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Count(page, "<script") != 1 || strings.Count(page, "<style") != 1 {
				t.Error("want exactly one inline script and one inline style")
			}
			for _, ref := range []string{"src=", "http://", "https://", "@import", "url(", "<link rel=\"stylesheet\""} {
				if strings.Contains(page, ref) {
					t.Errorf("page refers to an outside asset: %q", ref)
				}
			}
		})
	}
}

func TestModes(t *testing.T) {
	tests := []struct {
		name    string
		page    Page
		want    []string
		notWant []string
	}{
		{
			name: "session",
			page: sessionPage(),
			want: []string{
				`data-auth="session"`,
				`data-csrf="c5rf-t0ken-value"`,
				`data-role="operator"`,
				`<span class="wide">Signed in as </span><strong id="who">op@venue.example</strong> <span id="role" class="role">operator</span>`,
				`<form class="logout" method="post" action="/logout"><input type="hidden" name="csrf" value="c5rf-t0ken-value"><button type="submit" class="quiet">Log out</button></form>`,
			},
			notWant: []string{`id="login"`, `id="token"`, `Forget token`},
		},
		{
			name: "session viewer with its own logout path",
			page: Page{Auth: "session", Who: "v@venue.example", Role: "viewer", CSRF: "x", Logout: "/auth/logout"},
			want: []string{`data-role="viewer"`, `action="/auth/logout"`, `>viewer</span>`},
		},
		{
			name: "session without a logout path",
			page: Page{Auth: "session", Who: "op", CSRF: "x"},
			want: []string{`action="/logout"`},
		},
		{
			name: "token",
			page: tokenPage(),
			want: []string{
				`data-auth="token"`,
				`data-role=""`,
				`data-csrf=""`,
				`<section id="login" class="login" aria-labelledby="login-title" hidden>`,
				`<label for="token">Admin token</label>`,
				`<input id="token" type="password"`,
				`<button type="button" id="forget" class="quiet" hidden>Forget token</button>`,
			},
			notWant: []string{"<form", "Log out", "Signed in as"},
		},
		{
			name:    "token mode ignores session fields",
			page:    Page{Auth: "token", Who: "op@venue.example", Role: "operator", CSRF: "secret-csrf", Logout: "/logout"},
			want:    []string{`data-who=""`, `data-csrf=""`, `data-role="operator"`},
			notWant: []string{"secret-csrf", "op@venue.example", "<form"},
		},
		{
			name:    "unknown auth is token mode",
			page:    Page{Auth: "oidc", Who: "op", CSRF: "secret-csrf"},
			want:    []string{`data-auth="token"`, `id="login"`},
			notWant: []string{"secret-csrf", "<form"},
		},
		{
			name: "unknown role",
			page: Page{Auth: "session", Who: "op", Role: "admin", CSRF: "x"},
			want: []string{`data-role=""`, `<span id="role" class="role"></span>`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := withoutInline(render(t, tt.page))
			for _, want := range tt.want {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(page, bad) {
					t.Errorf("page has %q", bad)
				}
			}
		})
	}
}

// The logout form is the only form: its CSRF token travels as a hidden
// field, because a form cannot send a header.
func TestOnlyFormIsLogout(t *testing.T) {
	page := withoutInline(render(t, sessionPage()))
	forms := formRE.FindAllString(page, -1)
	if len(forms) != 1 {
		t.Fatalf("page has %d forms, want 1", len(forms))
	}
	tags := startTags(forms[0])
	if f := tags[0]; f["method"] != "post" || f["action"] != "/logout" {
		t.Errorf("form = %v, want a POST to /logout", f)
	}
	var inputs []map[string]string
	for _, tag := range tags {
		if tag[""] == "input" {
			inputs = append(inputs, tag)
		}
	}
	if len(inputs) != 1 || inputs[0]["type"] != "hidden" || inputs[0]["name"] != "csrf" || inputs[0]["value"] != "c5rf-t0ken-value" {
		t.Errorf("form inputs = %v, want only the hidden csrf field", inputs)
	}
	if strings.Count(page, "<form") != 1 {
		t.Error("a form outside the logout form")
	}
}

func TestEscapesHostileValues(t *testing.T) {
	hostile := `</title><script>alert("x")</script>'"<img src=x onerror=alert(1)>`
	tests := []struct {
		name string
		edit func(*Page)
		want []string
	}{
		{"who", func(p *Page) { p.Who = hostile }, []string{
			`<strong id="who">&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;&lt;img src=x onerror=alert(1)&gt;</strong>`,
			`data-who="&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)`,
		}},
		{"csrf", func(p *Page) { p.CSRF = hostile }, []string{
			`name="csrf" value="&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;&lt;img`,
			`data-csrf="&lt;/title&gt;&lt;script&gt;`,
		}},
		{"role", func(p *Page) { p.Role = hostile }, []string{`data-role=""`}},
		{"logout path", func(p *Page) { p.Logout = `/logout"><script>alert(1)</script>` }, []string{
			`action="/logout%22%3e%3cscript%3ealert%281%29%3c/script%3e"`,
		}},
		{"logout script URL", func(p *Page) { p.Logout = "javascript:alert(1)" }, []string{`action="#ZgotmplZ"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sessionPage()
			tt.edit(&p)
			page := render(t, p)
			for _, want := range tt.want {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks the escaped value %q", want)
				}
			}
			for _, raw := range []string{"<img", `alert("x")`, "alert(1)</script>", "javascript:"} {
				if strings.Contains(page, raw) {
					t.Errorf("page carries %q unescaped", raw)
				}
			}
			if n := strings.Count(page, "<script"); n != 1 {
				t.Errorf("page has %d script elements, want 1", n)
			}
			checkNoInlineAttributes(t, page)
			checkHashes(t, page)
		})
	}
}

// checkNoInlineAttributes asserts that no start tag in page, the room
// template's included, carries an event handler or a style attribute, which
// the CSP would block. Every attribute value the template writes is
// double-quoted, so a quoted value that merely contains "onerror=" is text,
// not an attribute.
func checkNoInlineAttributes(t *testing.T, page string) {
	t.Helper()
	markup := withoutInline(page)
	tags := startTags(markup)
	if len(tags) < 50 {
		t.Fatalf("found only %d start tags; the tag pattern no longer fits the markup", len(tags))
	}
	for _, tag := range tags {
		for name := range tag {
			if strings.HasPrefix(name, "on") || name == "style" {
				t.Errorf("<%s> has attribute %s", tag[""], name)
			}
		}
	}
	if n := strings.Count(markup, "<") - strings.Count(markup, "</") - strings.Count(markup, "<!doctype"); n != len(tags) {
		t.Errorf("%d start tags, but the tag pattern matched %d", n, len(tags))
	}
}

func TestNoInlineHandlersOrStyleAttributes(t *testing.T) {
	for name, p := range map[string]Page{"session": sessionPage(), "token": tokenPage()} {
		t.Run(name, func(t *testing.T) {
			checkNoInlineAttributes(t, render(t, p))
		})
	}
}

// The CSP blocks inline style attributes and string evaluation, so the
// script must build the page without them, and without HTML strings that
// could turn an API answer into markup.
func TestScriptAvoidsWhatCSPBlocks(t *testing.T) {
	for _, bad := range []string{
		"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		".style.", ".style =", "cssText", `setAttribute("style"`, `setAttribute("on`, "new EventSource",
	} {
		if strings.Contains(embedded(t, "assets/dashboard.js"), bad) {
			t.Errorf("the script uses %q", bad)
		}
	}
}

// checkHashes asserts that CSP allows every inline script and style of page
// by the SHA-256 of its exact text.
func checkHashes(t *testing.T, page string) {
	t.Helper()
	policy := CSP()
	check := func(directive string, re *regexp.Regexp) {
		matches := re.FindAllStringSubmatch(page, -1)
		if len(matches) == 0 {
			t.Errorf("page has no inline %s", directive)
		}
		for _, m := range matches {
			sum := sha256.Sum256([]byte(m[1]))
			source := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(policy, directive+" "+source+";") {
				t.Errorf("%s does not allow %s (the page's inline text); policy: %s", directive, source, policy)
			}
		}
	}
	check("script-src", scriptRE)
	check("style-src", styleRE)
}

func TestCSP(t *testing.T) {
	for name, p := range map[string]Page{"session": sessionPage(), "token": tokenPage()} {
		t.Run(name, func(t *testing.T) {
			checkHashes(t, render(t, p))
		})
	}

	t.Run("directives", func(t *testing.T) {
		got := map[string]string{}
		for _, d := range strings.Split(CSP(), ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			if _, dup := got[name]; dup {
				t.Errorf("directive %s twice", name)
			}
			got[name] = value
		}
		want := map[string]string{
			"default-src":     "'none'",
			"connect-src":     "'self'",
			"img-src":         "data:",
			"base-uri":        "'none'",
			"form-action":     "'self'",
			"frame-ancestors": "'none'",
		}
		for name, value := range want {
			if got[name] != value {
				t.Errorf("%s = %q, want %q", name, got[name], value)
			}
		}
		for _, name := range []string{"script-src", "style-src"} {
			if !regexp.MustCompile(`^'sha256-[A-Za-z0-9+/]{43}='$`).MatchString(got[name]) {
				t.Errorf("%s = %q, want exactly one sha256 source", name, got[name])
			}
		}
		if len(got) != len(want)+2 {
			t.Errorf("policy has %d directives, want %d: %s", len(got), len(want)+2, CSP())
		}
	})
}

// The script and style are the same bytes for every operator, or their
// hashes would not hold.
func TestInlineTextHasNoPerRequestContent(t *testing.T) {
	a := render(t, sessionPage())
	b := render(t, Page{Auth: "token", Who: "x", Role: "viewer", CSRF: "y"})
	for _, tt := range []struct {
		name     string
		re       *regexp.Regexp
		embedded string
	}{
		{"script", scriptRE, embedded(t, "assets/dashboard.js")},
		{"style", styleRE, embedded(t, "assets/dashboard.css")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ma, mb := tt.re.FindStringSubmatch(a), tt.re.FindStringSubmatch(b)
			if ma == nil || mb == nil {
				t.Fatal("missing")
			}
			if ma[1] != mb[1] {
				t.Error("differs between two pages")
			}
			if ma[1] != tt.embedded {
				t.Error("is not the embedded file byte for byte")
			}
		})
	}
}

// Every input and select has a label: by id on the page, and by data-for,
// which the script turns into an id per room, in the room template.
func TestControlsAreLabelled(t *testing.T) {
	for name, p := range map[string]Page{"session": sessionPage(), "token": tokenPage()} {
		t.Run(name, func(t *testing.T) {
			page := withoutInline(render(t, p))
			tmpl := roomTemplate(t, page)
			outside := strings.Replace(page, tmpl, "", 1)

			ids := map[string]int{}
			labelled := map[string]bool{}
			var controls []map[string]string
			for _, tag := range startTags(outside) {
				if id, ok := tag["id"]; ok {
					ids[id]++
				}
				if tag[""] == "label" {
					labelled[tag["for"]] = true
				}
				if (tag[""] == "input" && tag["type"] != "hidden") || tag[""] == "select" {
					controls = append(controls, tag)
				}
			}
			for id, n := range ids {
				if n > 1 {
					t.Errorf("id %q used %d times", id, n)
				}
			}
			for _, c := range controls {
				if !labelled[c["id"]] {
					t.Errorf("<%s id=%q> has no label", c[""], c["id"])
				}
			}

			dataFor := map[string]bool{}
			inputs := 0
			for _, tag := range startTags(tmpl) {
				if _, ok := tag["id"]; ok {
					t.Errorf("<%s> in the room template has a fixed id %q, which every room would repeat", tag[""], tag["id"])
				}
				if tag[""] == "label" {
					dataFor[tag["data-for"]] = true
				}
			}
			for _, tag := range startTags(tmpl) {
				if tag[""] == "input" || tag[""] == "select" {
					inputs++
					if !dataFor[tag["data-k"]] {
						t.Errorf("template <%s data-k=%q> has no label", tag[""], tag["data-k"])
					}
				}
			}
			if inputs != 3 {
				t.Errorf("room template has %d inputs, want 3", inputs)
			}
		})
	}
}

// Every element the script looks up exists in the markup: a renamed
// data-k or id would otherwise fail only in a browser.
func TestScriptFindsItsElements(t *testing.T) {
	js := embedded(t, "assets/dashboard.js")
	tokenMarkup := withoutInline(render(t, tokenPage()))
	sessionMarkup := withoutInline(render(t, sessionPage()))
	tmpl := roomTemplate(t, tokenMarkup)

	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bk(?:\.([A-Za-z_]\w*)|\["([^"]+)"\])`).FindAllStringSubmatch(js, -1) {
		keys[m[1]+m[2]] = true
	}
	for _, m := range regexp.MustCompile(`\bk: "([^"]+)"`).FindAllStringSubmatch(js, -1) {
		keys[m[1]] = true
	}
	fields := regexp.MustCompile(`FIELDS = \[([^\]]*)\]`).FindStringSubmatch(js)
	if fields == nil {
		t.Fatal("the script has no FIELDS")
	}
	for _, f := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(fields[1], -1) {
		keys[f[1]] = true
		keys["problem-"+f[1]] = true
	}
	if len(keys) < 30 {
		t.Fatalf("found only %d element keys in the script; the pattern no longer fits it", len(keys))
	}
	for k := range keys {
		if !strings.Contains(tmpl, `data-k="`+k+`"`) {
			t.Errorf("the script uses k[%q], which the room template lacks", k)
		}
	}

	tokenOnly := []string{"login", "token", "token-use", "login-error", "forget", "token-who"}
	for _, m := range regexp.MustCompile(`byId\("([^"]+)"\)`).FindAllStringSubmatch(js, -1) {
		id := m[1]
		if !strings.Contains(tokenMarkup, `id="`+id+`"`) {
			t.Errorf("the script looks up #%s, which the token page lacks", id)
		}
		if !slices.Contains(tokenOnly, id) && !strings.Contains(sessionMarkup, `id="`+id+`"`) {
			t.Errorf("the script looks up #%s, which the session page lacks", id)
		}
	}
}

type failingWriter struct{}

var errWrite = errors.New("connection closed")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRenderReportsWriteErrors(t *testing.T) {
	if err := Render(failingWriter{}, sessionPage()); !errors.Is(err, errWrite) {
		t.Errorf("Render error = %v, want %v", err, errWrite)
	}
}

func BenchmarkRender(b *testing.B) {
	var buf bytes.Buffer
	p := sessionPage()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
}

// embedded reads one of the page's embedded files.
func embedded(t *testing.T, name string) string {
	t.Helper()
	b, err := assets.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
