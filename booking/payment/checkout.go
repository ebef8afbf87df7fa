package payment

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/usherhq/usher/internal/inlinepage"
)

//go:embed assets
var assets embed.FS

var pages = inlinepage.MustParse(assets, inlinepage.Spec{
	Name: "checkout", Style: "assets/checkout.css", Script: "assets/checkout.js",
	Templates: []string{"assets/*.html"}, FormAction: "'self'",
})

// CheckoutCSP is the Content-Security-Policy that Handler sends with its
// pages: nothing but their own inline style and script, allowed by hash,
// and forms posted only to the checkout itself.
func CheckoutCSP() string { return pages.CSP }

// maxFormBytes bounds the checkout form a fan posts: four short fields.
const maxFormBytes = 16 << 10

// Handler is the hosted checkout. Mount it where BaseURL's path points, with
// the full request path: GET {BaseURL}/{ref} shows the card form, or the
// payment's outcome once it has one; POST {BaseURL}/{ref} charges the card
// and redirects 303 to the payment's ReturnURL with ?payment=<ref> (or,
// without a ReturnURL, shows the outcome). An unknown ref is 404. The pages
// work without JavaScript.
func (s *Simulated) Handler() http.Handler {
	return http.HandlerFunc(s.serveCheckout)
}

func (s *Simulated) serveCheckout(w http.ResponseWriter, r *http.Request) {
	ref, ok := strings.CutPrefix(r.URL.Path, s.path+"/")
	if !ok || ref == "" || strings.Contains(ref, "/") {
		s.render(w, http.StatusNotFound, "missing.html", nil)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.showCheckout(w, ref)
	case http.MethodPost:
		s.charge(w, r, ref)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Simulated) showCheckout(w http.ResponseWriter, ref string) {
	p, ok := s.lookup(ref)
	if !ok {
		s.render(w, http.StatusNotFound, "missing.html", nil)
		return
	}
	s.render(w, http.StatusOK, "checkout.html", newCheckoutView(p))
}

func (s *Simulated) charge(w http.ResponseWriter, r *http.Request, ref string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	_, err := s.Pay(r.Context(), ref, r.PostForm.Get("card"))
	if errors.Is(err, ErrNotFound) {
		s.render(w, http.StatusNotFound, "missing.html", nil)
		return
	}
	if err != nil {
		s.log.Warn("checkout: pay", "ref", ref, "error", err)
		http.Error(w, "payment failed", http.StatusInternalServerError)
		return
	}
	p, _ := s.lookup(ref)
	if p.returnURL == "" {
		s.render(w, http.StatusOK, "checkout.html", newCheckoutView(p))
		return
	}
	w.Header().Set("Location", returnTo(p.returnURL, ref))
	w.WriteHeader(http.StatusSeeOther)
}

// lookup is a copy of a payment, safe to read without the lock.
func (s *Simulated) lookup(ref string) (simPayment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[ref]
	if !ok {
		return simPayment{}, false
	}
	return *p, true
}

// returnTo is the return URL with payment=ref added to its query. Begin
// checked that the URL parses.
func returnTo(returnURL, ref string) string {
	u, err := url.Parse(returnURL)
	if err != nil {
		return returnURL
	}
	q := u.Query()
	q.Set("payment", ref)
	u.RawQuery = q.Encode()
	return u.String()
}

// render writes a page whole, or a plain 500 if it cannot be rendered.
func (s *Simulated) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.Template.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("checkout: render", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pages.CSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// checkoutView is what the checkout page shows.
type checkoutView struct {
	OrderID     string
	Description string
	Amount      string
	Pending     bool
	Succeeded   bool
	Heading     string
	Message     string
	ReturnURL   string // with ?payment=ref; empty when there is none
	CardOK      string
	CardDecline string
}

func newCheckoutView(p simPayment) checkoutView {
	v := checkoutView{
		OrderID:     p.status.OrderID,
		Description: p.description,
		Amount:      formatAmount(p.status.AmountCents, p.status.Currency),
		Pending:     p.status.State == StatePending,
		Succeeded:   p.status.State == StateSucceeded,
		CardOK:      CardSucceeds,
		CardDecline: CardDeclined,
	}
	if p.returnURL != "" {
		v.ReturnURL = returnTo(p.returnURL, p.status.Ref)
	}
	switch p.status.State {
	case StatePending:
		v.Heading = "Pay " + v.Amount
	case StateSucceeded:
		v.Heading, v.Message = "Payment received", "Thank you: your payment of "+v.Amount+" went through."
	case StateRefunded:
		v.Heading, v.Message = "Payment refunded", "This payment of "+v.Amount+" was refunded."
	case StateFailed:
		v.Heading, v.Message = "Payment declined", declineText(p.status.Reason)+" You were not charged. Go back to try again."
	}
	return v
}

// declineText puts a failure reason in words for the fan.
func declineText(reason string) string {
	switch reason {
	case ReasonCardDeclined:
		return "Your card was declined."
	case ReasonInvalidCard:
		return "The card number is not valid."
	}
	return "The payment did not go through."
}

// zeroDecimal are the currencies whose minor unit is the unit itself, as
// Stripe lists them: AmountCents counts whole yen, won, francs...
var zeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true,
	"KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true,
	"VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

// formatAmount writes a positive amount in minor units with its currency,
// e.g. "1,234.50 EUR" or "5,000 JPY".
func formatAmount(minor int64, currency string) string {
	if zeroDecimal[currency] {
		return group(minor) + " " + currency
	}
	return fmt.Sprintf("%s.%02d %s", group(minor/100), minor%100, currency)
}

// group writes n ≥ 0 with a comma between thousands.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
