package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	scriptRE  = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRE   = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	tagRE     = regexp.MustCompile(`<[a-zA-Z][^\s/>]*((?:\s+[^\s="'<>/]+(?:="[^"]*")?)*)\s*>`)
	attrRE    = regexp.MustCompile(`\s([^\s="'<>/]+)(?:="[^"]*")?`)
	refreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="([^"]*)">`)
)

func openQueue() Queue {
	return Queue{
		Room:       "demo",
		Title:      "Summer Tour 2027 on-sale",
		State:      "open",
		Position:   1234,
		Ahead:      1233,
		ETASeconds: 240,
		PollAfter:  5 * time.Second,
		StatusURL:  "/_usher/status?room=demo",
	}
}

func renderQueue(t *testing.T, q Queue) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderQueue(&b, q); err != nil {
		t.Fatalf("RenderQueue: %v", err)
	}
	return b.String()
}

func renderError(t *testing.T, e Error) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderError(&b, e); err != nil {
		t.Fatalf("RenderError: %v", err)
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
		t.Errorf("%s differs from the rendered page; run go test -update and review the diff\ngot:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	paused := openQueue()
	paused.State = "paused"
	paused.ETASeconds = -1
	paused.PollAfter = 10 * time.Second

	tests := []struct {
		name   string
		render func(t *testing.T) string
	}{
		{"queue-open.golden.html", func(t *testing.T) string { return renderQueue(t, openQueue()) }},
		{"queue-paused.golden.html", func(t *testing.T) string { return renderQueue(t, paused) }},
		{"queue-lottery.golden.html", func(t *testing.T) string {
			q := openQueue()
			q.State, q.Position, q.Ahead, q.ETASeconds = "prequeue", 0, 0, -1
			q.StartsAt = time.Date(2030, 6, 1, 9, 0, 0, 0, time.UTC)
			q.Entry, q.LotteryURL = 12345, "/_usher/lottery?room=demo"
			return renderQueue(t, q)
		}},
		{"error-503.golden.html", func(t *testing.T) string {
			return renderError(t, Error{Status: 503, RetryAfter: 5 * time.Second})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, tt.name, tt.render(t))
		})
	}
}

func TestQueuePageStructure(t *testing.T) {
	page := renderQueue(t, openQueue())
	if n := len(page); n >= 30*1024 {
		t.Errorf("queue page is %d bytes, want under 30 KB", n)
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<title>Waiting room: Summer Tour 2027 on-sale</title>`,
		`<h1>You're in line for Summer Tour 2027 on-sale</h1>`,
		`aria-live="polite"`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<label for="progress">`,
		`<progress id="progress" max="100" value="0">`,
		`You are number <strong>1,234</strong> in line.`,
		`1,233 people are ahead of you.`,
		`Estimated wait: <strong id="wait-value">about 4 minutes</strong>`,
		`you keep your place`,
		`moves on by itself`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	live := regexp.MustCompile(`<p id="place"[^>]*aria-live="polite"[^>]*>You are number`)
	if !live.MatchString(page) {
		t.Error("the place sentence is not inside the aria-live region")
	}
	if strings.Count(page, "<script") != 1 || strings.Count(page, "<style") != 1 {
		t.Error("want exactly one inline script and one inline style")
	}
	for _, ref := range []string{"src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(page, ref) {
			t.Errorf("queue page refers to an outside asset: %q", ref)
		}
	}
}

func TestQueueNoscriptRefresh(t *testing.T) {
	tests := []struct {
		name      string
		pollAfter time.Duration
		want      string
	}{
		{"whole seconds", 5 * time.Second, "5"},
		{"rounded up", 1500 * time.Millisecond, "2"},
		{"at least one second", 200 * time.Millisecond, "1"},
		{"zero means the default", 0, "5"},
		{"negative means the default", -time.Second, "5"},
		{"long", 45 * time.Second, "45"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueue()
			q.PollAfter = tt.pollAfter
			page := renderQueue(t, q)
			noscript := regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="(\d+)"></noscript>`)
			m := noscript.FindStringSubmatch(page)
			if m == nil {
				t.Fatal("no meta refresh inside noscript")
			}
			if m[1] != tt.want {
				t.Errorf("refresh after %s s, want %s", m[1], tt.want)
			}
			head := page[:strings.Index(page, "</head>")]
			if !strings.Contains(head, m[0]) {
				t.Error("the noscript refresh is not in the head")
			}
		})
	}
}

func TestQueueStates(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Queue)
		want    []string
		notWant []string
	}{
		{
			name: "paused",
			edit: func(q *Queue) { q.State = "paused"; q.ETASeconds = -1 },
			want: []string{
				`class="card paused"`,
				`role="status">The sale is paused for a moment. You keep your place.</p>`,
				`<p id="wait" class="wait" hidden>`,
				`You are number <strong>1,234</strong> in line.`,
			},
			notWant: []string{"Estimated wait: <strong id=\"wait-value\">about"},
		},
		{
			name: "next in line",
			edit: func(q *Queue) { q.Position, q.Ahead, q.ETASeconds = 1, 0, 20 },
			want: []string{
				`You are <strong>next</strong> in line.`,
				`Nobody is ahead of you.`,
				`less than a minute`,
			},
		},
		{
			name: "one ahead",
			edit: func(q *Queue) { q.Position, q.Ahead = 2, 1 },
			want: []string{`You are number <strong>2</strong> in line.`, `1 person is ahead of you.`},
		},
		{
			name:    "place unknown",
			edit:    func(q *Queue) { q.Position, q.Ahead, q.ETASeconds = 0, 0, -1 },
			want:    []string{`Finding your place in line…`, `<p id="ahead" class="ahead" hidden></p>`},
			notWant: []string{"ahead of you", "<strong>0</strong>"},
		},
		{
			name: "empty title and state",
			edit: func(q *Queue) { q.Title, q.State = "", "" },
			want: []string{`<h1>You're in line for the sale</h1>`, `data-state="open"`},
		},
		{
			name:    "sold out",
			edit:    func(q *Queue) { q.State = "soldout" },
			want:    []string{`class="card stopped"`, `This sale is sold out.`, `<p id="help" class="help" hidden>`},
			notWant: []string{`http-equiv="refresh"`},
		},
		{
			name: "status URL from the room",
			edit: func(q *Queue) { q.Room, q.StatusURL = "a b&c", "" },
			want: []string{`data-status-url="/_usher/status?room=a&#43;b%26c"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueue()
			tt.edit(&q)
			page := withoutInline(renderQueue(t, q))
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

func TestQueueEscapesHostileValues(t *testing.T) {
	hostile := `</title><script>alert("x")</script>'"<img src=x onerror=alert(1)>`
	tests := []struct {
		name string
		edit func(*Queue)
		want string
	}{
		{"title", func(q *Queue) { q.Title = hostile }, `&lt;/title&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;&lt;img`},
		{"room", func(q *Queue) { q.Room = hostile }, `data-room="&lt;/title&gt;&lt;script&gt;`},
		{"state", func(q *Queue) { q.State = hostile }, `data-state="&lt;/title&gt;`},
		{"status URL", func(q *Queue) { q.StatusURL = `/_usher/status?room="><script>alert(1)</script>` }, `data-status-url="/_usher/status?room=%22%3e%3cscript%3ealert%281%29%3c/script%3e"`},
		{"script URL", func(q *Queue) { q.StatusURL = `javascript:alert(1)` }, `data-status-url="#ZgotmplZ"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueue()
			tt.edit(&q)
			page := renderQueue(t, q)
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
			checkHashes(t, page)
		})
	}
}

func TestNoInlineHandlersOrStyleAttributes(t *testing.T) {
	pages := map[string]string{
		"queue": renderQueue(t, openQueue()),
		"error": renderError(t, Error{Status: 502, RetryAfter: time.Second}),
		"404":   renderError(t, Error{Status: 404}),
	}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			checkNoInlineAttributes(t, page)
		})
	}
}

// withoutInline is page with the text of its script and style elements cut
// out, leaving the markup.
func withoutInline(page string) string {
	page = scriptRE.ReplaceAllString(page, "<script></script>")
	return styleRE.ReplaceAllString(page, "<style></style>")
}

// checkNoInlineAttributes asserts that no start tag in page carries an event
// handler or a style attribute, which the CSP would block. Every attribute
// value the templates write is double-quoted, so a quoted value that merely
// contains "onerror=" is text, not an attribute.
func checkNoInlineAttributes(t *testing.T, page string) {
	t.Helper()
	markup := withoutInline(page)
	tags := tagRE.FindAllStringSubmatch(markup, -1)
	if len(tags) < 10 {
		t.Fatalf("found only %d start tags; the tag pattern no longer fits the markup", len(tags))
	}
	for _, tag := range tags {
		for _, attr := range attrRE.FindAllStringSubmatch(tag[1], -1) {
			name := strings.ToLower(attr[1])
			if strings.HasPrefix(name, "on") || name == "style" {
				t.Errorf("tag %q has attribute %s", tag[0], name)
			}
		}
	}
	if n := strings.Count(markup, "<") - strings.Count(markup, "</") - strings.Count(markup, "<!doctype"); n != len(tags) {
		t.Errorf("%d start tags, but the tag pattern matched %d", n, len(tags))
	}
}

// checkHashes asserts that CSP allows every inline script and style of page
// by the SHA-256 of its exact text.
func checkHashes(t *testing.T, page string) {
	t.Helper()
	policy := CSP()
	check := func(directive string, re *regexp.Regexp) {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			sum := sha256.Sum256([]byte(m[1]))
			source := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(policy, directive+" "+source) {
				t.Errorf("%s does not allow %s (the page's inline text); policy: %s", directive, source, policy)
			}
		}
	}
	check("script-src", scriptRE)
	check("style-src", styleRE)
}

func TestCSP(t *testing.T) {
	pages := map[string]string{
		"queue open":   renderQueue(t, openQueue()),
		"queue paused": renderQueue(t, Queue{Room: "other", State: "paused", ETASeconds: -1}),
		"error":        renderError(t, Error{Status: 504}),
	}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			if !styleRE.MatchString(page) {
				t.Fatal("page has no inline style")
			}
			checkHashes(t, page)
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
			"form-action":     "'none'",
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

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name    string
		err     Error
		refresh string // "" for none
		want    []string
		notWant []string
	}{
		{
			name:    "busy with retry",
			err:     Error{Status: 503, RetryAfter: 5 * time.Second},
			refresh: "5",
			want: []string{
				"<title>The site is busy</title>",
				"<h1>The site is busy</h1>",
				"Many people are trying to get in right now.",
				"This page will try again by itself in 5 seconds.",
				`<a class="button" href="">Try again now</a>`,
				"Error 503",
			},
		},
		{
			name:    "retry rounded up",
			err:     Error{Status: 502, RetryAfter: 1100 * time.Millisecond},
			refresh: "2",
			want:    []string{"try again by itself in 2 seconds."},
		},
		{
			name:    "one second",
			err:     Error{Status: 504, RetryAfter: time.Second},
			refresh: "1",
			want:    []string{"in 1 second."},
		},
		{
			name:    "minutes",
			err:     Error{Status: 503, RetryAfter: 2 * time.Minute},
			refresh: "120",
			want:    []string{"in about 2 minutes."},
		},
		{
			name:    "no retry",
			err:     Error{Status: 502},
			want:    []string{"The site is not answering", "Try again now"},
			notWant: []string{"by itself"},
		},
		{
			name:    "not found",
			err:     Error{Status: 404},
			want:    []string{"<h1>Page not found</h1>", `href="/">Go to the home page`},
			notWant: []string{"Try again now", "by itself"},
		},
		{
			name: "own words",
			err:  Error{Status: 503, Title: "Back soon", Message: "We are moving a few things around."},
			want: []string{"<h1>Back soon</h1>", "<p>We are moving a few things around.</p>"},
		},
		{
			name:    "hostile words",
			err:     Error{Status: 500, Title: `<script>alert(1)</script>`, Message: `"><img src=x>`},
			want:    []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x&gt;"},
			notWant: []string{"<script", "<img"},
		},
		{
			name: "status out of range",
			err:  Error{Status: 200},
			want: []string{"Error 500", "Something went wrong"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderError(t, tt.err)
			m := refreshRE.FindStringSubmatch(page)
			switch {
			case tt.refresh == "" && m != nil:
				t.Errorf("page refreshes after %s s, want no refresh", m[1])
			case tt.refresh != "" && m == nil:
				t.Errorf("page does not refresh, want after %s s", tt.refresh)
			case m != nil && m[1] != tt.refresh:
				t.Errorf("page refreshes after %s s, want %s", m[1], tt.refresh)
			}
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
			if !strings.Contains(page, `<html lang="en">`) {
				t.Error("page has no language")
			}
		})
	}
}

func TestRangeText(t *testing.T) {
	tests := []struct {
		mid       int64
		low, high int64
		want      string
	}{
		{-1, -1, -1, ""},
		{600, 0, 0, "about 10 minutes"}, // no range given
		{600, 700, 800, "about 10 minutes"},
		{40, 30, 50, "less than a minute"},
		{60, 45, 75, "1–2 minutes"},
		{900, 765, 1035, "12–18 minutes"},
		{3600, 3060, 4140, "51–69 minutes"},
		{7200, 6120, 8280, "1½–2½ hours"},
		{100000, 85000, 115000, "more than a day"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := rangeText(tt.mid, [2]int64{tt.low, tt.high}); got != tt.want {
				t.Errorf("rangeText(%d, %d–%d) = %q, want %q", tt.mid, tt.low, tt.high, got, tt.want)
			}
		})
	}
}

func TestWaitText(t *testing.T) {
	tests := []struct {
		seconds int64
		want    string
	}{
		{-1, ""},
		{0, "less than a minute"},
		{59, "less than a minute"},
		{60, "about 1 minute"},
		{89, "about 1 minute"},
		{90, "about 2 minutes"},
		{240, "about 4 minutes"},
		{3569, "about 59 minutes"},
		{3570, "about 1 hour"},
		{4800, "about 1 hour 20 minutes"},
		{4920, "about 1 hour 20 minutes"},
		{4950, "about 1 hour 25 minutes"},
		{7200, "about 2 hours"},
		{86399, "more than a day"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := waitText(tt.seconds); got != tt.want {
				t.Errorf("waitText(%d) = %q, want %q", tt.seconds, got, tt.want)
			}
		})
	}
}

func TestGroup(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{1234, "1,234"},
		{123456, "123,456"},
		{1234567, "1,234,567"},
		{-1234, "-1,234"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := group(tt.n); got != tt.want {
				t.Errorf("group(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

// The script is the same bytes for every visitor, or its hash would not hold.
func TestScriptHasNoPerRequestContent(t *testing.T) {
	a := scriptRE.FindStringSubmatch(renderQueue(t, openQueue()))
	b := scriptRE.FindStringSubmatch(renderQueue(t, Queue{Room: "x", Title: "y", State: "paused", Position: 9, StatusURL: "/s"}))
	if a == nil || b == nil {
		t.Fatal("no script")
	}
	if a[1] != b[1] {
		t.Error("the script differs between two visitors")
	}
	embedded, err := assets.ReadFile("assets/queue.js")
	if err != nil {
		t.Fatal(err)
	}
	if a[1] != string(embedded) {
		t.Error("the page's script is not the embedded script byte for byte")
	}
}

type failingWriter struct{}

var errWrite = errors.New("connection closed")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRenderReportsWriteErrors(t *testing.T) {
	if err := RenderQueue(failingWriter{}, openQueue()); !errors.Is(err, errWrite) {
		t.Errorf("RenderQueue error = %v, want %v", err, errWrite)
	}
	if err := RenderError(failingWriter{}, Error{Status: 503}); !errors.Is(err, errWrite) {
		t.Errorf("RenderError error = %v, want %v", err, errWrite)
	}
}

func BenchmarkRenderQueue(b *testing.B) {
	var buf bytes.Buffer
	q := openQueue()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := RenderQueue(&buf, q); err != nil {
			b.Fatal(err)
		}
	}
}
