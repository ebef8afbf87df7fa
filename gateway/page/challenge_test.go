package page

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/usherhq/usher/internal/inlinepage"
)

func testChallenge() Challenge {
	return Challenge{
		Room:      "demo",
		Title:     "Summer Tour 2027 on-sale",
		Token:     "AQ4AAAAAaeV2_HP9gL1wR8kq2mZ0c3RnRGVtb1ZiM216MHE5eEgya0x3RTV0WWMxQWE.x4mNq2m8j7b1Vt0yYpQe3kR9sW6aL5cF0gH2iJ4kL6m",
		ID:        "c_9kLwE5tYc1AaVb3mZ0qw",
		Bits:      18,
		SubmitURL: "/_usher/challenge?room=demo",
	}
}

func renderChallenge(t *testing.T, c Challenge) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderChallenge(&b, c); err != nil {
		t.Fatalf("RenderChallenge: %v", err)
	}
	return b.String()
}

func TestChallengeGolden(t *testing.T) {
	checkGolden(t, "challenge.golden.html", renderChallenge(t, testChallenge()))
}

func TestChallengePageStructure(t *testing.T) {
	page := renderChallenge(t, testChallenge())
	if n := len(page); n >= 30*1024 {
		t.Errorf("challenge page is %d bytes, want under 30 KB", n)
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<title>Waiting room: Summer Tour 2027 on-sale</title>`,
		`<h1>One moment before you join the line for Summer Tour 2027 on-sale</h1>`,
		`<p>Checking your browser before you join the line. This takes a few seconds; keep this page open.</p>`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<label for="progress">Checking your browser</label>`,
		`<progress id="progress" max="100" value="0">0%</progress>`,
		`<p id="status" role="status" aria-live="polite" aria-atomic="true"></p>`,
		`<noscript><p class="notice">This check needs JavaScript.`,
		`data-token="` + testChallenge().Token + `"`,
		`data-id="c_9kLwE5tYc1AaVb3mZ0qw"`,
		`data-bits="18"`,
		`data-submit-url="/_usher/challenge?room=demo"`,
		`data-room="demo"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("challenge page lacks %q", want)
		}
	}
	if strings.Count(page, "<script") != 1 || strings.Count(page, "<style") != 1 {
		t.Error("want exactly one inline script and one inline style")
	}
	for _, ref := range []string{"src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(withoutInline(page), ref) {
			t.Errorf("challenge page refers to an outside asset: %q", ref)
		}
	}
	if strings.Contains(page, `http-equiv="refresh"`) {
		t.Error("the challenge page reloads itself: without JavaScript it would loop for nothing")
	}
	checkNoInlineAttributes(t, page)
}

func TestChallengeDefaults(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Challenge)
		want string
	}{
		{"empty title", func(c *Challenge) { c.Title = "" }, `<h1>One moment before you join the line for the sale</h1>`},
		{"submit URL from the room", func(c *Challenge) { c.Room, c.SubmitURL = "a b&c", "" }, `data-submit-url="/_usher/challenge?room=a&#43;b%26c"`},
		{"own submit URL", func(c *Challenge) { c.SubmitURL = "/x/solve?room=demo&v=2" }, `data-submit-url="/x/solve?room=demo&amp;v=2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testChallenge()
			tt.edit(&c)
			if page := renderChallenge(t, c); !strings.Contains(page, tt.want) {
				t.Errorf("page lacks %q", tt.want)
			}
		})
	}
}

func TestChallengeEscapesHostileValues(t *testing.T) {
	hostile := `</title><script>alert("x")</script>'"<img src=x onerror=alert(1)>`
	tests := []struct {
		name string
		edit func(*Challenge)
		want string
	}{
		{"title", func(c *Challenge) { c.Title = hostile }, `&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;&lt;img`},
		{"room", func(c *Challenge) { c.Room = hostile }, `data-room="&lt;/title&gt;&lt;script&gt;`},
		{"token", func(c *Challenge) { c.Token = hostile }, `data-token="&lt;/title&gt;&lt;script&gt;`},
		{"id", func(c *Challenge) { c.ID = hostile }, `data-id="&lt;/title&gt;&lt;script&gt;`},
		{"submit URL", func(c *Challenge) { c.SubmitURL = `/_usher/challenge?room="><script>alert(1)</script>` }, `data-submit-url="/_usher/challenge?room=%22%3e%3cscript%3ealert%281%29%3c/script%3e"`},
		{"script URL", func(c *Challenge) { c.SubmitURL = `javascript:alert(1)` }, `data-submit-url="#ZgotmplZ"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testChallenge()
			tt.edit(&c)
			page := renderChallenge(t, c)
			if !strings.Contains(page, tt.want) {
				t.Errorf("page lacks the escaped value %q", tt.want)
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
			checkHashesIn(t, ChallengeCSP(), page)
		})
	}
}

// checkHashesIn asserts that policy allows every inline script and style of
// page by the SHA-256 of its exact text.
func checkHashesIn(t *testing.T, policy, page string) {
	t.Helper()
	check := func(directive string, re *regexp.Regexp) {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			if source := inlinepage.Hash(m[1]); !strings.Contains(policy, directive+" "+source) {
				t.Errorf("%s does not allow %s (the page's inline text); policy: %s", directive, source, policy)
			}
		}
	}
	check("script-src", scriptRE)
	check("style-src", styleRE)
}

// directives splits a policy into its directives, failing on a repeat.
func directives(t *testing.T, policy string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if _, dup := got[name]; dup {
			t.Errorf("directive %s twice in %s", name, policy)
		}
		got[name] = value
	}
	return got
}

func TestChallengeCSP(t *testing.T) {
	page := renderChallenge(t, testChallenge())
	checkHashesIn(t, ChallengeCSP(), page)

	script, err := assets.ReadFile("assets/challenge.js")
	if err != nil {
		t.Fatal(err)
	}
	style, err := assets.ReadFile("assets/page.css")
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the queue page's policy, but for the script, plus a blob:
	// worker.
	want := directives(t, CSP())
	want["script-src"] = inlinepage.Hash(string(script))
	want["worker-src"] = "blob:"
	got := directives(t, ChallengeCSP())
	if got["style-src"] != inlinepage.Hash(string(style)) {
		t.Errorf("style-src = %q, want the hash of page.css", got["style-src"])
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %q, want %q", name, got[name], value)
		}
	}
	if len(got) != len(want) {
		t.Errorf("policy has %d directives, want %d: %s", len(got), len(want), ChallengeCSP())
	}
	// The queue page's policy does not let its script start workers.
	if _, ok := directives(t, CSP())["worker-src"]; ok {
		t.Error("CSP() allows workers")
	}
}

// The script is the same bytes for every visitor, or its hash would not hold.
func TestChallengeScriptHasNoPerRequestContent(t *testing.T) {
	a := scriptRE.FindStringSubmatch(renderChallenge(t, testChallenge()))
	b := scriptRE.FindStringSubmatch(renderChallenge(t, Challenge{Room: "x", Title: "y", Token: "t", ID: "i", Bits: 3}))
	if a == nil || b == nil {
		t.Fatal("no script")
	}
	if a[1] != b[1] {
		t.Error("the script differs between two visitors")
	}
	embedded, err := assets.ReadFile("assets/challenge.js")
	if err != nil {
		t.Fatal(err)
	}
	if a[1] != string(embedded) {
		t.Error("the page's script is not the embedded script byte for byte")
	}
}

// The challenge page shares the other pages' style, byte for byte.
func TestChallengeSharesTheStyle(t *testing.T) {
	a := styleRE.FindStringSubmatch(renderChallenge(t, testChallenge()))
	b := styleRE.FindStringSubmatch(renderQueue(t, openQueue()))
	if a == nil || b == nil || a[1] != b[1] {
		t.Error("the challenge page's style is not the queue page's")
	}
}

func TestRenderChallengeReportsWriteErrors(t *testing.T) {
	if err := RenderChallenge(failingWriter{}, testChallenge()); !errors.Is(err, errWrite) {
		t.Errorf("RenderChallenge error = %v, want %v", err, errWrite)
	}
}
