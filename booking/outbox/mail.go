// Package outbox sends the e-mails that the booking store queues in its
// outbox, such as the tickets of a paid order.
//
// The booking service reads due messages from the store, turns each into a
// [Mail] and hands it to a [Sender]: [SMTP] in production, [Log] when no
// server is configured. A Sender makes one attempt; retrying, and marking the
// message sent or failed, is the caller's. [Permanent] tells a failure that
// another attempt will not mend, such as a refused recipient, from one that
// it may.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Mail is one e-mail to one recipient.
type Mail struct {
	// To is the recipient, a bare address or one with a display name:
	// "fan@example.org" or "Ana Díaz <fan@example.org>".
	To string
	// Subject is UTF-8 on one line; non-ASCII text is sent as RFC 2047
	// encoded-words.
	Subject string
	// Text is the plain-text body in UTF-8. Line breaks may be "\n".
	Text string
	// Attachments are sent after the text, each base64-encoded.
	Attachments []Attachment
}

// Attachment is a file sent with a mail.
type Attachment struct {
	// Name is the file name the recipient sees, such as "ticket-1.png":
	// 1 to 255 bytes of UTF-8 without control characters.
	Name string
	// ContentType is the MIME type, such as "image/png"; empty means
	// "application/octet-stream".
	ContentType string
	// Data is the file's content, sent as it is.
	Data []byte
}

// Sender sends mail.
type Sender interface {
	// Send makes one attempt to deliver m. It returns once the server has
	// accepted the mail, or with the reason it did not.
	Send(ctx context.Context, m Mail) error
}

// ErrInvalidMail is returned, wrapping the reason, for a mail that cannot be
// sent as it is: a bad address, a subject on two lines, a nameless
// attachment. Sending it again will fail again.
var ErrInvalidMail = errors.New("invalid mail")

// Permanent reports whether err says that sending the same mail again will
// fail again: the mail is invalid, or the server refused it with a 5xx reply
// (such as an unknown recipient). Other failures, such as a timeout, a lost
// connection or a 4xx reply, may pass on a later attempt.
func Permanent(err error) bool {
	if errors.Is(err, ErrInvalidMail) {
		return true
	}
	var reply *textproto.Error
	return errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600
}

// maxLineLen is the longest line that a message may have, without its CRLF
// (RFC 5322, section 2.1.1); header lines are folded to 78 where possible.
const (
	maxLineLen  = 998
	foldLineLen = 78
)

// render validates m and renders it as a message from from, dated date. It
// returns the recipient and the message.
func (m Mail) render(from *mail.Address, date time.Time) (*mail.Address, []byte, error) {
	to, err := m.check()
	if err != nil {
		return nil, nil, err
	}
	msg, err := compose(from, to, m, date)
	if err != nil {
		return nil, nil, err
	}
	return to, msg, nil
}

// check validates m and returns its parsed recipient.
func (m Mail) check() (*mail.Address, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient %q: %w", ErrInvalidMail, m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: subject has a line break", ErrInvalidMail)
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) {
		return nil, fmt.Errorf("%w: subject or text is not UTF-8", ErrInvalidMail)
	}
	for i, a := range m.Attachments {
		if a.Name == "" || len(a.Name) > maxNameLen {
			return nil, fmt.Errorf("%w: attachment %d: name is %d bytes, want 1 to %d", ErrInvalidMail, i, len(a.Name), maxNameLen)
		}
		if !utf8.ValidString(a.Name) || strings.ContainsFunc(a.Name, isControl) {
			return nil, fmt.Errorf("%w: attachment %d: name %q is not printable UTF-8", ErrInvalidMail, i, a.Name)
		}
		if _, _, err := mime.ParseMediaType(a.contentType()); err != nil {
			return nil, fmt.Errorf("%w: attachment %q: content type %q: %w", ErrInvalidMail, a.Name, a.ContentType, err)
		}
	}
	return to, nil
}

// maxNameLen is the longest attachment name, in bytes. Even encoded, it
// keeps the part's header lines within the limit of a line.
const maxNameLen = 255

// isControl reports whether r is an ASCII control character, which no
// header may carry.
func isControl(r rune) bool {
	return r < ' ' || r == 0x7f
}

// contentType is a's type with its default.
func (a Attachment) contentType() string {
	if a.ContentType == "" {
		return "application/octet-stream"
	}
	return a.ContentType
}

// compose renders m as an RFC 5322 message from from to to, dated date:
// multipart/mixed with the text as quoted-printable and every attachment as
// base64, so that the whole message is 7-bit ASCII in lines of at most 78
// characters (save a header word longer than that). m must have passed check.
func compose(from, to *mail.Address, m Mail, date time.Time) ([]byte, error) {
	var b bytes.Buffer
	body := multipart.NewWriter(&b)
	headers := []struct{ name, value string }{
		{"From", from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", messageID(from)},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": body.Boundary()})},
	}
	for _, h := range headers {
		if err := writeHeader(&b, h.name, h.value); err != nil {
			return nil, err
		}
	}
	b.WriteString("\r\n")

	if err := writeText(body, m.Text); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		if err := writeAttachment(body, a); err != nil {
			return nil, err
		}
	}
	if err := body.Close(); err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	return b.Bytes(), nil
}

// messageID returns a new unique Message-ID in the sender's domain.
func messageID(from *mail.Address) string {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return "<" + rand.Text() + "@" + domain + ">"
}

// writeHeader writes one header field, folded at spaces to keep its lines
// short. A word too long for any line is an error rather than a message that
// servers truncate.
func writeHeader(b *bytes.Buffer, name, value string) error {
	b.WriteString(name)
	b.WriteString(":")
	lineLen := len(name) + 1
	first := true
	for word := range strings.SplitSeq(value, " ") {
		// Fold only before a word that is not the first, so that no line
		// is blank and the name keeps its first word.
		if !first && word != "" && lineLen+1+len(word) > foldLineLen {
			b.WriteString("\r\n")
			lineLen = 0
		}
		first = false
		b.WriteByte(' ')
		b.WriteString(word)
		lineLen += 1 + len(word)
		if lineLen > maxLineLen {
			return fmt.Errorf("%w: %s header has a word too long for one line", ErrInvalidMail, name)
		}
	}
	b.WriteString("\r\n")
	return nil
}

// writeText writes text as the quoted-printable text/plain part.
func writeText(body *multipart.Writer, text string) error {
	part, err := body.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return fmt.Errorf("compose mail: text: %w", err)
	}
	// The writer turns "\n" into CRLF, escapes what is not plain ASCII and
	// breaks lines longer than 76 characters.
	qp := quotedprintable.NewWriter(part)
	if _, err := qp.Write([]byte(text)); err != nil {
		return fmt.Errorf("compose mail: text: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("compose mail: text: %w", err)
	}
	return nil
}

// base64LineLen is the length of a line of base64 in a message (RFC 2045).
const base64LineLen = 76

// writeAttachment writes a as a base64 part.
func writeAttachment(body *multipart.Writer, a Attachment) error {
	mediaType, params, err := mime.ParseMediaType(a.contentType())
	if err != nil {
		return fmt.Errorf("%w: attachment %q: %w", ErrInvalidMail, a.Name, err)
	}
	// name is the older parameter some clients still read instead of
	// filename.
	params["name"] = a.Name
	contentType := mime.FormatMediaType(mediaType, params)
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})
	if contentType == "" || disposition == "" {
		return fmt.Errorf("%w: attachment %q: content type %q cannot be written back", ErrInvalidMail, a.Name, a.ContentType)
	}
	part, err := body.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {contentType},
		"Content-Disposition":       {disposition},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return fmt.Errorf("compose mail: attachment %q: %w", a.Name, err)
	}
	encoded := base64.StdEncoding.EncodeToString(a.Data)
	for len(encoded) > 0 {
		n := min(base64LineLen, len(encoded))
		if _, err := fmt.Fprintf(part, "%s\r\n", encoded[:n]); err != nil {
			return fmt.Errorf("compose mail: attachment %q: %w", a.Name, err)
		}
		encoded = encoded[n:]
	}
	return nil
}
