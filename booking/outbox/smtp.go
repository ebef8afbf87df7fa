package outbox

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"time"
)

// DefaultTimeout bounds one SMTP Send when SMTPConfig.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	// Addr is the server's host and port, such as "smtp.example.org:587".
	// The connection starts in plain text and upgrades with STARTTLS when
	// the server offers it; servers that speak only implicit TLS (port
	// 465) are not supported.
	Addr string
	// From is the sender, a bare address or one with a display name:
	// "tickets@example.org" or "Arena Tickets <tickets@example.org>". Its
	// domain also names the messages' Message-IDs.
	From string
	// Username and Password log in with AUTH PLAIN when Username is set.
	// The password is only ever sent over TLS, or to a server on this
	// machine (localhost); Send fails rather than send it in plain text.
	Username, Password string
	// Timeout bounds one whole Send: connecting, the conversation and the
	// upload of the message. Zero means DefaultTimeout (30 seconds).
	Timeout time.Duration
	// TLSConfig is used for STARTTLS. Nil means the system's roots and the
	// host of Addr as the server name; when set, an empty ServerName is
	// filled in with that host.
	TLSConfig *tls.Config
}

// SMTP sends mail through an SMTP server, one connection per mail. It is
// safe for concurrent use.
type SMTP struct {
	config SMTPConfig
}

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = (*Log)(nil)
)

// NewSMTP returns a sender that uses the server that c describes. c is
// checked on each Send, which reports a bad address.
func NewSMTP(c SMTPConfig) *SMTP {
	if c.TLSConfig != nil {
		c.TLSConfig = c.TLSConfig.Clone()
	}
	return &SMTP{config: c}
}

// Send delivers m through the server: EHLO, STARTTLS when offered, AUTH
// PLAIN when a user is set, then the message. An invalid mail is
// [ErrInvalidMail] and never reaches the server; a refusal by the server
// wraps its *textproto.Error (see [Permanent]).
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	from, err := mail.ParseAddress(s.config.From)
	if err != nil {
		return fmt.Errorf("send mail: sender %q: %w", s.config.From, err)
	}
	host, _, err := net.SplitHostPort(s.config.Addr)
	if err != nil {
		return fmt.Errorf("send mail: server address %q: %w", s.config.Addr, err)
	}
	to, msg, err := m.render(from, time.Now())
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, cmp.Or(s.config.Timeout, DefaultTimeout))
	defer cancel()
	if err := s.deliver(ctx, host, from.Address, to.Address, msg); err != nil {
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			// Said first, because the error of the cut connection only
			// says that a read or write timed out.
			return fmt.Errorf("send mail: %w: %w", ctxErr, err)
		}
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// contextError returns why ctx ended, if it ended the delivery that failed
// with err.
func contextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	// The connection's deadline is ctx's, and may pass a moment before ctx
	// notices.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return nil
}

// deliver speaks SMTP with the server at host to send msg from from to to.
func (s *SMTP) deliver(ctx context.Context, host, from, to string, msg []byte) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", s.config.Addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// net/smtp knows no context: the deadline bounds every read and write,
	// and a cancelled ctx cuts the connection short at once.
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return fmt.Errorf("connect: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	// Close, not Quit, on failure: the mail is not sent, and nothing the
	// server says now changes that.
	defer c.Close()

	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tlsConfig(host)); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.config.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.config.Username, s.config.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// Closing the data writer sends the final dot and reads the server's
	// acceptance: from here on the mail is the server's.
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The mail is accepted; a failed goodbye does not unsend it.
	_ = c.Quit()
	return nil
}

// tlsConfig returns the configuration for STARTTLS with host.
func (s *SMTP) tlsConfig(host string) *tls.Config {
	if s.config.TLSConfig == nil {
		return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	c := s.config.TLSConfig.Clone()
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}
