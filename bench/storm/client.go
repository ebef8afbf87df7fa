package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers a browser sends, and those of automation tools.
const (
	browserUA   = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	browserLang = "en-GB,en;q=0.9"
	acceptHTML  = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptJSON  = "application/json"
)

// automationAgents are the User-Agents of the bots that do not pretend.
var automationAgents = []string{"curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1"}

// maxBody bounds what is read of any answer: a seat map is the largest.
const maxBody = 4 << 20

// env is what every client of a run shares.
type env struct {
	target  *url.URL
	room    string
	rec     *recorder
	slots   chan struct{} // one per request in flight: the cap on connections
	timeout time.Duration // per request
}

// client is one browser, or one bot's tool: its own source address, its
// own cookies (unless a bot throws them away), its own connections.
type client struct {
	env  *env
	hc   *http.Client
	jar  http.CookieJar
	ua   string
	lang string // "" sends no Accept-Language
	bot  string // the bot's behaviour; "" for a fan
}

// newClient is a client whose connections leave from addr (a loopback
// address); ua and lang are its User-Agent and Accept-Language.
func newClient(e *env, addr net.IP, ua, lang string, bot string) *client {
	jar, _ := cookiejar.New(nil) // never fails without options
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: addr}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     2,
		// Idle connections go soon, so thousands of clients polling every
		// few seconds do not keep thousands of sockets open.
		IdleConnTimeout:       3 * time.Second,
		ResponseHeaderTimeout: e.timeout,
		DisableCompression:    true,
	}
	return &client{
		env: e, jar: jar, ua: ua, lang: lang, bot: bot,
		hc: &http.Client{
			Transport: tr, Jar: jar, Timeout: e.timeout,
			// The storm follows no redirect: the card form's 303 is where
			// a browser would go next, and the fan goes there itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// dropCookies forgets every cookie: the client is new to the site.
func (c *client) dropCookies() {
	c.jar, _ = cookiejar.New(nil)
	c.hc.Jar = c.jar
}

// close lets go of the client's idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// retryAfter is the Retry-After of the answer, or def when it has none.
func (a answer) retryAfter(def time.Duration) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(a.header.Get("Retry-After"))); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return def
}

// errDone means the run's deadline came while waiting for a slot.
var errDone = errors.New("the run is over")

// request sends one request, recorded as kind; accept and body type are
// set as a browser would for that request. stopped, when not nil, judges
// whether a bot's request was stopped.
func (c *client) request(ctx context.Context, kind, method, rawURL, accept, contentType string, body string, hdr map[string]string, stopped func(answer) bool) (answer, error) {
	u, err := c.env.target.Parse(rawURL)
	if err != nil {
		return answer{}, fmt.Errorf("url %q: %w", rawURL, err)
	}
	queued := time.Now()
	select {
	case c.env.slots <- struct{}{}:
	case <-ctx.Done():
		return answer{}, errDone
	}
	defer func() { <-c.env.slots }()
	c.env.rec.connWait(time.Since(queued))

	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, rawURL, err)
	}
	req.Header.Set("User-Agent", c.ua)
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	req.Header.Set("Accept", accept)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		// A request that failed is a request all the same: a bot's counts
		// as stopped (it got nothing), a fan's is retried or given up.
		if ctx.Err() == nil {
			c.env.rec.request(kind, start, time.Since(start), c.bot, true)
		}
		return answer{}, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}
	if err != nil {
		return a, fmt.Errorf("%s %s: read: %w", method, u.Path, err)
	}
	isStopped := false
	if c.bot != "" && stopped != nil {
		isStopped = stopped(a)
	}
	c.env.rec.request(kind, start, a.took, c.bot, isStopped)
	return a, nil
}

// cookie is the value of the client's cookie name for the target, or "".
func (c *client) cookie(name string) string {
	for _, ck := range c.jar.Cookies(c.env.target) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie puts a cookie in the client's jar for the whole site.
func (c *client) setCookie(name, value string) {
	c.jar.SetCookies(c.env.target, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
