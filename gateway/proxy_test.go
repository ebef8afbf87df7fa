package gateway

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/config"
)

// proxyGateway is a gateway whose room "sale" admits everyone at once, in
// front of o.
func proxyGateway(t *testing.T, o *origin, cfg func(*Config)) *testGateway {
	t.Helper()
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: storeKinds(t)[0].open(t, clk.Now), cfg: cfg})
	return g
}

// rawRequest sends one request as raw bytes and returns the raw response
// head and body.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func TestProxyPassesRequestsThrough(t *testing.T) {
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/", HttpOnly: true})
			http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
			w.Header().Add("X-Multi", "one")
			w.Header().Add("X-Multi", "two")
			http.Redirect(w, r, "/account?welcome=1", http.StatusFound)
		})
		mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "X-Secret-Hop")
			w.Header().Set("X-Secret-Hop", "origin-only")
			w.Header().Set("Keep-Alive", "timeout=5")
			_, _ = io.WriteString(w, "ok")
		})
	})
	g := proxyGateway(t, o, nil)

	t.Run("raw path and query reach the origin as sent", func(t *testing.T) {
		for _, uri := range []string{"/a%2Fb/../c?x=1&y=%20z", "/plain?q=a+b&q=c", "/%7Euser/;v=1"} {
			resp, body := rawRequest(t, g.URL, "GET "+uri+" HTTP/1.1\r\nHost: site.example\r\nConnection: close\r\n\r\n")
			req, _, _ := o.lastRequest()
			// (The origin may answer a dot segment with a redirect; what
			// matters is what it was sent.)
			if resp.StatusCode >= 500 || req.RequestURI != uri {
				t.Errorf("sent %s: origin saw %q (status %d, %s)", uri, req.RequestURI, resp.StatusCode, body)
			}
			if req.Host != "site.example" {
				t.Errorf("Host %q, want the visitor's", req.Host)
			}
		}
	})

	t.Run("POST body arrives intact and Set-Cookie and Location come back", func(t *testing.T) {
		body := make([]byte, 1<<20)
		_, _ = rand.Read(body)
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.AddCookie(&http.Cookie{Name: "site", Value: "visitor-1"})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got, gotBody, _ := o.lastRequest()
		if !bytes.Equal(gotBody, body) || got.Method != http.MethodPost {
			t.Errorf("origin got a %s body of %d bytes, want the %d sent", got.Method, len(gotBody), len(body))
		}
		if c, err := got.Cookie("site"); err != nil || c.Value != "visitor-1" {
			t.Errorf("origin did not get the visitor's cookie: %v", err)
		}
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/account?welcome=1" {
			t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 2 || sc[0] != "session=abc; Path=/; HttpOnly" || sc[1] != "theme=dark" {
			t.Errorf("Set-Cookie = %q", sc)
		}
		if v := resp.Header.Values("X-Multi"); len(v) != 2 {
			t.Errorf("X-Multi = %q, want both values", v)
		}
	})

	t.Run("hop-by-hop headers stay on their hop", func(t *testing.T) {
		resp, _ := rawRequest(t, g.URL, "GET /hop HTTP/1.1\r\nHost: site.example\r\nConnection: keep-alive, X-Client-Hop\r\nX-Client-Hop: secret\r\nProxy-Authorization: Basic eDp5\r\nTE: trailers\r\n\r\n")
		req, _, _ := o.lastRequest()
		for _, h := range []string{"X-Client-Hop", "Proxy-Authorization", "Te"} {
			if v := req.Header.Get(h); v != "" {
				t.Errorf("origin got hop-by-hop %s: %q", h, v)
			}
		}
		for _, h := range []string{"X-Secret-Hop", "Keep-Alive"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("visitor got hop-by-hop %s: %q", h, v)
			}
		}
	})

	t.Run("X-Forwarded-* from an untrusted client are replaced", func(t *testing.T) {
		rawRequest(t, g.URL, "GET /xff HTTP/1.1\r\nHost: site.example\r\nx-forwarded-for: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n")
		req, _, _ := o.lastRequest()
		if got := req.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
		}
		if req.Header.Get("X-Forwarded-Proto") != "http" || req.Header.Get("X-Forwarded-Host") != "site.example" {
			t.Errorf("X-Forwarded-Proto %q, -Host %q", req.Header.Get("X-Forwarded-Proto"), req.Header.Get("X-Forwarded-Host"))
		}
		if req.Header.Get("Forwarded") != "" || req.Header.Get("X-Real-IP") != "" {
			t.Errorf("client's Forwarded/X-Real-IP reached the origin")
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		resp, err := http.Head(g.URL + "/head")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HEAD: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

func TestProxyTrustsConfiguredProxies(t *testing.T) {
	o := newOrigin(t, nil)
	g := proxyGateway(t, o, func(c *Config) { c.TrustedProxies = []string{"127.0.0.0/8"} })
	rawRequest(t, g.URL, "GET /xff HTTP/1.1\r\nHost: site.example\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
	req, _, _ := o.lastRequest()
	if got := req.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := req.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want the trusted proxy's", got)
	}
}

func TestProxyStripsUsherHeaders(t *testing.T) {
	o := newOrigin(t, nil)
	g := proxyGateway(t, o, nil)
	b := newBrowser(t)
	b.get(g.URL + "/events/1") // admitted at once: the room is empty
	_, _, before := o.lastRequest()
	for _, path := range []string{"/events/2", "/elsewhere"} {
		b.get(g.URL+path, "X-Usher-Pass", "forged", "X-Usher-Command", "admit-all", "x-usher-account", "someone")
		req, _, hits := o.lastRequest()
		if hits == before {
			t.Fatalf("%s did not reach the origin", path)
		}
		before = hits
		for name := range req.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-usher-") && !(name == "X-Usher-Pass" && path == "/events/2") {
				t.Errorf("%s: the origin got %s: %q", path, name, req.Header.Get(name))
			}
		}
		if pass := req.Header.Get("X-Usher-Pass"); path == "/events/2" && (pass == "" || pass == "forged") {
			t.Errorf("%s: X-Usher-Pass = %q, want the visitor's real pass", path, pass)
		}
	}
}

// TestProxyStreamsLargeResponses: a 10 MB response arrives whole while the
// gateway allocates a small fraction of it.
func TestProxyStreamsLargeResponses(t *testing.T) {
	const size = 10 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			for n := 0; n < size; n += len(chunk) {
				_, _ = w.Write(chunk)
			}
		})
		mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
			for n := 0; n < size; n += len(chunk) {
				_, _ = w.Write(chunk)
			}
		})
	})
	g := proxyGateway(t, o, nil)
	for _, path := range []string{"/big", "/big-chunked"} {
		t.Run(path, func(t *testing.T) {
			get := func() (int64, error) {
				resp, err := http.Get(g.URL + path)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				return io.Copy(io.Discard, resp.Body)
			}
			if _, err := get(); err != nil { // warm the pools
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n, err := get()
			runtime.ReadMemStats(&after)
			if err != nil || n != size {
				t.Fatalf("got %d bytes, %v; want %d", n, err, size)
			}
			// Origin, gateway and client all run in this process; holding
			// the body whole would cost at least its size again.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/3 {
				t.Errorf("a %d-byte response allocated %d bytes in the process", size, alloc)
			}
		})
	}
}

func TestProxyFailures(t *testing.T) {
	t.Run("unreachable origin is 502", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		clk := newClock()
		g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: dead, store: storeKinds(t)[0].open(t, clk.Now)})
		resp, body := newBrowser(t).get(g.URL + "/anything")
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not answering") {
			t.Errorf("status %d, body %.100q", resp.StatusCode, body)
		}
	})

	t.Run("slow origin is 504", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		o := newOrigin(t, func(mux *http.ServeMux) {
			mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-release })
		})
		g := proxyGateway(t, o, func(c *Config) { c.Origin.ResponseTimeout = config.Duration(100 * time.Millisecond) })
		resp, _ := newBrowser(t).get(g.URL + "/slow")
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("status %d, want 504", resp.StatusCode)
		}
	})

	t.Run("full pool is 503 with Retry-After", func(t *testing.T) {
		release := make(chan struct{})
		arrived := make(chan struct{}, 1)
		o := newOrigin(t, func(mux *http.ServeMux) {
			mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-release
			})
		})
		g := proxyGateway(t, o, func(c *Config) { c.Origin.MaxConns, c.Origin.ConnWaitTimeout = 1, 0 })
		var wg sync.WaitGroup
		wg.Go(func() { newBrowser(t).get(g.URL + "/hold") })
		<-arrived
		resp, _ := newBrowser(t).get(g.URL + "/other")
		close(release)
		wg.Wait()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("a POST is never sent twice", func(t *testing.T) {
		var mu sync.Mutex
		posts := 0
		o := newOrigin(t, func(mux *http.ServeMux) {
			mux.HandleFunc("/pay", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				posts++
				mu.Unlock()
				// Drop the connection without answering.
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			})
		})
		g := proxyGateway(t, o, nil)
		resp, err := http.Post(g.URL+"/pay", "application/json", strings.NewReader(`{"amount":100}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		if posts != 1 || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("origin saw %d POSTs, visitor got %d; want 1 and 502", posts, resp.StatusCode)
		}
	})
}

// TestProxyTunnelsUpgrades: a protocol upgrade (as WebSocket does) reaches
// the origin with its Upgrade headers, and the switched connection carries
// bytes both ways.
func TestProxyTunnelsUpgrades(t *testing.T) {
	o := newOrigin(t, func(mux *http.ServeMux) {
		echo := func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "echo" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
				http.Error(w, "upgrade required", http.StatusUpgradeRequired)
				return
			}
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello ")
			_ = brw.Flush()
			_, _ = io.Copy(conn, brw) // echo until the client closes
		}
		mux.HandleFunc("/ws", echo)
		mux.HandleFunc("/events/ws", echo)
	})
	g := proxyGateway(t, o, nil)
	for _, path := range []string{"/ws", "/events/ws"} { // outside and inside a room
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			cookie := ""
			if strings.HasPrefix(path, "/events/") {
				// A pass first: the room is empty, so a plain visit admits.
				resp, _ := newBrowser(t).get(g.URL + "/events/")
				for _, ck := range resp.Cookies() {
					if ck.Name == "usher_pass_sale" {
						cookie = "Cookie: usher_pass_sale=" + ck.Value + "\r\n"
					}
				}
			}
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: site.example\r\n"+cookie+"Connection: Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
				t.Fatalf("status %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
			}
			if _, err := io.WriteString(c, "world"); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len("hello world"))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello world" {
				t.Fatalf("through the tunnel: %q, %v", got, err)
			}
		})
	}
	// An origin that refuses the upgrade answers as usual.
	resp, body := rawRequest(t, g.URL, "GET /ws HTTP/1.1\r\nHost: site.example\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "upgrade required") {
		t.Errorf("refused upgrade: %d %q", resp.StatusCode, body)
	}
}
