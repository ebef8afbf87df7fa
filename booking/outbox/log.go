package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"time"
)

// Log "sends" mail by logging it, for a backend without an SMTP server such
// as the demo: the recipient, the subject, the text, and each attachment's
// name, type and size, never its bytes. It is safe for concurrent use.
type Log struct {
	logger *slog.Logger
}

// logSender stands in for the sender, which a Log has no need of.
var logSender = &mail.Address{Address: "outbox@localhost"}

// NewLog returns a sender that logs to l at level Info; nil means
// slog.Default().
func NewLog(l *slog.Logger) *Log {
	if l == nil {
		l = slog.Default()
	}
	return &Log{logger: l}
}

// Send logs m. It rejects, as [ErrInvalidMail], every mail that SMTP would
// reject as invalid, so that a mail that fails in production fails in the
// demo too.
func (l *Log) Send(ctx context.Context, m Mail) error {
	// Rendered and thrown away, so that what SMTP rejects fails here too.
	if _, _, err := m.render(logSender, time.Now()); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	attachments := make([]string, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		attachments = append(attachments, fmt.Sprintf("%s (%s, %d bytes)", a.Name, a.contentType(), len(a.Data)))
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "mail logged, not sent: no SMTP server configured",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
		slog.Any("attachments", attachments),
	)
	return nil
}
