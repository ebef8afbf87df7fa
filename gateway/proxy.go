package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/page"
)

// upstream is what the proxy sends requests through: a HostClient for one
// origin, an LBClient for several.
type upstream interface {
	Do(req *fasthttp.Request, resp *fasthttp.Response) error
}

// proxy forwards requests to the origin as they came, changing only what a
// reverse proxy must: hop-by-hop headers, the X-Forwarded-* headers, the pass
// header, and (if configured) the Host header.
type proxy struct {
	client     upstream
	upgrade    *upgradeTarget
	stop       context.Context // ends tunnels when the gateway stops
	observe    func(code int, d time.Duration)
	https      bool
	hostHeader string
	trusted    []netip.Prefix
	log        *slog.Logger
	logErrors  rate.Sometimes
}

func newProxy(stop context.Context, o OriginConfig, trusted []netip.Prefix, log *slog.Logger) (*proxy, error) {
	urls := o.URLs
	if o.URL != "" {
		urls = []string{o.URL}
	}
	p := &proxy{hostHeader: o.HostHeader, trusted: trusted, log: log, logErrors: rate.Sometimes{Interval: time.Second}, stop: stop}
	p.upgrade = &upgradeTarget{
		dialTimeout: time.Duration(o.DialTimeout),
		handshake:   time.Duration(o.ResponseTimeout),
		maxHeader:   int(o.MaxResponseHeaderBytes),
	}
	var clients []fasthttp.BalancingClient
	var first *fasthttp.HostClient
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", s, err)
		}
		hc := newHostClient(u, o)
		p.https = hc.IsTLS
		p.upgrade.addrs = append(p.upgrade.addrs, hc.Addr)
		p.upgrade.tls = hc.TLSConfig
		clients = append(clients, hc)
		if first == nil {
			first = hc
		}
	}
	if len(clients) == 1 {
		p.client = first
	} else {
		p.client = &fasthttp.LBClient{
			Clients: clients,
			Timeout: time.Duration(o.ResponseTimeout + o.WriteTimeout),
		}
	}
	return p, nil
}

func newHostClient(u *url.URL, o OriginConfig) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	hc := &fasthttp.HostClient{
		Addr:                addr,
		IsTLS:               u.Scheme == "https",
		MaxConns:            o.MaxConns,
		MaxConnWaitTimeout:  time.Duration(o.ConnWaitTimeout),
		MaxIdleConnDuration: time.Duration(o.IdleConnTimeout),
		ReadTimeout:         time.Duration(o.ResponseTimeout),
		WriteTimeout:        time.Duration(o.WriteTimeout),
		ReadBufferSize:      int(o.MaxResponseHeaderBytes),
		// Large bodies pass through as a stream instead of being held whole
		// in memory; small ones are read at once.
		StreamResponseBody: true,
		// The origin sees the path exactly as the visitor spelled it.
		// Header names are normalised (they are case-insensitive anyway),
		// so that no spelling of a header the gateway must remove or
		// replace can slip past it.
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
		// One retry, for idempotent requests only, on a kept-alive
		// connection the origin had closed. A POST is never sent twice.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                retryIfErr,
	}
	dialTimeout := time.Duration(o.DialTimeout)
	hc.Dial = func(addr string) (net.Conn, error) {
		return fasthttp.DialTimeout(addr, dialTimeout)
	}
	if hc.IsTLS {
		name := o.TLSServerName
		if name == "" {
			name = u.Hostname()
		}
		hc.TLSConfig = &tls.Config{ServerName: name, InsecureSkipVerify: o.TLSInsecureSkipVerify, MinVersion: tls.VersionTLS12} // #nosec G402 -- opt-in, for tests
	}
	return hc
}

// retryIfErr lets fasthttp resend a request once when the origin dropped a
// kept-alive connection, and only when the method is safe to repeat.
func retryIfErr(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if attempts > 1 || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns) {
		return false, false
	}
	h := &req.Header
	return false, h.IsGet() || h.IsHead() || h.IsOptions()
}

var (
	headerPass       = []byte(admission.PassHeader)
	headerXFF        = []byte("X-Forwarded-For")
	headerXFProto    = []byte("X-Forwarded-Proto")
	headerXFHost     = []byte("X-Forwarded-Host")
	usherHeaderStart = []byte("x-usher-")
)

// hopByHop are the headers that belong to one connection, not the message
// (RFC 9110 section 7.6.1); fasthttp frames Transfer-Encoding itself.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Upgrade"}

// forward sends the request to the origin and leaves the origin's answer in
// ctx.Response. pass, when not nil, goes to the origin in X-Usher-Pass. It
// returns the origin's status code (0 when it did not answer) and how long
// it took.
func (p *proxy) forward(ctx *fasthttp.RequestCtx, pass []byte) (int, time.Duration) {
	if upgrade := p.prepare(ctx, pass); upgrade != nil {
		start := time.Now()
		code := p.tunnel(ctx)
		return code, time.Since(start)
	}
	start := time.Now()
	err := p.Fetch(&ctx.Request, &ctx.Response)
	d := time.Since(start)
	if err != nil {
		p.Fail(ctx, err)
		return 0, d
	}
	return ctx.Response.StatusCode(), d
}

// prepare makes a visitor's request ready for the origin: hop-by-hop and
// X-Usher-* headers out, X-Forwarded-* and the pass in. For a request to
// upgrade the connection (a WebSocket), it returns the protocol asked for,
// with the Upgrade header restored.
func (p *proxy) prepare(ctx *fasthttp.RequestCtx, pass []byte) (upgrade []byte) {
	req := &ctx.Request
	if req.Header.ConnectionUpgrade() {
		upgrade = append(upgrade, req.Header.Peek("Upgrade")...)
	}
	stripHopByHopRequest(&req.Header)
	// The body is already read whole; the origin must not wait for a
	// 100 Continue that nobody will ask for.
	req.Header.Del("Expect")
	stripUsherHeaders(&req.Header)
	if pass != nil {
		req.Header.SetCanonical(headerPass, pass)
	}
	p.setForwarded(ctx)
	if p.hostHeader != "" {
		req.Header.SetHost(p.hostHeader)
	}
	// What the gateway matched rooms on is the Host header; the origin must
	// see that same host, whatever an absolute request line said.
	req.UseHostHeader = true
	if p.https {
		req.URI().SetScheme("https")
	}
	if upgrade != nil {
		// The one hop-by-hop exchange that must reach the origin.
		req.Header.Set("Connection", "Upgrade")
		req.Header.SetBytesV("Upgrade", upgrade)
	}
	return upgrade
}

// Fetch sends a prepared request to the origin and leaves its answer, less
// its hop-by-hop headers, in resp. The answer's body may be a stream. It
// returns an error when the origin did not answer.
func (p *proxy) Fetch(req *fasthttp.Request, resp *fasthttp.Response) error {
	start := time.Now()
	err := p.client.Do(req, resp)
	d := time.Since(start)
	code := 0
	if err == nil {
		code = resp.StatusCode()
	}
	if p.observe != nil {
		p.observe(code, d)
	}
	if err != nil {
		return err
	}
	stripHopByHopResponse(&resp.Header)
	return nil
}

// Fail answers a request the origin did not: 503 when every connection is
// busy (the origin is healthy, just full), 504 when it was too slow, 502
// otherwise.
func (p *proxy) Fail(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Reset()
	var e page.Error
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		e = page.Error{Status: fasthttp.StatusServiceUnavailable, Title: "The site is busy", Message: "Too many people are using the site right now.", RetryAfter: 5 * time.Second}
	case isTimeout(err):
		e = page.Error{Status: fasthttp.StatusGatewayTimeout, Title: "The site is taking too long", Message: "The site did not answer in time.", RetryAfter: 10 * time.Second}
	default:
		e = page.Error{Status: fasthttp.StatusBadGateway, Title: "The site is not answering", Message: "We could not reach the site.", RetryAfter: 10 * time.Second}
	}
	p.logErrors.Do(func() {
		p.log.Warn("origin request failed", "status", e.Status, "err", err)
	})
	writeError(ctx, e)
}

// isTimeout tells an origin that answered too slowly from one that could not
// be reached at all (a dial timeout is the latter).
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrDialTimeout) {
		return false
	}
	if errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setForwarded tells the origin who the client was. A client's own
// X-Forwarded-* headers are believed only from a trusted proxy; from
// anyone else they are replaced, and Forwarded and X-Real-IP dropped, so a
// visitor cannot claim another address.
func (p *proxy) setForwarded(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	var abuf [48]byte
	ip := remoteAddr(ctx)
	addr := ip.AppendTo(abuf[:0])
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	if !p.isTrusted(ip) {
		h.Del("Forwarded")
		h.Del("X-Real-IP")
		h.SetCanonical(headerXFF, addr)
		h.SetCanonical(headerXFProto, []byte(scheme))
		h.SetCanonical(headerXFHost, h.Host())
		return
	}
	if prior := h.PeekBytes(headerXFF); len(prior) > 0 {
		var buf [256]byte
		h.SetCanonical(headerXFF, append(append(append(buf[:0], prior...), ", "...), addr...))
	} else {
		h.SetCanonical(headerXFF, addr)
	}
	if len(h.PeekBytes(headerXFProto)) == 0 {
		h.SetCanonical(headerXFProto, []byte(scheme))
	}
	if len(h.PeekBytes(headerXFHost)) == 0 {
		h.SetCanonical(headerXFHost, h.Host())
	}
}

// clientAddr is the client's address: the TCP peer, or, when the peer is a
// trusted proxy, the nearest address in X-Forwarded-For that is not one.
func (p *proxy) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	ip := remoteAddr(ctx)
	if !p.isTrusted(ip) {
		return ip
	}
	xff := ctx.Request.Header.PeekBytes(headerXFF)
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		hop := bytes.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(string(hop))
		if err != nil {
			break
		}
		ip = a.Unmap()
		if !p.isTrusted(ip) {
			break
		}
	}
	return ip
}

func (p *proxy) isTrusted(ip netip.Addr) bool {
	for _, pf := range p.trusted {
		if pf.Contains(ip) {
			return true
		}
	}
	return false
}

// remoteAddr is the TCP peer's address.
func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.IPv4Unspecified()
}

// stripHopByHopRequest removes hop-by-hop headers, and the headers the
// Connection header names, from a request before it goes upstream.
func stripHopByHopRequest(h *fasthttp.RequestHeader) {
	if conn := h.Peek("Connection"); len(conn) > 0 {
		forEachToken(conn, func(name []byte) { h.DelBytes(name) })
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	h.ResetConnectionClose()
}

// stripHopByHopResponse does the same for a response on its way back.
func stripHopByHopResponse(h *fasthttp.ResponseHeader) {
	if conn := h.Peek("Connection"); len(conn) > 0 {
		forEachToken(conn, func(name []byte) { h.DelBytes(name) })
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	// The origin closing its connection says nothing about the visitor's.
	h.ResetConnectionClose()
}

// forEachToken calls f with each name in a comma-separated header value.
// The value is copied first, because deleting headers may move it.
func forEachToken(v []byte, f func([]byte)) {
	var buf [256]byte
	list := append(buf[:0], v...)
	for len(list) > 0 {
		var tok []byte
		tok, list, _ = bytes.Cut(list, []byte{','})
		if tok = bytes.TrimSpace(tok); len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			f(tok)
		}
	}
}

// stripUsherHeaders drops every X-Usher-* header a client sent: only the
// gateway speaks for usher to the origin.
func stripUsherHeaders(h *fasthttp.RequestHeader) {
	found := false
	for k := range h.All() {
		if hasPrefixFold(k, usherHeaderStart) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var names []string
	for k := range h.All() {
		if hasPrefixFold(k, usherHeaderStart) {
			names = append(names, string(k))
		}
	}
	for _, n := range names {
		h.Del(n)
	}
}

func hasPrefixFold(s, prefix []byte) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], prefix)
}

// writeError answers with one of the gateway's own error pages, or its JSON
// form to a client that asked for JSON.
func writeError(ctx *fasthttp.RequestCtx, e page.Error) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", fmt.Sprint(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	ctx.SetStatusCode(e.Status)
	if wantsJSON(ctx) {
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, "{\"error\":%q,\"status\":%d}\n", strings.ToLower(e.Title), e.Status)
		return
	}
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Content-Security-Policy", page.CSP())
	if err := page.RenderError(ctx, e); err != nil {
		ctx.SetBodyString(e.Title + "\n")
	}
}

// wantsJSON reports whether the client asked for JSON rather than a page:
// it accepts application/json and does not accept text/html.
func wantsJSON(ctx *fasthttp.RequestCtx) bool {
	accept := ctx.Request.Header.Peek("Accept")
	return bytes.Contains(accept, []byte("application/json")) && !bytes.Contains(accept, []byte("text/html"))
}
