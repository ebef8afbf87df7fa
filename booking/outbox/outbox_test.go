package outbox_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/booking/outbox"
)

const testFrom = "Arena Tickets <tickets@arena.example>"

// sampleMail has what a ticket mail has, and what is hard to carry: a long
// non-ASCII subject, a display name, long lines, lines that start with a
// dot, and binary attachments.
func sampleMail() outbox.Mail {
	png := make([]byte, 3000)
	for i := range png {
		png[i] = byte(i * 7)
	}
	return outbox.Mail{
		To:      "Ana Díaz <ana@example.org>",
		Subject: "Deine Tickets für „Die Zauberflöte“ am 1. Juni 2026 – Reihe 3, Plätze 11 und 12",
		Text: "Hallo Ana,\n\nhier sind deine Tickets. Zeig den QR-Code am Einlass vor.\n" +
			".\n..zwei Punkte\n" + strings.Repeat("lang ", 60) + "\nBis bald! ✓\n",
		Attachments: []outbox.Attachment{
			{Name: "ticket-1.png", ContentType: "image/png", Data: png},
			{Name: "Einlass für Ana.png", ContentType: "image/png", Data: png[:1]},
			{Name: "notes.bin", Data: []byte{0, '\r', '\n', '.', 0xff}},
		},
	}
}

// selfSignedTLS returns a server configuration for 127.0.0.1 and the pool
// that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSMTPSend(t *testing.T) {
	serverTLS, roots := selfSignedTLS(t)
	tests := []struct {
		name     string
		server   serverOptions
		username string
		wantTLS  bool
	}{
		{"plain", serverOptions{}, "", false},
		{"auth without TLS on localhost", serverOptions{auth: true}, "outbox", false},
		{"STARTTLS and auth", serverOptions{auth: true, tls: serverTLS}, "outbox", true},
		{"STARTTLS without auth", serverOptions{tls: serverTLS}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startServer(t, tt.server)
			sender := outbox.NewSMTP(outbox.SMTPConfig{
				Addr:      server.addr,
				From:      testFrom,
				Username:  tt.username,
				Password:  "s3cret",
				Timeout:   time.Minute,
				TLSConfig: &tls.Config{RootCAs: roots},
			})
			want := sampleMail()
			before := time.Now().Truncate(time.Second)
			if err := sender.Send(t.Context(), want); err != nil {
				t.Fatalf("Send: %v", err)
			}
			after := time.Now()

			var got received
			select {
			case got = <-server.mails:
			default:
				t.Fatal("Send returned, but the server has no mail")
			}
			if got.from != "tickets@arena.example" || got.to != "ana@example.org" {
				t.Errorf("envelope from %q to %q, want tickets@arena.example to ana@example.org", got.from, got.to)
			}
			if got.tls != tt.wantTLS {
				t.Errorf("mail sent over TLS: %v, want %v", got.tls, tt.wantTLS)
			}
			wantAuth := ""
			if tt.username != "" {
				wantAuth = "\x00outbox\x00s3cret"
			}
			if got.auth != wantAuth {
				t.Errorf("AUTH PLAIN sent %q, want %q", got.auth, wantAuth)
			}
			checkMessage(t, got.data, want, before, after)
		})
	}
}

// checkMessage parses a received message as a mail client would and checks
// that it says what want says.
func checkMessage(t *testing.T, raw string, want outbox.Mail, before, after time.Time) {
	t.Helper()
	for i, line := range strings.Split(raw, "\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d characters, more than RFC 5322 allows", i+1, len(line))
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r > '~' }) {
			t.Errorf("line %d is not 7-bit ASCII: %q", i+1, line)
		}
	}
	if _, body, _ := strings.Cut(raw, "\n\n"); body != "" {
		for i, line := range strings.Split(body, "\n") {
			if len(line) > 78 {
				t.Errorf("body line %d is %d characters, more than 78: %q", i+1, len(line), line)
			}
		}
	}

	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	h := msg.Header
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Name != "Arena Tickets" || from.Address != "tickets@arena.example" {
		t.Errorf("From = %q (%v, %v)", h.Get("From"), from, err)
	}
	to, err := mail.ParseAddress(h.Get("To"))
	if err != nil || to.Name != "Ana Díaz" || to.Address != "ana@example.org" {
		t.Errorf("To = %q (%v, %v)", h.Get("To"), to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != want.Subject {
		t.Errorf("Subject = %q, decoded %q (%v), want %q", h.Get("Subject"), subject, err, want.Subject)
	}
	if !strings.Contains(raw, "\nSubject: =?utf-8?q?") || !regexp.MustCompile(`\nSubject: [^\n]*\n [^\n]`).MatchString("\n"+raw) {
		t.Errorf("the long subject is not encoded and folded:\n%s", raw)
	}
	date, err := h.Date()
	if err != nil || date.Before(before) || date.After(after) {
		t.Errorf("Date = %q (%v), want a time between %v and %v", h.Get("Date"), err, before, after)
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[A-Z2-7]{20,}@arena\.example>$`).MatchString(id) {
		t.Errorf("Message-ID = %q, want a unique id at the sender's domain", id)
	}
	if v := h.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", v)
	}

	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v), want multipart/mixed with a boundary", h.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])

	text, err := parts.NextPart()
	if err != nil {
		t.Fatalf("no text part: %v", err)
	}
	if ct := text.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("text part Content-Type = %q", ct)
	}
	body, err := io.ReadAll(text) // NextPart decodes quoted-printable
	if err != nil {
		t.Fatalf("read text: %v", err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want.Text {
		t.Errorf("text = %q, want %q", got, want.Text)
	}

	for _, a := range want.Attachments {
		part, err := parts.NextPart()
		if err != nil {
			t.Fatalf("attachment %q missing: %v", a.Name, err)
		}
		if name := part.FileName(); name != a.Name {
			t.Errorf("attachment file name %q, want %q", name, a.Name)
		}
		wantType := a.ContentType
		if wantType == "" {
			wantType = "application/octet-stream"
		}
		if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err != nil || mt != wantType {
			t.Errorf("attachment %q: Content-Type = %q, want %s", a.Name, part.Header.Get("Content-Type"), wantType)
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
			t.Errorf("attachment %q: Content-Transfer-Encoding = %q, want base64", a.Name, cte)
		}
		data, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatalf("attachment %q: %v", a.Name, err)
		}
		if !bytes.Equal(data, a.Data) {
			t.Errorf("attachment %q: got %d bytes that differ from the %d sent", a.Name, len(data), len(a.Data))
		}
	}
	if part, err := parts.NextPart(); err != io.EOF {
		t.Errorf("after the attachments: part %v, error %v; want the end", part, err)
	}
}

func TestSMTPRecipientRefused(t *testing.T) {
	tests := []struct {
		name, reply string
		permanent   bool
	}{
		{"unknown user", "550 5.1.1 no such user", true},
		{"try later", "451 4.3.0 try again later", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startServer(t, serverOptions{rcptReply: tt.reply})
			sender := outbox.NewSMTP(outbox.SMTPConfig{Addr: server.addr, From: testFrom})
			err := sender.Send(t.Context(), sampleMail())
			if err == nil {
				t.Fatal("Send succeeded, want the refusal")
			}
			var reply *textproto.Error
			if !errors.As(err, &reply) || reply.Msg == "" || !strings.Contains(tt.reply, reply.Msg) {
				t.Errorf("Send error = %v, want the server's reply %q", err, tt.reply)
			}
			if got := outbox.Permanent(err); got != tt.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if len(server.mails) != 0 {
				t.Error("the server received the mail")
			}
		})
	}
}

func TestSMTPTimeout(t *testing.T) {
	server := startServer(t, serverOptions{silent: true})
	sender := outbox.NewSMTP(outbox.SMTPConfig{Addr: server.addr, From: testFrom, Timeout: 100 * time.Millisecond})
	err := sender.Send(t.Context(), sampleMail())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a silent server = %v, want a deadline exceeded", err)
	}
	if outbox.Permanent(err) {
		t.Errorf("a timeout is permanent: %v", err)
	}
}

func TestSMTPCancel(t *testing.T) {
	server := startServer(t, serverOptions{silent: true})
	sender := outbox.NewSMTP(outbox.SMTPConfig{Addr: server.addr, From: testFrom, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-server.accepted
		cancel()
	}()
	if err := sender.Send(ctx, sampleMail()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send cancelled while the server is silent = %v, want context.Canceled", err)
	}
}

func TestSMTPUntrustedTLS(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	server := startServer(t, serverOptions{tls: serverTLS, auth: true})
	// No TLSConfig: the system's roots, which do not trust the test
	// certificate.
	sender := outbox.NewSMTP(outbox.SMTPConfig{Addr: server.addr, From: testFrom, Username: "outbox", Password: "s3cret"})
	err := sender.Send(t.Context(), sampleMail())
	if err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("Send through an untrusted STARTTLS = %v, want a starttls error", err)
	}
	if len(server.mails) != 0 {
		t.Error("the server received the mail")
	}
}

func TestSMTPBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		config outbox.SMTPConfig
	}{
		{"sender without a domain", outbox.SMTPConfig{Addr: "127.0.0.1:25", From: "tickets"}},
		{"no sender", outbox.SMTPConfig{Addr: "127.0.0.1:25"}},
		{"address without a port", outbox.SMTPConfig{Addr: "smtp.example.org", From: testFrom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := outbox.NewSMTP(tt.config).Send(t.Context(), sampleMail())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if errors.Is(err, outbox.ErrInvalidMail) {
				t.Errorf("a bad configuration blames the mail: %v", err)
			}
		})
	}
}

func TestInvalidMail(t *testing.T) {
	server := startServer(t, serverOptions{})
	senders := map[string]outbox.Sender{
		"SMTP": outbox.NewSMTP(outbox.SMTPConfig{Addr: server.addr, From: testFrom}),
		"Log":  outbox.NewLog(slog.New(slog.DiscardHandler)),
	}
	tests := []struct {
		name string
		edit func(*outbox.Mail)
	}{
		{"no recipient", func(m *outbox.Mail) { m.To = "" }},
		{"not an address", func(m *outbox.Mail) { m.To = "ana at example.org" }},
		{"two recipients", func(m *outbox.Mail) { m.To = "a@example.org, b@example.org" }},
		{"header in the recipient", func(m *outbox.Mail) { m.To = "a@example.org\r\nBcc: b@example.org" }},
		{"header in the subject", func(m *outbox.Mail) { m.Subject = "Tickets\r\nBcc: b@example.org" }},
		{"subject not UTF-8", func(m *outbox.Mail) { m.Subject = "Tickets \xff" }},
		{"text not UTF-8", func(m *outbox.Mail) { m.Text = "\xfe" }},
		{"subject word too long", func(m *outbox.Mail) { m.Subject = strings.Repeat("x", 1000) }},
		{"nameless attachment", func(m *outbox.Mail) { m.Attachments[0].Name = "" }},
		{"attachment name too long", func(m *outbox.Mail) { m.Attachments[0].Name = strings.Repeat("n", 256) }},
		{"header in an attachment name", func(m *outbox.Mail) { m.Attachments[0].Name = "a.png\r\nX: y" }},
		{"bad content type", func(m *outbox.Mail) { m.Attachments[0].ContentType = "image/" }},
	}
	for _, tt := range tests {
		for senderName, sender := range senders {
			t.Run(senderName+"/"+tt.name, func(t *testing.T) {
				m := sampleMail()
				tt.edit(&m)
				err := sender.Send(t.Context(), m)
				if !errors.Is(err, outbox.ErrInvalidMail) {
					t.Fatalf("Send = %v, want ErrInvalidMail", err)
				}
				if !outbox.Permanent(err) {
					t.Errorf("Permanent(%v) = false", err)
				}
				if len(server.mails) != 0 {
					t.Error("the server received the mail")
				}
			})
		}
	}
}

func TestLog(t *testing.T) {
	var out bytes.Buffer
	sender := outbox.NewLog(slog.New(slog.NewJSONHandler(&out, nil)))
	secret := []byte("PNG-BYTES-THAT-MUST-NOT-BE-LOGGED")
	m := sampleMail()
	m.Attachments[0].Data = secret
	if err := sender.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	var record struct {
		Level, Msg, To, Subject, Text string
		Attachments                   []string
	}
	if err := json.Unmarshal(out.Bytes(), &record); err != nil {
		t.Fatalf("log is not one JSON record: %v\n%s", err, out.Bytes())
	}
	if record.Level != "INFO" || record.To != m.To || record.Subject != m.Subject || record.Text != m.Text {
		t.Errorf("logged %+v, want the recipient, subject and text of %+v", record, m)
	}
	wantAttachments := []string{
		fmt.Sprintf("ticket-1.png (image/png, %d bytes)", len(secret)),
		"Einlass für Ana.png (image/png, 1 bytes)",
		"notes.bin (application/octet-stream, 5 bytes)",
	}
	if fmt.Sprint(record.Attachments) != fmt.Sprint(wantAttachments) {
		t.Errorf("logged attachments %q, want %q", record.Attachments, wantAttachments)
	}
	for _, leaked := range []string{string(secret), base64.StdEncoding.EncodeToString(secret)} {
		if strings.Contains(out.String(), leaked) {
			t.Errorf("the log holds an attachment's bytes: %s", out.Bytes())
		}
	}
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"invalid mail", fmt.Errorf("send mail: %w: bad", outbox.ErrInvalidMail), true},
		{"mailbox unknown", fmt.Errorf("rcpt to: %w", &textproto.Error{Code: 550, Msg: "no such user"}), true},
		{"message refused", &textproto.Error{Code: 554, Msg: "rejected"}, true},
		{"mailbox busy", fmt.Errorf("rcpt to: %w", &textproto.Error{Code: 450, Msg: "busy"}), false},
		{"service closing", &textproto.Error{Code: 421, Msg: "closing"}, false},
		{"timeout", fmt.Errorf("send mail: %w", context.DeadlineExceeded), false},
		{"connection lost", io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outbox.Permanent(tt.err); got != tt.want {
				t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
