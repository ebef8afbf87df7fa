package config

import (
	"strings"
	"testing"
	"time"
)

type room struct {
	ID      string   `yaml:"id"`
	Rate    float64  `yaml:"rate_per_minute"`
	Max     int      `yaml:"max_active"`
	Session Duration `yaml:"session"`
	Paths   []string `yaml:"paths"`
}

type file struct {
	Listen  string            `yaml:"listen"`
	Plain   bool              `yaml:"plain_http"`
	Body    Bytes             `yaml:"max_body"`
	Rooms   []room            `yaml:"rooms"`
	Headers map[string]string `yaml:"headers"`
	Origin  *struct {
		URL string `yaml:"url"`
	} `yaml:"origin"`
	hidden string // never set from YAML: the test checks it is refused
}

func TestDecodeGood(t *testing.T) {
	src := `
listen: 127.0.0.1:8080
plain_http: true
max_body: 16MiB
headers: {X-A: b}
origin:
  url: http://127.0.0.1:8081
rooms:
  - id: demo
    rate_per_minute: 60
    max_active: 1_000
    session: 10m
    paths: ["/events/*"]
`
	var f file
	doc, ps := Decode([]byte(src), &f)
	if err := ps.Err(); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if f.hidden != "" {
		t.Errorf("unexported field set to %q", f.hidden)
	}
	if f.Listen != "127.0.0.1:8080" || !f.Plain || f.Body != 16<<20 || f.Origin.URL != "http://127.0.0.1:8081" || f.Headers["X-A"] != "b" {
		t.Errorf("decoded %+v", f)
	}
	r := f.Rooms[0]
	if r.ID != "demo" || r.Rate != 60 || r.Max != 1000 || time.Duration(r.Session) != 10*time.Minute || r.Paths[0] != "/events/*" {
		t.Errorf("room %+v", r)
	}
	if got := doc.Line("rooms[0].max_active"); got != 11 {
		t.Errorf("Line(rooms[0].max_active) = %d, want 11", got)
	}
	if got := doc.Line("rooms[0].missing"); got != 9 {
		t.Errorf("Line of an absent key falls back to its parent: got %d, want 9", got)
	}
}

func TestDecodeEmptyKeepsDefaults(t *testing.T) {
	f := file{Listen: "default"}
	if _, ps := Decode([]byte("# nothing\n"), &f); ps.Err() != nil || f.Listen != "default" {
		t.Fatalf("empty file: %v, %+v", ps.Err(), f)
	}
	if _, ps := Decode([]byte("listen:\n"), &f); ps.Err() != nil || f.Listen != "default" {
		t.Fatalf("null value: %v, %+v", ps.Err(), f)
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear, in this order
	}{
		{"unknown key with suggestion", "listn: x\n", []string{`line 1: listn: unknown key "listn" (did you mean "listen"?)`}},
		{"unknown nested key", "rooms:\n  - id: a\n    bogus: 1\n", []string{`line 3: rooms[0].bogus: unknown key "bogus"`}},
		{"unexported field is unknown", "hidden: x\n", []string{`line 1: hidden: unknown key`}},
		{"wrong types all at once", "plain_http: yes please\nrooms:\n  - rate_per_minute: fast\n    max_active: 1.5\n    session: 10\n",
			[]string{
				`line 1: plain_http: must be true or false`,
				`line 3: rooms[0].rate_per_minute: must be a number, not "fast"`,
				`line 4: rooms[0].max_active: must be a whole number, not "1.5"`,
				`line 5: rooms[0].session: must be a duration such as 30s or 10m, not "10"`,
			}},
		{"bad size", "max_body: lots\n", []string{`line 1: max_body: must be a size`}},
		{"list expected", "rooms: demo\n", []string{`line 1: rooms: must be a list`}},
		{"mapping expected", "origin: [a]\n", []string{`line 1: origin: must be a mapping`}},
		{"syntax", "listen: [\n", []string{`invalid YAML`}},
		{"duplicate key", "listen: a\nlisten: b\n", []string{`line 2`, `already defined`}},
		{"two documents", "listen: a\n---\nlisten: b\n", []string{`only one YAML document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f file
			_, ps := Decode([]byte(tt.src), &f)
			err := ps.Err()
			if err == nil {
				t.Fatalf("no problem found in %q", tt.src)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("problems\n%s\ndo not contain %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLocateAndOrder(t *testing.T) {
	src := "listen: a\nrooms:\n  - id: x\n    max_active: 0\n"
	var f file
	doc, ps := Decode([]byte(src), &f)
	if ps.Err() != nil {
		t.Fatal(ps.Err())
	}
	ps.Add("USHER_REDIS_URL", "not a URL")
	ps.Add("rooms[0].max_active", "must be at least 1")
	ps.Add("listen", "bad address")
	got := doc.Locate(ps).Err().Error()
	want := "line 1: listen: bad address\nline 4: rooms[0].max_active: must be at least 1\nUSHER_REDIS_URL: not a URL"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]Bytes{"0": 0, "65536": 65536, "16KiB": 16 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30, "500KB": 500e3, "2 MB": 2e6, "10B": 10} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "9999999999GiB", "12XB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

type withDefaults struct {
	Name  string `yaml:"name"`
	Limit int    `yaml:"limit"`
}

func (w *withDefaults) SetDefaults() { w.Limit = 7 }

func TestDefaulter(t *testing.T) {
	var f struct {
		Items []withDefaults          `yaml:"items"`
		ByKey map[string]withDefaults `yaml:"by_key"`
		One   *withDefaults           `yaml:"one"`
	}
	src := "items:\n  - name: a\n  - name: b\n    limit: 3\nby_key:\n  x: {name: x}\none: {name: o}\n"
	if _, ps := Decode([]byte(src), &f); ps.Err() != nil {
		t.Fatal(ps.Err())
	}
	if f.Items[0].Limit != 7 || f.Items[1].Limit != 3 || f.ByKey["x"].Limit != 7 || f.One.Limit != 7 {
		t.Errorf("defaults not applied: %+v %+v %+v", f.Items, f.ByKey, f.One)
	}
}
