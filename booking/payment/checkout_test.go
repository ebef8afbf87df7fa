package payment

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/usherhq/usher/internal/inlinepage"
)

// checkoutServer serves a simulated provider's checkout on loopback.
func checkoutServer(t *testing.T) (*Simulated, *httptest.Server) {
	t.Helper()
	s := newManual(t, SimulatedOptions{BaseURL: "/pay"})
	mux := http.NewServeMux()
	mux.Handle("/pay/", s.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv
}

// fetch does a request without following redirects and returns the
// response with its body read.
func fetch(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var (
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// checkPageHeaders checks what every checkout page is sent with, and that
// the CSP allows exactly the inline style and script the page carries.
func checkPageHeaders(t *testing.T, resp *http.Response, page string) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	if csp == "" || csp != CheckoutCSP() {
		t.Errorf("CSP = %q, want %q", csp, CheckoutCSP())
	}
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, re := range []*regexp.Regexp{inlineStyle, inlineScript} {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			if h := inlinepage.Hash(m[1]); !strings.Contains(csp, h) {
				t.Errorf("CSP %q does not allow inline %.40q… (%s)", csp, m[1], h)
			}
		}
	}
	if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func containsAll(t *testing.T, page string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestCheckoutForm(t *testing.T) {
	s, srv := checkoutServer(t)
	r := request("o1:1")
	r.Description = `2 × Standing <script>alert(1)</script>`
	sess := begin(t, s, r)
	resp, page := fetch(t, http.MethodGet, srv.URL+sess.CheckoutURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", sess.CheckoutURL, resp.StatusCode)
	}
	checkPageHeaders(t, resp, page)
	if n := len(inlineStyle.FindAllString(page, -1)); n != 1 {
		t.Errorf("%d inline styles, want 1", n)
	}
	containsAll(t, page,
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<title>Pay 42.50 EUR · Order o1</title>`,
		`<h1>Pay 42.50 EUR</h1>`,
		`<dd>o1</dd>`,
		`<dd>2 × Standing &lt;script&gt;alert(1)&lt;/script&gt;</dd>`,
		`<form id="pay-form" method="post">`,
		`<label for="card">Card number</label>`,
		`<input id="card" name="card" type="text" inputmode="numeric" autocomplete="cc-number"`,
		`<label for="exp">`, `<input id="exp" name="exp"`, `autocomplete="cc-exp"`,
		`<label for="cvc">`, `<input id="cvc" name="cvc"`, `autocomplete="cc-csc"`,
		`<label for="name">Name on card</label>`, `<input id="name" name="name" type="text" autocomplete="cc-name"`,
		`<button id="pay-button" class="button" type="submit">Pay 42.50 EUR</button>`,
		`4242 4242 4242 4242</strong>: the payment succeeds.`,
		`4000 0000 0000 0002</strong>: the card is declined.`,
		`href="https://shop.example/orders/o1?lang=en&amp;payment=`+sess.Ref+`"`,
	)
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the description went into the page unescaped")
	}
	if strings.Contains(page, " action=") {
		t.Error("the form names an action; it must post to the page itself")
	}

	t.Run("HEAD", func(t *testing.T) {
		resp, body := fetch(t, http.MethodHead, srv.URL+sess.CheckoutURL, nil)
		if resp.StatusCode != http.StatusOK || body != "" {
			t.Errorf("HEAD = %d with %d bytes, want 200 and no body", resp.StatusCode, len(body))
		}
	})
}

func TestCheckoutPay(t *testing.T) {
	tests := []struct {
		card    string
		state   State
		outcome string // shown by GET afterwards
	}{
		{CardSucceeds, StateSucceeded, "Payment received"},
		{"4242424242424242", StateSucceeded, "Payment received"},
		{CardDeclined, StateFailed, "Your card was declined."},
		{"1111 2222 3333 4444", StateFailed, "The card number is not valid."},
	}
	for _, tt := range tests {
		t.Run(tt.card, func(t *testing.T) {
			s, srv := checkoutServer(t)
			sess := begin(t, s, request("o1:1"))
			form := url.Values{"card": {tt.card}, "exp": {"12/30"}, "cvc": {"123"}, "name": {"A Fan"}}
			resp, _ := fetch(t, http.MethodPost, srv.URL+sess.CheckoutURL, form)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST = %d, want 303", resp.StatusCode)
			}
			if got, want := resp.Header.Get("Location"), "https://shop.example/orders/o1?lang=en&payment="+sess.Ref; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			if st := status(t, s, sess.Ref); st.State != tt.state {
				t.Errorf("state = %s, want %s", st.State, tt.state)
			}
			if q := s.Queued(); len(q) != 1 || q[0].Type != typeOf(tt.state) {
				t.Errorf("events = %v, want one %s", types(q), typeOf(tt.state))
			}

			// The page now shows the outcome, and no form.
			resp, page := fetch(t, http.MethodGet, srv.URL+sess.CheckoutURL, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET after paying = %d", resp.StatusCode)
			}
			checkPageHeaders(t, resp, page)
			containsAll(t, page, tt.outcome, `href="https://shop.example/orders/o1?lang=en&amp;payment=`+sess.Ref+`"`)
			if strings.Contains(page, "<form") {
				t.Error("a paid payment still shows the card form")
			}

			// Posting again answers the first outcome.
			again := CardSucceeds
			if tt.state == StateSucceeded {
				again = CardDeclined
			}
			resp, _ = fetch(t, http.MethodPost, srv.URL+sess.CheckoutURL, url.Values{"card": {again}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("second POST = %d, want 303", resp.StatusCode)
			}
			if st := status(t, s, sess.Ref); st.State != tt.state {
				t.Errorf("state after a second POST = %s, want still %s", st.State, tt.state)
			}
		})
	}
}

func TestCheckoutReturnURL(t *testing.T) {
	tests := []struct {
		returnURL string
		want      string // Location, with REF for the ref
	}{
		{"/orders/o1", "/orders/o1?payment=REF"},
		{"/orders/o1?a=1&b=two+words", "/orders/o1?a=1&b=two+words&payment=REF"},
		{"https://shop.example/o1?payment=stale#top", "https://shop.example/o1?payment=REF#top"},
	}
	for _, tt := range tests {
		t.Run(tt.returnURL, func(t *testing.T) {
			s, srv := checkoutServer(t)
			r := request("o1:1")
			r.ReturnURL = tt.returnURL
			sess := begin(t, s, r)
			resp, _ := fetch(t, http.MethodPost, srv.URL+sess.CheckoutURL, url.Values{"card": {CardSucceeds}})
			if got, want := resp.Header.Get("Location"), strings.ReplaceAll(tt.want, "REF", sess.Ref); resp.StatusCode != http.StatusSeeOther || got != want {
				t.Errorf("POST = %d to %q, want 303 to %q", resp.StatusCode, got, want)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		s, srv := checkoutServer(t)
		r := request("o1:1")
		r.ReturnURL = ""
		sess := begin(t, s, r)
		resp, page := fetch(t, http.MethodPost, srv.URL+sess.CheckoutURL, url.Values{"card": {CardSucceeds}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST without a return URL = %d, want 200 with the outcome", resp.StatusCode)
		}
		checkPageHeaders(t, resp, page)
		containsAll(t, page, "Payment received")
	})
}

func TestCheckoutNotFound(t *testing.T) {
	s, srv := checkoutServer(t)
	sess := begin(t, s, request("o1:1"))
	tests := []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, "/pay/pay_unknown", nil},
		{http.MethodPost, "/pay/pay_unknown", url.Values{"card": {CardSucceeds}}},
		{http.MethodGet, "/pay/", nil},
		{http.MethodGet, sess.CheckoutURL + "/more", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, page := fetch(t, tt.method, srv.URL+tt.path, tt.form)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s %s = %d, want 404", tt.method, tt.path, resp.StatusCode)
			}
			checkPageHeaders(t, resp, page)
			containsAll(t, page, `<html lang="en">`, "<title>Payment not found</title>", "<h1>Payment not found</h1>")
		})
	}
	if st := status(t, s, sess.Ref); st.State != StatePending {
		t.Errorf("state = %s, want pending: nothing was paid", st.State)
	}
}

func TestCheckoutMethods(t *testing.T) {
	s, srv := checkoutServer(t)
	sess := begin(t, s, request("o1:1"))
	resp, _ := fetch(t, http.MethodPut, srv.URL+sess.CheckoutURL, url.Values{"card": {CardSucceeds}})
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT = %d, Allow %q; want 405 with GET, HEAD, POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if st := status(t, s, sess.Ref); st.State != StatePending {
		t.Errorf("state = %s after a PUT, want pending", st.State)
	}
}

func TestCheckoutAbsoluteBaseURL(t *testing.T) {
	s := newManual(t, SimulatedOptions{BaseURL: "https://psp.example/checkout"})
	sess := begin(t, s, request("o1:1"))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	u, err := url.Parse(sess.CheckoutURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := fetch(t, http.MethodGet, srv.URL+u.Path, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s = %d, want 200", u.Path, resp.StatusCode)
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		cents    int64
		currency string
		want     string
	}{
		{1, "EUR", "0.01 EUR"},
		{4250, "EUR", "42.50 EUR"},
		{123456789, "USD", "1,234,567.89 USD"},
		{100000, "GBP", "1,000.00 GBP"},
		{5000, "JPY", "5,000 JPY"},
		{999, "KRW", "999 KRW"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := formatAmount(tt.cents, tt.currency); got != tt.want {
				t.Errorf("formatAmount(%d, %s) = %q, want %q", tt.cents, tt.currency, got, tt.want)
			}
		})
	}
}
