package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/internal/adminauth"
)

// Config is the booking backend's configuration file; configs/booking.yaml
// shows every key with its default.
type Config struct {
	// Listen is where fans (through the gateway) and the payment provider
	// reach the backend. Default ":8081".
	Listen string `yaml:"listen"`
	// AdminListen is the operators' API. Default "127.0.0.1:9091"; "" turns
	// it off.
	AdminListen string         `yaml:"admin_listen"`
	Database    DatabaseConfig `yaml:"database"`
	Passes      PassesConfig   `yaml:"passes"`
	Tickets     TicketsConfig  `yaml:"tickets"`
	Holds       HoldsConfig    `yaml:"holds"`
	Payments    PaymentsConfig `yaml:"payments"`
	Mail        MailConfig     `yaml:"mail"`
	Admin       AdminConfig    `yaml:"admin"`
	Log         LogConfig      `yaml:"log"`

	// Secrets, from the environment only.
	webhookSecret string // USHER_WEBHOOK_SECRET
	smtpPassword  string // USHER_SMTP_PASSWORD
	adminToken    string // USHER_ADMIN_TOKEN
}

// DatabaseConfig selects the store.
type DatabaseConfig struct {
	// URL is "sqlite:PATH" (a file, created if missing) or
	// "postgres://user@host:port/db?sslmode=…". USHER_DATABASE_URL
	// overrides it. Default "sqlite:booking.db".
	URL string `yaml:"url"`
}

// PassesConfig is how the backend checks the waiting room's passes.
type PassesConfig struct {
	// JWKSURL is the gateway's /_usher/jwks.json. Use it, or KeyFiles.
	JWKSURL string `yaml:"jwks_url"`
	// KeyFiles are the gateway's key files (PEM; public keys are enough).
	// USHER_KEY_FILES overrides it.
	KeyFiles []string `yaml:"key_files"`
	// Leeway tolerates clocks that disagree. Default 5s.
	Leeway config.Duration `yaml:"leeway"`
}

// TicketsConfig is about signing tickets.
type TicketsConfig struct {
	// KeyFiles are Ed25519 PEM files: the first (a private key) signs, the
	// others only verify. USHER_TICKET_KEY_FILES overrides it. Required.
	KeyFiles []string `yaml:"key_files"`
}

// HoldsConfig is about holds.
type HoldsConfig struct {
	// TTL is how long a hold keeps its places. Between 1m and 1h. Default
	// 10m.
	TTL config.Duration `yaml:"ttl"`
}

// PaymentsConfig is the payment provider.
type PaymentsConfig struct {
	// Provider is simulated (the built-in provider, for demos and tests).
	// Default simulated.
	Provider string `yaml:"provider"`
	// WebhookURL is where the simulated provider sends its webhooks.
	// Default: this backend's own /api/payments/webhook on Listen.
	WebhookURL string `yaml:"webhook_url"`
	// CheckoutPath is where the simulated provider's card form is served.
	// Default "/pay".
	CheckoutPath string `yaml:"checkout_path"`
	// WebhookDelay is how long the simulated provider waits before each
	// webhook. Default 300ms.
	WebhookDelay config.Duration `yaml:"webhook_delay"`
	// WebhookDuplicate makes the simulated provider send every webhook
	// twice. Default false.
	WebhookDuplicate bool `yaml:"webhook_duplicate"`
}

// MailConfig is how tickets are e-mailed.
type MailConfig struct {
	// SMTPAddr is host:port of an SMTP server. Default "": the mails are
	// logged instead. Its password comes from USHER_SMTP_PASSWORD.
	SMTPAddr string `yaml:"smtp_addr"`
	// From is the sender. Default "tickets@localhost".
	From string `yaml:"from"`
	// Username logs in to the server. Default "": no login.
	Username string `yaml:"username"`
}

// AdminConfig is who may use the operators' API and check tickets in.
type AdminConfig struct {
	// Tokens are API tokens by their SHA-256; USHER_ADMIN_TOKEN adds one
	// with the operator role.
	Tokens []adminauth.TokenConfig `yaml:"tokens"`
	// OIDC accepts the provider's JWTs as bearer tokens. Default: none.
	OIDC *adminauth.ProviderConfig `yaml:"oidc"`
}

// LogConfig sets up logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or text. Default json.
	Format string `yaml:"format"`
}

// DefaultConfig returns a configuration with every default.
func DefaultConfig() Config {
	return Config{
		Listen: ":8081", AdminListen: "127.0.0.1:9091",
		Database: DatabaseConfig{URL: "sqlite:booking.db"},
		Passes:   PassesConfig{Leeway: config.Duration(5 * time.Second)},
		Holds:    HoldsConfig{TTL: config.Duration(10 * time.Minute)},
		Payments: PaymentsConfig{Provider: "simulated", CheckoutPath: "/pay", WebhookDelay: config.Duration(300 * time.Millisecond)},
		Mail:     MailConfig{From: "tickets@localhost"},
		Log:      LogConfig{Level: "info", Format: "json"},
	}
}

// LoadConfig reads and checks the file at path, with the environment's
// overrides and secrets; every problem is reported at once with its line.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg := DefaultConfig()
	doc, problems := config.Decode(data, &cfg)
	out, err := finish(cfg, doc, problems, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return out, nil
}

// CheckConfig checks a configuration built in code (the demo's).
func CheckConfig(cfg Config, getenv func(string) string) (*Config, error) {
	return finish(cfg, nil, nil, getenv)
}

func finish(cfg Config, doc *config.Doc, problems config.Problems, getenv func(string) string) (*Config, error) {
	fromEnv := map[string]string{}
	if v := getenv("USHER_DATABASE_URL"); v != "" {
		cfg.Database.URL, fromEnv["database.url"] = v, "USHER_DATABASE_URL"
	}
	if v := getenv("USHER_KEY_FILES"); v != "" {
		cfg.Passes.KeyFiles, fromEnv["passes.key_files"] = splitList(v), "USHER_KEY_FILES"
	}
	if v := getenv("USHER_TICKET_KEY_FILES"); v != "" {
		cfg.Tickets.KeyFiles, fromEnv["tickets.key_files"] = splitList(v), "USHER_TICKET_KEY_FILES"
	}
	cfg.webhookSecret = getenv("USHER_WEBHOOK_SECRET")
	cfg.smtpPassword = getenv("USHER_SMTP_PASSWORD")
	cfg.adminToken = getenv("USHER_ADMIN_TOKEN")
	failed := map[string]bool{}
	for _, p := range problems {
		failed[p.Path] = true
	}
	for _, p := range cfg.validate() {
		if failed[p.Path] {
			continue
		}
		if env, ok := fromEnv[p.Path]; ok {
			p.Path, p.Line = env, 0
		} else {
			p.Line = doc.Line(p.Path)
		}
		problems = append(problems, p)
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *Config) validate() config.Problems {
	var ps config.Problems
	checkAddr := func(key, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			ps.Add(key, "must be host:port, such as 127.0.0.1:8081 or :8081, not %q", addr)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin_listen", c.AdminListen, true)
	if u := c.Database.URL; !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		ps.Add("database.url", "must be sqlite:PATH or postgres://…, not %q", u)
	} else if u == "sqlite:" {
		ps.Add("database.url", "sqlite: needs a file path, such as sqlite:booking.db")
	}
	switch {
	case c.Passes.JWKSURL != "" && len(c.Passes.KeyFiles) > 0:
		ps.Add("passes", "set jwks_url or key_files, not both")
	case c.Passes.JWKSURL != "":
		if u, err := url.Parse(c.Passes.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("passes.jwks_url", "must be an http(s) URL of the gateway's /_usher/jwks.json")
		}
	case len(c.Passes.KeyFiles) == 0:
		ps.Add("passes", "needs jwks_url (the gateway's /_usher/jwks.json) or key_files: without them no pass can be checked")
	}
	if c.Passes.Leeway < 0 || c.Passes.Leeway > config.Duration(5*time.Minute) {
		ps.Add("passes.leeway", "must be between 0s and 5m")
	}
	if len(c.Tickets.KeyFiles) == 0 {
		ps.Add("tickets.key_files", "is required (or USHER_TICKET_KEY_FILES): create a key with `usher keygen -out FILE`")
	}
	if c.Holds.TTL < config.Duration(time.Minute) || c.Holds.TTL > config.Duration(time.Hour) {
		ps.Add("holds.ttl", "must be between 1m and 1h")
	}
	if c.Payments.Provider != "simulated" {
		ps.Add("payments.provider", "must be simulated (the only provider in this version), not %q", c.Payments.Provider)
	}
	if c.Payments.WebhookURL != "" {
		if u, err := url.Parse(c.Payments.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add("payments.webhook_url", "must be an http(s) URL")
		}
	}
	if !strings.HasPrefix(c.Payments.CheckoutPath, "/") || strings.HasSuffix(c.Payments.CheckoutPath, "/") || strings.HasPrefix(c.Payments.CheckoutPath, "/api") {
		ps.Add("payments.checkout_path", "must start with /, not end with /, and not be under /api, such as /pay")
	}
	if c.Payments.WebhookDelay < 0 {
		ps.Add("payments.webhook_delay", "must not be negative")
	}
	if len(c.webhookSecret) < 16 {
		ps.Add("USHER_WEBHOOK_SECRET", "is required, at least 16 characters: it signs and verifies the payment webhooks")
	}
	if c.Mail.SMTPAddr != "" {
		checkAddr("mail.smtp_addr", c.Mail.SMTPAddr, false)
	}
	if !strings.Contains(c.Mail.From, "@") {
		ps.Add("mail.from", "must be an e-mail address")
	}
	adminauth.ValidateTokens("admin.tokens", c.Admin.Tokens, &ps)
	if c.Admin.OIDC != nil {
		c.Admin.OIDC.Validate("admin.oidc", false, &ps)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.Add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		ps.Add("log.format", "must be json or text, not %q", c.Log.Format)
	}
	return ps
}
