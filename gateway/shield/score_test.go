package shield_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/gateway/shield"
)

// Real browsers' headers, which must score clean.
const (
	chromeUA        = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	chromeCHUA      = `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`
	chromeAndroidUA = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
	firefoxUA       = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
	safariUA        = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	iphoneUA        = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	edgeUA          = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51"
	samsungUA       = "Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36"
	headlessUA      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
	acceptLanguage  = "en-GB,en;q=0.9,de;q=0.8"
)

// fanAt is a request from a real Chrome at addr.
func fanAt(addr netip.Addr) shield.Request {
	return shield.Request{
		Addr:           addr,
		UserAgent:      []byte(chromeUA),
		AcceptLanguage: []byte(acceptLanguage),
		SecCHUA:        []byte(chromeCHUA),
	}
}

// ip parses an address; tests only pass good ones.
func ip(s string) netip.Addr {
	return netip.MustParseAddr(s)
}

func TestHeaderReasons(t *testing.T) {
	const auto = shield.ReasonAutomationAgent
	tests := []struct {
		name    string
		ua      string
		chua    string
		noLang  bool
		reasons shield.Reason
	}{
		{name: "Chrome", ua: chromeUA, chua: chromeCHUA},
		{name: "Chrome on Android", ua: chromeAndroidUA, chua: chromeCHUA},
		{name: "Firefox", ua: firefoxUA},
		{name: "Safari", ua: safariUA},
		{name: "Safari on iPhone", ua: iphoneUA},
		{name: "Edge", ua: edgeUA, chua: `"Microsoft Edge";v="124", "Chromium";v="124"`},
		{name: "Samsung Internet", ua: samsungUA},

		{name: "no Accept-Language", ua: chromeUA, noLang: true, reasons: shield.ReasonNoAcceptLanguage},

		{name: "empty User-Agent", ua: "", reasons: auto},
		{name: "blank User-Agent", ua: " \t ", reasons: auto},
		{name: "curl", ua: "curl/8.5.0", reasons: auto},
		{name: "curl in capitals", ua: "CURL/8.5.0", reasons: auto},
		{name: "wget", ua: "Wget/1.21.4", reasons: auto},
		{name: "python-requests", ua: "python-requests/2.31.0", reasons: auto},
		{name: "python-urllib", ua: "Python-urllib/3.12", reasons: auto},
		{name: "aiohttp", ua: "Python/3.12 aiohttp/3.9.3", reasons: auto},
		{name: "httpx", ua: "python-httpx/0.27.0", reasons: auto},
		{name: "Go", ua: "Go-http-client/2.0", reasons: auto},
		{name: "okhttp", ua: "okhttp/4.12.0", reasons: auto},
		{name: "Java", ua: "Java/17.0.2", reasons: auto},
		{name: "Apache HttpClient", ua: "Apache-HttpClient/4.5.14 (Java/17.0.2)", reasons: auto},
		{name: "libwww-perl", ua: "libwww-perl/6.76", reasons: auto},
		{name: "node-fetch", ua: "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", reasons: auto},
		{name: "axios", ua: "axios/1.6.8", reasons: auto},
		{name: "undici", ua: "undici", reasons: auto},
		{name: "Scrapy", ua: "Scrapy/2.11.1 (+https://scrapy.org)", reasons: auto},
		{name: "Postman", ua: "PostmanRuntime/7.37.3", reasons: auto},
		{name: "Selenium", ua: chromeUA + " Selenium/4.19", reasons: auto},
		{name: "webdriver", ua: chromeUA + " WebDriver", reasons: auto},
		{name: "puppeteer", ua: "Puppeteer/22.6", reasons: auto},
		{name: "playwright", ua: chromeUA + " Playwright/1.43", reasons: auto},
		{name: "PhantomJS", ua: "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", reasons: auto},
		{name: "tool named after 600 bytes of padding", ua: strings.Repeat("x", 600) + "curl/8", reasons: auto},

		{name: "headless in User-Agent", ua: headlessUA, reasons: shield.ReasonHeadless},
		{name: "headless in Sec-CH-UA", ua: chromeUA, chua: `"HeadlessChrome";v="124", "Chromium";v="124"`, reasons: shield.ReasonHeadless},
		{name: "headless in lower case", ua: strings.ToLower(headlessUA), reasons: shield.ReasonHeadless},

		{name: "everything", ua: "", chua: `"HeadlessChrome";v="124"`, noLang: true, reasons: shield.ReasonNoAcceptLanguage | auto | shield.ReasonHeadless},
		{name: "headless puppeteer", ua: headlessUA + " Puppeteer", reasons: auto | shield.ReasonHeadless},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := shield.Request{Addr: v4(1), UserAgent: []byte(tt.ua), SecCHUA: []byte(tt.chua)}
			if !tt.noLang {
				r.AcceptLanguage = []byte(acceptLanguage)
			}
			if got := shield.HeaderReasons(r); got != tt.reasons {
				t.Errorf("HeaderReasons = %q, want %q", got, tt.reasons)
			}
		})
	}
}

// TestHeaderReasonsAnywhere puts a tool's name at every position of a header
// longer than any real one, from the first byte to the last.
func TestHeaderReasonsAnywhere(t *testing.T) {
	for _, tok := range []string{"curl", "Apache-HttpClient"} {
		for at := 0; at < 1200; at++ {
			ua := strings.Repeat("y", at) + tok + strings.Repeat("z", at%3)
			r := shield.Request{UserAgent: []byte(ua), AcceptLanguage: []byte(acceptLanguage)}
			if got := shield.HeaderReasons(r); got != shield.ReasonAutomationAgent {
				t.Fatalf("%q at %d: HeaderReasons = %q, want automation_agent", tok, at, got)
			}
		}
	}
}

// FuzzHeaderReasons checks HeaderReasons against the plain way of doing it:
// lowering the whole header and searching it.
func FuzzHeaderReasons(f *testing.F) {
	f.Add(chromeUA, chromeCHUA, acceptLanguage)
	f.Add("", "", "")
	f.Add(strings.Repeat("a", 490)+"HeadlessChrome", "", "en")
	f.Add("Mozilla/5.0 python-REQUESTS", `"HeadlessChrome"`, " ")
	tools := []string{
		"curl", "wget", "python-requests", "python-urllib", "aiohttp", "httpx",
		"go-http-client", "okhttp", "java/", "apache-httpclient", "libwww-perl",
		"node-fetch", "axios", "undici", "scrapy", "postmanruntime", "selenium",
		"webdriver", "puppeteer", "playwright", "phantomjs",
	}
	lower := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	f.Fuzz(func(t *testing.T, ua, chua, lang string) {
		var want shield.Reason
		if strings.TrimSpace(lang) == "" {
			want |= shield.ReasonNoAcceptLanguage
		}
		lua := lower(strings.TrimSpace(ua))
		if lua == "" || slices.ContainsFunc(tools, func(tool string) bool { return strings.Contains(lua, tool) }) {
			want |= shield.ReasonAutomationAgent
		}
		if strings.Contains(lua, "headlesschrome") || strings.Contains(lower(chua), "headlesschrome") {
			want |= shield.ReasonHeadless
		}
		r := shield.Request{UserAgent: []byte(ua), SecCHUA: []byte(chua), AcceptLanguage: []byte(lang)}
		if got := shield.HeaderReasons(r); got != want {
			t.Errorf("HeaderReasons(%q, %q, %q) = %q, want %q", ua, chua, lang, got, want)
		}
	})
}

func TestSubnet(t *testing.T) {
	tests := []struct {
		addr, want netip.Addr
	}{
		{ip("203.0.113.77"), ip("203.0.113.0")},
		{ip("::ffff:203.0.113.77"), ip("203.0.113.0")},
		{ip("2001:db8:1234:5678::1"), ip("2001:db8:1234::")},
		{ip("2001:db8:1234:ffff:1:2:3:4"), ip("2001:db8:1234::")},
		{ip("fe80::1%eth0"), ip("fe80::")},
		{netip.Addr{}, netip.Addr{}},
	}
	for _, tt := range tests {
		if got := shield.Subnet(tt.addr); got != tt.want {
			t.Errorf("Subnet(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestReasonScore(t *testing.T) {
	tests := []struct {
		reasons shield.Reason
		score   int
	}{
		{0, 0},
		{shield.ReasonNoAcceptLanguage, 15},
		{shield.ReasonAutomationAgent, 50},
		{shield.ReasonHeadless, 50},
		{shield.ReasonJoinRate, 40},
		{shield.ReasonSubnetJoinRate, 20},
		{shield.ReasonFastPoll, 30},
		{shield.ReasonCookielessJoins, 40},
		{shield.ReasonPassSpread, 60},
		{shield.ReasonFailedChallenges, 25},
		{shield.ReasonCrowdedAddress, 40},
		{shield.ReasonNoAcceptLanguage | shield.ReasonJoinRate, 55},
		{shield.ReasonSubnetJoinRate | shield.ReasonFailedChallenges | shield.ReasonNoAcceptLanguage, 60},
		{shield.ReasonAutomationAgent | shield.ReasonHeadless, 100},
		{shield.ReasonPassSpread | shield.ReasonFailedChallenges | shield.ReasonNoAcceptLanguage, 100},
		{shield.ReasonAutomationAgent | shield.ReasonHeadless | shield.ReasonPassSpread, 100},
		{^shield.Reason(0), 100},
		{1 << 20, 0}, // not a reason
	}
	for _, tt := range tests {
		if got := tt.reasons.Score(); got != tt.score {
			t.Errorf("(%v).Score() = %d, want %d", tt.reasons, got, tt.score)
		}
	}
	if got := (^shield.Reason(0)).Weight(); got != 370 {
		t.Errorf("Weight of every reason = %d, want 370, uncapped", got)
	}
}

func TestReasonNames(t *testing.T) {
	want := []string{
		"no_accept_language", "automation_agent", "headless", "join_rate",
		"subnet_join_rate", "fast_poll", "cookieless_joins", "pass_spread",
		"failed_challenges", "crowded_address",
	}
	if len(shield.AllReasons) != len(want) {
		t.Fatalf("AllReasons has %d reasons, want %d", len(shield.AllReasons), len(want))
	}
	var all shield.Reason
	for i, r := range shield.AllReasons {
		if r != 1<<i {
			t.Errorf("AllReasons[%d] = %#x, want %#x", i, uint32(r), 1<<i)
		}
		if got := r.Name(); got != want[i] {
			t.Errorf("AllReasons[%d].Name() = %q, want %q", i, got, want[i])
		}
		if got := r.String(); got != want[i] {
			t.Errorf("AllReasons[%d].String() = %q, want %q", i, got, want[i])
		}
		all |= r
	}
	if got := all.Names(); !slices.Equal(got, want) {
		t.Errorf("Names of all = %q, want %q", got, want)
	}

	tests := []struct {
		reasons shield.Reason
		name    string
		names   []string
		str     string
	}{
		{0, "", nil, ""},
		{shield.ReasonPassSpread, "pass_spread", []string{"pass_spread"}, "pass_spread"},
		{
			shield.ReasonFailedChallenges | shield.ReasonNoAcceptLanguage | shield.ReasonFastPoll,
			"",
			[]string{"no_accept_language", "fast_poll", "failed_challenges"},
			"no_accept_language,fast_poll,failed_challenges",
		},
		{1 << 20, "", nil, ""},
		{shield.ReasonHeadless | 1<<20, "", []string{"headless"}, "headless"},
	}
	for _, tt := range tests {
		if got := tt.reasons.Name(); got != tt.name {
			t.Errorf("(%#x).Name() = %q, want %q", uint32(tt.reasons), got, tt.name)
		}
		if got := tt.reasons.Names(); !slices.Equal(got, tt.names) {
			t.Errorf("(%#x).Names() = %q, want %q", uint32(tt.reasons), got, tt.names)
		}
		if got := tt.reasons.String(); got != tt.str {
			t.Errorf("(%#x).String() = %q, want %q", uint32(tt.reasons), got, tt.str)
		}
	}
}

// joinStep is one join in a scripted sequence.
type joinStep struct {
	at        time.Duration // after t0
	addr      netip.Addr
	hadTicket bool
	want      shield.Reason
}

// repeatJoin returns n joins from addrs(i), all at one time.
func repeatJoin(n int, at time.Duration, addr func(i int) netip.Addr, hadTicket bool, want shield.Reason) []joinStep {
	out := make([]joinStep, n)
	for i := range out {
		out[i] = joinStep{at: at, addr: addr(i), hadTicket: hadTicket, want: want}
	}
	return out
}

func one(addr netip.Addr) func(int) netip.Addr {
	return func(int) netip.Addr { return addr }
}

// inSubnet4 is the i-th address of 198.51.100.0/24.
func inSubnet4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
}

// inSubnet6 is an address in the i-th /64 of 2001:db8:aaaa::/48.
func inSubnet6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xaa, byte(i >> 8), byte(i), 15: 1})
}

// eachSubnet4 is an address in the i-th /24 of 10.0.0.0/8.
func eachSubnet4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7})
}

func TestJoin(t *testing.T) {
	const (
		rate       = shield.ReasonJoinRate
		subnetRate = shield.ReasonSubnetJoinRate
		cookieless = shield.ReasonCookielessJoins
	)
	addr := ip("192.0.2.10")
	tests := []struct {
		name  string
		cfg   shield.ScorerConfig
		steps []joinStep
	}{
		{
			name: "an address over its allowance of 10",
			steps: slices.Concat(
				repeatJoin(10, 0, one(addr), true, 0),
				repeatJoin(3, 0, one(addr), true, rate),
				// A token every 6 seconds.
				repeatJoin(1, 5*time.Second, one(addr), true, rate),
				repeatJoin(1, 6*time.Second, one(addr), true, 0),
				repeatJoin(1, 6*time.Second, one(addr), true, rate),
				// Refilled to 10 after a minute, and no further.
				repeatJoin(10, 2*time.Minute, one(addr), true, 0),
				repeatJoin(1, 2*time.Minute, one(addr), true, rate),
			),
		},
		{
			name: "a flagged address keeps its record",
			steps: slices.Concat(
				repeatJoin(10, 0, one(addr), true, 0),
				// Joining every second while flagged resets nothing:
				// each join is flagged until the next token is due.
				repeatJoin(1, 1*time.Second, one(addr), true, rate),
				repeatJoin(1, 2*time.Second, one(addr), true, rate),
				repeatJoin(1, 3*time.Second, one(addr), true, rate),
				repeatJoin(1, 6*time.Second, one(addr), true, 0),
			),
		},
		{
			name: "a custom allowance",
			cfg:  shield.ScorerConfig{JoinsPerMinute: 2},
			steps: slices.Concat(
				repeatJoin(2, 0, one(addr), true, 0),
				repeatJoin(1, 0, one(addr), true, rate),
				repeatJoin(1, 30*time.Second, one(addr), true, 0),
			),
		},
		{
			name: "addresses of one IPv6 /64 share an allowance",
			steps: slices.Concat(
				repeatJoin(10, 0, func(i int) netip.Addr {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(i)})
				}, true, 0),
				repeatJoin(1, 0, one(ip("2001:db8:100::ff")), true, rate),
				repeatJoin(1, 0, one(ip("2001:db8:100:1::1")), true, 0),
			),
		},
		{
			name: "many addresses in one /24",
			steps: slices.Concat(
				repeatJoin(120, 0, inSubnet4, true, 0),
				repeatJoin(5, 0, func(i int) netip.Addr { return inSubnet4(200 + i) }, true, subnetRate),
				repeatJoin(1, 0, one(ip("198.51.101.1")), true, 0),
				// Two tokens a second for the /24.
				repeatJoin(1, time.Second, one(inSubnet4(250)), true, 0),
				repeatJoin(1, time.Second, one(inSubnet4(251)), true, 0),
				repeatJoin(1, time.Second, one(inSubnet4(252)), true, subnetRate),
			),
		},
		{
			name: "many /64s in one IPv6 /48",
			steps: slices.Concat(
				repeatJoin(120, 0, inSubnet6, true, 0),
				repeatJoin(5, 0, func(i int) netip.Addr { return inSubnet6(1000 + i) }, true, subnetRate),
				repeatJoin(1, 0, one(ip("2001:db8:aaab::1")), true, 0),
			),
		},
		{
			name: "one address over both allowances",
			cfg:  shield.ScorerConfig{SubnetJoinsPerMinute: 12},
			steps: slices.Concat(
				repeatJoin(10, 0, one(addr), true, 0),
				repeatJoin(2, 0, one(ip("192.0.2.11")), true, 0),
				repeatJoin(1, 0, one(ip("192.0.2.12")), true, subnetRate),
				repeatJoin(1, 0, one(addr), true, rate|subnetRate),
			),
		},
		{
			name:  "as many /24s as joins",
			steps: repeatJoin(1000, 0, eachSubnet4, true, 0),
		},
		{
			name: "joins without a ticket",
			steps: slices.Concat(
				repeatJoin(3, 0, one(addr), false, 0),
				repeatJoin(2, 0, one(addr), false, cookieless),
				// Joins with a ticket are not counted, and not flagged.
				repeatJoin(3, 0, one(addr), true, 0),
				repeatJoin(1, time.Minute, one(addr), false, cookieless),
				// Three tokens every 10 minutes: one every 200 seconds.
				repeatJoin(1, 200*time.Second, one(addr), false, 0),
				repeatJoin(1, 200*time.Second, one(addr), false, cookieless),
				repeatJoin(3, 30*time.Minute, one(addr), false, 0),
				repeatJoin(1, 30*time.Minute, one(addr), false, cookieless),
			),
		},
		{
			name: "cookieless joins are counted per address",
			steps: slices.Concat(
				repeatJoin(3, 0, one(addr), false, 0),
				repeatJoin(3, 0, one(ip("192.0.2.11")), false, 0),
				repeatJoin(1, 0, one(addr), false, cookieless),
			),
		},
		{
			name: "a custom cookieless allowance",
			cfg:  shield.ScorerConfig{CookielessJoins: 1},
			steps: slices.Concat(
				repeatJoin(1, 0, one(addr), false, 0),
				repeatJoin(1, 0, one(addr), false, cookieless),
				repeatJoin(1, 10*time.Minute, one(addr), false, 0),
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shield.NewScorer(tt.cfg)
			for i, st := range tt.steps {
				got := s.Join(fanAt(st.addr), st.hadTicket, t0.Add(st.at))
				if got != st.want {
					t.Fatalf("join %d (%v at %v, ticket %v) = %q, want %q", i, st.addr, st.at, st.hadTicket, got, st.want)
				}
			}
		})
	}
}

func TestJoinIncludesHeaderReasons(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	r := shield.Request{Addr: v4(1), UserAgent: []byte("curl/8.5.0")}
	want := shield.ReasonNoAcceptLanguage | shield.ReasonAutomationAgent
	if got := s.Join(r, true, t0); got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
}

func TestFailedChallenges(t *testing.T) {
	addr, other := ip("192.0.2.10"), ip("192.0.2.11")
	tests := []struct {
		name     string
		cfg      shield.ScorerConfig
		failures []time.Duration // when addr fails, after t0
		at       time.Duration   // when to look
		want     bool
	}{
		{name: "none", at: 0, want: false},
		{name: "three at once are allowed", failures: []time.Duration{0, 0, 0}, at: 0, want: false},
		{name: "the fourth at once", failures: []time.Duration{0, 0, 0, 0}, at: 0, want: true},
		{name: "the fourth, 9 minutes on", failures: []time.Duration{0, 0, 0, 0}, at: 9*time.Minute + 59*time.Second, want: true},
		{name: "the fourth, 10 minutes on", failures: []time.Duration{0, 0, 0, 0}, at: 10 * time.Minute, want: false},
		{name: "four spread over ten minutes", failures: []time.Duration{0, 3 * time.Minute, 6 * time.Minute, 9 * time.Minute}, at: 9 * time.Minute, want: false},
		{name: "five within four minutes", failures: []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute}, at: 4 * time.Minute, want: true},
		{name: "within the allowance again later", failures: []time.Duration{0, 0, 0, 0, 5 * time.Minute}, at: 10 * time.Minute, want: false},
		{name: "over the allowance again later", failures: []time.Duration{0, 0, 0, 0, 5 * time.Minute, 5 * time.Minute}, at: 14 * time.Minute, want: true},
		{name: "one allowed", cfg: shield.ScorerConfig{FailedChallenges: 1}, failures: []time.Duration{0, 0}, at: time.Minute, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shield.NewScorer(tt.cfg)
			for _, at := range tt.failures {
				s.FailedChallenge(addr, t0.Add(at))
			}
			now := t0.Add(tt.at)
			// Reading the signal spends nothing, however often.
			for range 10 {
				if got := s.Failures(addr, now); got != tt.want {
					t.Fatalf("Failures = %v, want %v", got, tt.want)
				}
			}
			want := shield.Reason(0)
			if tt.want {
				want = shield.ReasonFailedChallenges
			}
			if got := s.Join(fanAt(addr), true, now); got != want {
				t.Errorf("Join = %q, want %q", got, want)
			}
			if s.Failures(other, now) {
				t.Errorf("another address is failed out too")
			}
			if got := s.Poll(fanAt(addr), "v1", 5*time.Second, now); got != 0 {
				t.Errorf("Poll = %q, want clean: failures are a join signal", got)
			}
		})
	}
}

// tab is one browser tab's polling: its first poll, then one every every.
type tab struct {
	first, every time.Duration
}

// polls merges the tabs' polls until end into one sequence of times.
func polls(end time.Duration, tabs ...tab) []time.Duration {
	var out []time.Duration
	for _, tb := range tabs {
		for at := tb.first; at < end; at += tb.every {
			out = append(out, at)
		}
	}
	slices.Sort(out)
	return out
}

func TestFastPoll(t *testing.T) {
	const p = 5 * time.Second
	const hour = time.Hour
	tests := []struct {
		name      string
		pollAfter time.Duration
		times     []time.Duration
		wantFast  int // polls flagged at most, or, when negative, at least -wantFast
	}{
		{name: "one tab at pace", pollAfter: p, times: polls(hour, tab{0, p})},
		{name: "one tab with latency", pollAfter: p, times: polls(hour, tab{0, p + 180*time.Millisecond})},
		{name: "two tabs in phase", pollAfter: p, times: polls(hour, tab{0, p}, tab{0, p})},
		{name: "two tabs out of phase", pollAfter: p, times: polls(hour, tab{0, p}, tab{1700 * time.Millisecond, p})},
		{name: "three tabs in phase", pollAfter: p, times: polls(hour, tab{0, p}, tab{0, p}, tab{0, p})},
		{name: "three tabs spread", pollAfter: p, times: polls(hour, tab{0, p}, tab{100 * time.Millisecond, p}, tab{3 * time.Second, p})},
		{name: "a tab polling at PollSlack", pollAfter: p, times: polls(hour, tab{0, p / 2})},
		{name: "three tabs each at PollSlack", pollAfter: p, times: polls(hour, tab{0, p / 2}, tab{0, p / 2}, tab{time.Second, p / 2})},
		{name: "a reload: three polls at once", pollAfter: p, times: slices.Concat(polls(time.Minute, tab{0, p}), []time.Duration{time.Minute, time.Minute, time.Minute}, polls(hour, tab{time.Minute + p, p}))},

		{name: "four tabs each at PollSlack", pollAfter: p, times: polls(time.Minute, tab{0, p / 2}, tab{0, p / 2}, tab{0, p / 2}, tab{0, p / 2}), wantFast: -20},
		{name: "a bot ten times as fast", pollAfter: p, times: polls(time.Minute, tab{0, p / 10}), wantFast: -40},
		{name: "a bot flat out", pollAfter: p, times: polls(time.Second, tab{0, time.Millisecond}), wantFast: -990},
		{name: "unjudged without an interval", pollAfter: 0, times: polls(time.Second, tab{0, time.Millisecond})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shield.NewScorer(shield.ScorerConfig{})
			fast := 0
			for _, at := range tt.times {
				got := s.Poll(fanAt(v4(1)), "visitor-1", tt.pollAfter, t0.Add(at))
				switch got {
				case 0:
				case shield.ReasonFastPoll:
					fast++
				default:
					t.Fatalf("Poll at %v = %q", at, got)
				}
			}
			if tt.wantFast >= 0 && fast > tt.wantFast {
				t.Errorf("%d of %d polls fast, want at most %d", fast, len(tt.times), tt.wantFast)
			}
			if tt.wantFast < 0 && fast < -tt.wantFast {
				t.Errorf("%d of %d polls fast, want at least %d", fast, len(tt.times), -tt.wantFast)
			}
		})
	}
}

func TestFastPollPerVisitor(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	const p = 5 * time.Second
	// A bot and a fan behind one address: the bot is flagged, the fan not.
	addr := ip("192.0.2.10")
	now := t0
	botFast := 0
	for i := range 200 {
		now = now.Add(100 * time.Millisecond)
		if s.Poll(fanAt(addr), "bot", p, now) != 0 {
			botFast++
		}
		if i%50 == 0 {
			if got := s.Poll(fanAt(addr), "fan", p, now); got != 0 {
				t.Fatalf("fan's poll at %v = %q, want clean", now.Sub(t0), got)
			}
		}
	}
	if botFast < 150 {
		t.Errorf("bot flagged on %d of 200 polls, want at least 150", botFast)
	}
	// One visitor seen from two addresses is still one visitor.
	for i := range 10 {
		got := s.Poll(fanAt(v4(uint32(i))), "roamer", p, t0)
		if want := i >= 3; (got == shield.ReasonFastPoll) != want {
			t.Fatalf("roamer's poll %d = %q, want fast %v", i, got, want)
		}
	}
}

func TestFastPollIntervalChanges(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	// Far back, two tabs poll every minute; near the front the interval
	// drops to two seconds, and nothing is owed from the long intervals.
	now := t0
	for range 30 {
		now = now.Add(time.Minute)
		for range 2 {
			if got := s.Poll(fanAt(v4(1)), "v", time.Minute, now); got != 0 {
				t.Fatalf("poll at %v = %q", now.Sub(t0), got)
			}
		}
	}
	for range 100 {
		now = now.Add(2 * time.Second)
		for range 2 {
			if got := s.Poll(fanAt(v4(1)), "v", 2*time.Second, now); got != 0 {
				t.Fatalf("poll at %v = %q", now.Sub(t0), got)
			}
		}
	}
}

func TestPollFromCrowdedAddress(t *testing.T) {
	crowded, other, ticketed := ip("192.0.2.10"), ip("192.0.2.11"), ip("192.0.2.12")
	s := shield.NewScorer(shield.ScorerConfig{JoinsPerMinute: 2, CookielessJoins: 2})
	// Two places from one address are within the allowances: their polls
	// are clean.
	for range 2 {
		if got := s.Join(fanAt(crowded), false, t0); got != 0 {
			t.Fatalf("Join within the allowance = %q", got)
		}
	}
	if got := s.Poll(fanAt(crowded), "first", 5*time.Second, t0); got != 0 {
		t.Fatalf("Poll before the address went over = %q, want clean", got)
	}
	// The third goes over both: from then on every poll from the address
	// shows it, the first places' included, for ten minutes.
	if got := s.Join(fanAt(crowded), false, t0); got != shield.ReasonJoinRate|shield.ReasonCookielessJoins {
		t.Fatalf("Join over the allowances = %q", got)
	}
	// Over the join rate alone, with a ticket cookie, is crowded too.
	for range 3 {
		s.Join(fanAt(ticketed), true, t0)
	}
	tests := []struct {
		addr netip.Addr
		at   time.Duration
		want shield.Reason
	}{
		{crowded, time.Second, shield.ReasonCrowdedAddress},
		{ticketed, time.Second, shield.ReasonCrowdedAddress},
		{crowded, 9*time.Minute + 59*time.Second, shield.ReasonCrowdedAddress},
		{other, time.Second, 0},
		{crowded, 10 * time.Minute, 0},
	}
	for i, tt := range tests {
		// A visitor of its own each time, so the pace of polls is not judged.
		if got := s.Poll(fanAt(tt.addr), fmt.Sprint("v", i), 5*time.Second, t0.Add(tt.at)); got != tt.want {
			t.Errorf("Poll from %v at %v = %q, want %q", tt.addr, tt.at, got, tt.want)
		}
		if got := s.Crowded(tt.addr, t0.Add(tt.at)); got != (tt.want != 0) {
			t.Errorf("Crowded(%v) at %v = %v", tt.addr, tt.at, got)
		}
	}
	// A later join over an allowance marks it again, for ten minutes from
	// then.
	for range 3 {
		s.Join(fanAt(crowded), true, t0.Add(10*time.Minute))
	}
	if !s.Crowded(crowded, t0.Add(19*time.Minute)) || s.Crowded(crowded, t0.Add(20*time.Minute)) {
		t.Errorf("the second mark does not last ten minutes from the join that went over")
	}
}

func TestPollIncludesHeaderReasons(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	r := shield.Request{Addr: v4(1), UserAgent: []byte(headlessUA), AcceptLanguage: []byte(acceptLanguage)}
	if got := s.Poll(r, "v", 5*time.Second, t0); got != shield.ReasonHeadless {
		t.Errorf("Poll = %q, want headless", got)
	}
}

func TestPollClockStepsBack(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	const p = 5 * time.Second
	s.Poll(fanAt(v4(1)), "v", p, t0.Add(time.Hour))
	// The wall clock steps back an hour: polls at pace from there on stay
	// clean, rather than piling up until the hour has passed again.
	now := t0
	fast := 0
	for range 100 {
		now = now.Add(p)
		if s.Poll(fanAt(v4(1)), "v", p, now) != 0 {
			fast++
		}
	}
	if fast > 0 {
		t.Errorf("%d of 100 polls at pace after the clock stepped back are fast", fast)
	}
}

// passStep is one use of a pass.
type passStep struct {
	at   time.Duration // after t0
	addr netip.Addr
	want bool // ReasonPassSpread
}

func TestPassSpread(t *testing.T) {
	var (
		home    = ip("203.0.113.20")
		mobile  = ip("198.51.100.99")
		mobile2 = ip("198.51.100.201") // same carrier /24, another address
		venue   = ip("192.0.2.33")
		venue6  = ip("2001:db8:beef:1::77")
		venue6b = ip("2001:db8:beef:2::99") // another /64 in the same /48
		fourth  = ip("100.64.7.8")
		fifth   = ip("2001:db8:cafe::1")
	)
	// switching alternates a and b every minute from from to to.
	switching := func(from, to time.Duration, a, b netip.Addr) []passStep {
		var out []passStep
		for at := from; at < to; at += time.Minute {
			addr := a
			if (at/time.Minute)%2 == 1 {
				addr = b
			}
			out = append(out, passStep{at: at, addr: addr})
		}
		return out
	}
	tests := []struct {
		name  string
		cfg   shield.ScorerConfig
		steps []passStep
	}{
		{name: "one network", steps: []passStep{{0, home, false}, {time.Minute, home, false}, {time.Hour, home, false}}},
		{name: "Wi-Fi and mobile data back and forth", steps: switching(0, 3*time.Hour, home, mobile)},
		{name: "mobile data changing address within its /24", steps: switching(0, time.Hour, mobile, mobile2)},
		{name: "IPv6 addresses within one /48", steps: switching(0, time.Hour, venue6, venue6b)},
		{
			name: "home, mobile, venue, all day",
			steps: slices.Concat(
				switching(0, time.Hour, home, mobile),
				[]passStep{{61 * time.Minute, venue, false}},
				switching(62*time.Minute, 5*time.Hour, venue, mobile),
			),
		},
		{
			name: "five networks",
			steps: []passStep{
				{0, home, false},
				{time.Second, mobile, false},
				{2 * time.Second, venue, false},
				{3 * time.Second, fourth, true},
				{4 * time.Second, fifth, true},
				// Flagged from every network while the spread lasts,
				// even one seen before.
				{5 * time.Second, home, true},
				{6 * time.Second, venue, true},
			},
		},
		{
			name: "five networks a minute apart, then one an hour later",
			steps: []passStep{
				{0, home, false},
				{time.Minute, mobile, false},
				{2 * time.Minute, venue, false},
				{3 * time.Minute, fourth, true},
				{4 * time.Minute, fifth, true},
				{4*time.Minute + time.Hour, fifth, false},
			},
		},
		{
			name: "networks unseen for an hour stop counting",
			steps: []passStep{
				{0, home, false},
				{0, mobile, false},
				{0, venue, false},
				{time.Hour, fourth, false},
				{time.Hour, fifth, false},
				{time.Hour, venue6, false},
			},
		},
		{
			name: "a network seen again stays counted",
			steps: []passStep{
				{0, home, false},
				{0, mobile, false},
				{0, venue, false},
				{30 * time.Minute, home, false},
				{30 * time.Minute, mobile, false},
				{30 * time.Minute, venue, false},
				{70 * time.Minute, fourth, true},
			},
		},
		{
			name: "two networks allowed",
			cfg:  shield.ScorerConfig{PassNetworks: 2},
			steps: []passStep{
				{0, home, false},
				{0, mobile, false},
				{0, venue, true},
			},
		},
		{
			name: "more than MaxPassNetworks is taken as that",
			cfg:  shield.ScorerConfig{PassNetworks: 100},
			steps: func() []passStep {
				var out []passStep
				for i := range shield.MaxPassNetworks + 2 {
					out = append(out, passStep{addr: eachSubnet4(i), want: i >= shield.MaxPassNetworks})
				}
				return out
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := shield.NewScorer(tt.cfg)
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				got := s.Pass(fanAt(st.addr), "pass-holder", now)
				if got != 0 && got != shield.ReasonPassSpread {
					t.Fatalf("use %d: Pass = %q", i, got)
				}
				if (got == shield.ReasonPassSpread) != st.want {
					t.Fatalf("use %d (%v at %v): Pass = %q, want spread %v", i, st.addr, st.at, got, st.want)
				}
				// Another visitor on the same network is not affected.
				if got := s.Pass(fanAt(st.addr), fmt.Sprint("neighbour-", i), now); got != 0 {
					t.Fatalf("use %d: another visitor's Pass = %q", i, got)
				}
				// Sweeping forgets nothing that still counts.
				s.Sweep(now)
			}
		})
	}
}

func TestPassIgnoresHeaders(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	r := shield.Request{Addr: v4(1), UserAgent: []byte("curl/8.5.0")}
	if got := s.Pass(r, "v", t0); got != 0 {
		t.Errorf("Pass = %q, want clean: headers are judged at join", got)
	}
}

func TestScorerSweep(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{FailedChallenges: 1, CookielessJoins: 1})
	for i := range 100 {
		addr := mixed(i)
		s.Join(fanAt(addr), false, t0)
		s.Join(fanAt(addr), false, t0) // over the cookieless allowance: crowded
		s.FailedChallenge(addr, t0)
		s.FailedChallenge(addr, t0)
		s.Poll(fanAt(addr), fmt.Sprint("v", i), time.Second, t0)
		s.Pass(fanAt(addr), fmt.Sprint("v", i), t0)
	}
	// The IPv4 addresses share a /24 and the IPv6 ones a /48.
	full := shield.ScorerLen{Joins: 100, Subnets: 2, Cookieless: 100, Failures: 100, FailedOut: 100, Crowded: 100, Polls: 100, Passes: 100}
	tests := []struct {
		at   time.Duration
		want shield.ScorerLen
	}{
		{59 * time.Second, full},
		// Join buckets have refilled after a minute.
		{time.Minute, shield.ScorerLen{Cookieless: 100, Failures: 100, FailedOut: 100, Crowded: 100, Polls: 100, Passes: 100}},
		// The 10-minute windows and poll records have run out.
		{10 * time.Minute, shield.ScorerLen{Passes: 100}},
		{time.Hour, shield.ScorerLen{}},
	}
	if got := s.Len(); got != full {
		t.Fatalf("Len = %+v, want %+v", got, full)
	}
	for _, tt := range tests {
		s.Sweep(t0.Add(tt.at))
		if got := s.Len(); got != tt.want {
			t.Errorf("after Sweep at %v: Len = %+v, want %+v", tt.at, got, tt.want)
		}
	}
}

// bytesPerScorerClient bounds the heap a Scorer takes for each client it
// holds in every table: four Limiter buckets (bytesPerBucket each), two
// 32-byte marks (failed out, crowded), a 40-byte poll record and an
// 88-byte record of pass networks, each with its index slot and a third of
// the index empty. TestScorerFlood logs what it measures.
const bytesPerScorerClient = 4*bytesPerBucket + 2*48 + 60 + 120

func TestScorerFlood(t *testing.T) {
	const (
		bound = 10_000
		flood = 200_000
	)
	before := heapInUse()
	s := shield.NewScorer(shield.ScorerConfig{MaxClients: bound, FailedChallenges: 1, CookielessJoins: 1})
	var visitor []byte
	for i := range flood {
		// Headers are beside the point here, and cheapest left out.
		r := shield.Request{Addr: mixed(i)}
		visitor = fmt.Appendf(visitor[:0], "visitor-%d", i)
		s.Join(r, false, t0)
		s.Join(r, false, t0)
		s.FailedChallenge(r.Addr, t0)
		s.FailedChallenge(r.Addr, t0)
		s.Poll(r, string(visitor), 5*time.Second, t0)
		s.Pass(r, string(visitor), t0)
		if i%10_000 == 0 {
			if n := s.Len().Max(); n > bound {
				t.Fatalf("after %d clients: Len = %+v, over %d", i, s.Len(), bound)
			}
		}
	}
	// Every table but the subnets' (the flood spans a few hundred) is full.
	got := s.Len()
	want := shield.ScorerLen{Joins: bound, Subnets: got.Subnets, Cookieless: bound, Failures: bound, FailedOut: bound, Crowded: bound, Polls: bound, Passes: bound}
	if got != want || got.Subnets > bound {
		t.Fatalf("Len = %+v, want %+v", got, want)
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew %d bytes: %d bytes for each of %d clients", grown, grown/bound, bound)
	if limit := int64(bound * bytesPerScorerClient); grown > limit {
		t.Errorf("heap grew %d bytes, want at most %d (%d for each of %d clients)", grown, limit, bytesPerScorerClient, bound)
	}
	// The scorer still works after the flood.
	if got := s.Join(fanAt(ip("192.0.2.1")), true, t0); got != 0 {
		t.Errorf("a fan's Join after the flood = %q", got)
	}
	s.Sweep(t0.Add(time.Hour))
	if got := s.Len(); got != (shield.ScorerLen{}) {
		t.Errorf("after Sweep: Len = %+v, want all zero", got)
	}
	if left := int64(heapInUse()) - int64(before); left > 1<<20 {
		t.Errorf("heap still %d bytes above where it started after Sweep, want under 1 MiB", left)
	}
	runtime.KeepAlive(s)
}

func TestScorerConcurrent(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	addr := ip("192.0.2.10")
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	clean := 0
	for g := range goroutines {
		wg.Go(func() {
			n := 0
			for i := range each {
				if s.Join(fanAt(addr), true, t0)&shield.ReasonJoinRate == 0 {
					n++
				}
				v := fmt.Sprint("v", g)
				s.Poll(fanAt(v4(uint32(i))), v, time.Second, t0)
				s.Pass(fanAt(v4(uint32(i))), v, t0)
				s.FailedChallenge(v6(uint32(i)), t0)
				s.Failures(v6(uint32(i)), t0)
				if i%10 == 0 {
					s.Sweep(t0)
					s.Len()
				}
			}
			mu.Lock()
			clean += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if clean != shield.DefaultJoinsPerMinute {
		t.Errorf("%d of %d concurrent joins clean, want exactly %d", clean, goroutines*each, shield.DefaultJoinsPerMinute)
	}
}

func TestScorerAllocs(t *testing.T) {
	s := shield.NewScorer(shield.ScorerConfig{})
	// Hold other clients too, so the one measured is not alone.
	for i := range 1000 {
		s.Join(fanAt(mixed(i)), false, t0)
		s.Pass(fanAt(mixed(i)), fmt.Sprint("v", i), t0)
		s.Poll(fanAt(mixed(i)), fmt.Sprint("v", i), time.Second, t0)
	}
	addr := ip("2001:db8::7")
	failed := ip("192.0.2.66")
	for range 4 {
		s.FailedChallenge(failed, t0)
	}
	long := fanAt(addr)
	long.UserAgent = bytes.Repeat([]byte(chromeUA), 10)
	visitor := "Vb3mZ0q9xH2kLwE5tYc1Aa"
	s.Join(fanAt(addr), false, t0)
	s.Pass(fanAt(addr), visitor, t0)
	s.Poll(fanAt(addr), visitor, time.Second, t0)
	tests := []struct {
		name string
		f    func(now time.Time)
	}{
		{"Join, known address", func(now time.Time) { s.Join(fanAt(addr), true, now) }},
		{"Join, known address, no ticket", func(now time.Time) { s.Join(fanAt(addr), false, now) }},
		{"Join, failed out", func(now time.Time) { s.Join(fanAt(failed), true, now) }},
		{"Pass, known visitor", func(now time.Time) { s.Pass(fanAt(addr), visitor, now) }},
		{"Pass, known visitor, another network", func(now time.Time) { s.Pass(fanAt(v4(3)), visitor, now) }},
		{"Poll, known visitor", func(now time.Time) { s.Poll(fanAt(addr), visitor, time.Second, now) }},
		{"HeaderReasons", func(time.Time) { shield.HeaderReasons(fanAt(addr)) }},
		{"HeaderReasons, long User-Agent", func(time.Time) { shield.HeaderReasons(long) }},
		{"FailedChallenge, Failures", func(now time.Time) { s.FailedChallenge(failed, now); s.Failures(failed, now) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(time.Millisecond)
				tt.f(now)
			})
			if allocs != 0 {
				t.Errorf("%v allocations, want 0", allocs)
			}
		})
	}
}

func BenchmarkJoin(b *testing.B) {
	s := shield.NewScorer(shield.ScorerConfig{})
	r := fanAt(ip("2001:db8::1"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Join(r, true, t0)
		}
	})
}

func BenchmarkPoll(b *testing.B) {
	s := shield.NewScorer(shield.ScorerConfig{})
	r := fanAt(ip("2001:db8::1"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Poll(r, "Vb3mZ0q9xH2kLwE5tYc1Aa", 5*time.Second, t0)
		}
	})
}

func BenchmarkPass(b *testing.B) {
	const visitors = 100_000
	s := shield.NewScorer(shield.ScorerConfig{})
	ids := make([]string, visitors)
	reqs := make([]shield.Request, visitors)
	for i := range ids {
		ids[i] = fmt.Sprintf("visitor-%07d", i)
		reqs[i] = shield.Request{Addr: mixed(i)}
		s.Pass(reqs[i], ids[i], t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Pass(reqs[i%visitors], ids[i%visitors], t0)
			i += 7
		}
	})
}

func BenchmarkHeaderReasons(b *testing.B) {
	r := fanAt(ip("2001:db8::1"))
	b.ReportAllocs()
	for b.Loop() {
		shield.HeaderReasons(r)
	}
}
