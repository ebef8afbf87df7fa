package pages

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var varRE = regexp.MustCompile(`--([a-z-]+):#([0-9a-f]{6}|[0-9a-f]{3})\b`)

// palettes reads the colour variables of the light scheme (the first :root)
// and of the dark one (the :root inside the dark media query).
func palettes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := assets.ReadFile("assets/booking.css")
	if err != nil {
		t.Fatal(err)
	}
	text := string(css)
	light, rest, ok := strings.Cut(text, "@media (prefers-color-scheme:dark)")
	if !ok {
		t.Fatal("the style has no dark scheme")
	}
	dark, _, _ := strings.Cut(rest, "}}")
	out := map[string]map[string]string{}
	for name, block := range map[string]string{"light": light[:strings.Index(light, "}")], "dark": dark} {
		out[name] = map[string]string{}
		for _, m := range varRE.FindAllStringSubmatch(block, -1) {
			hex := m[2]
			if len(hex) == 3 {
				hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
			}
			out[name][m[1]] = hex
		}
	}
	return out
}

// luminance is the WCAG relative luminance of a colour written as rrggbb.
func luminance(hex string) float64 {
	var l [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			l[i] = c / 12.92
		} else {
			l[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// TestContrast checks the pairs of colours that the pages put on top of each
// other, in both schemes: 4.5:1 for text (WCAG 1.4.3), 3:1 for the seats,
// field borders and the focus ring (WCAG 1.4.11).
func TestContrast(t *testing.T) {
	pairs := []struct {
		fg, bg string
		min    float64
	}{
		{"text", "bg", 4.5}, {"text", "card", 4.5}, {"text", "soft", 4.5},
		{"muted", "bg", 4.5}, {"muted", "card", 4.5}, {"muted", "soft", 4.5},
		{"accent", "bg", 4.5}, {"accent", "card", 4.5}, {"on-accent", "accent", 4.5},
		{"note-text", "note-bg", 4.5}, {"bad", "card", 4.5}, {"bad", "soft", 4.5},
		{"ok-text", "ok-bg", 4.5}, {"bad-text", "bad-bg", 4.5},
		{"seat", "card", 3}, {"pick", "card", 3}, {"held", "card", 3}, {"pick-ring", "card", 3},
		{"field", "card", 3}, {"focus", "card", 3}, {"focus", "bg", 3}, {"focus", "seat", 3}, {"ok", "bg", 3}, {"warn", "bg", 3},
	}
	for scheme, colours := range palettes(t) {
		for _, p := range pairs {
			t.Run(scheme+"/"+p.fg+" on "+p.bg, func(t *testing.T) {
				fg, bg := colours[p.fg], colours[p.bg]
				if fg == "" || bg == "" {
					t.Fatalf("the %s scheme lacks --%s or --%s", scheme, p.fg, p.bg)
				}
				if c := contrast(fg, bg); c < p.min {
					t.Errorf("#%s on #%s has contrast %.2f:1, want at least %.1f:1", fg, bg, c, p.min)
				}
			})
		}
	}
}

func TestStyleBasics(t *testing.T) {
	css, err := assets.ReadFile("assets/booking.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		":focus-visible{outline:3px solid var(--focus)",
		".map circle:focus-visible{",
		"@media (prefers-reduced-motion:reduce)",
		"[hidden]{display:none!important}",
	} {
		if !strings.Contains(string(css), want) {
			t.Errorf("the style lacks %q", want)
		}
	}
}
