// Package server assembles the booking backend from its configuration:
// the store, the payment provider, ticket keys, mail, the service and its
// two listeners, and runs them until told to stop.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/httpapi"
	"github.com/usherhq/usher/booking/outbox"
	"github.com/usherhq/usher/booking/payment"
	"github.com/usherhq/usher/booking/postgres"
	"github.com/usherhq/usher/booking/sqlite"
	"github.com/usherhq/usher/booking/ticket"
	"github.com/usherhq/usher/internal/adminauth"
)

// Options are what a Server needs besides its configuration.
type Options struct {
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Store replaces the configured database (the demo's).
	Store booking.Store
	// PassKeys replace the configured pass keys (the demo's gateway runs in
	// the same process).
	PassKeys admission.KeySource
	// TicketKeys replace the configured ticket keys (the demo's).
	TicketKeys *ticket.Keys
}

// Server is a running booking backend.
type Server struct {
	cfg   *Config
	log   *slog.Logger
	store booking.Store
	svc   *booking.Service
	api   *httpapi.API
	sim   *payment.Simulated
	ln    net.Listener
	keys  *admission.RemoteKeys
}

// OpenStore opens the database a URL names: sqlite:PATH or postgres://…
func OpenStore(ctx context.Context, url string) (booking.Store, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sqlite.Open(path)
	}
	return postgres.Open(ctx, url)
}

// New builds the backend for fans on ln.
func New(ctx context.Context, cfg *Config, ln net.Listener, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{cfg: cfg, log: opts.Logger, ln: ln, store: opts.Store}
	var err error
	if s.store == nil {
		if s.store, err = OpenStore(ctx, cfg.Database.URL); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	passKeys := opts.PassKeys
	if passKeys == nil {
		if cfg.Passes.JWKSURL != "" {
			if s.keys, err = admission.NewRemoteKeys(ctx, cfg.Passes.JWKSURL, nil); err != nil {
				return nil, fmt.Errorf("passes: %w", err)
			}
			passKeys = s.keys
		} else {
			ks, err := admission.LoadKeySet(cfg.Passes.KeyFiles...)
			if err != nil {
				return nil, fmt.Errorf("passes.key_files: %w", err)
			}
			passKeys = ks
		}
	}
	tickets := opts.TicketKeys
	if tickets == nil {
		if tickets, err = ticket.LoadKeys(cfg.Tickets.KeyFiles...); err != nil {
			return nil, fmt.Errorf("tickets.key_files: %w", err)
		}
	}
	webhook := cfg.Payments.WebhookURL
	if webhook == "" {
		webhook = "http://" + loopbackAddr(ln.Addr()) + "/api/payments/webhook"
	}
	s.sim = payment.NewSimulated(payment.SimulatedOptions{
		WebhookURL: webhook, Secret: []byte(cfg.webhookSecret), BaseURL: cfg.Payments.CheckoutPath,
		Delay: time.Duration(cfg.Payments.WebhookDelay), Duplicate: cfg.Payments.WebhookDuplicate,
		Now: opts.Now, Logger: opts.Logger,
	})
	var mail outbox.Sender = outbox.NewLog(opts.Logger)
	if cfg.Mail.SMTPAddr != "" {
		mail = outbox.NewSMTP(outbox.SMTPConfig{Addr: cfg.Mail.SMTPAddr, From: cfg.Mail.From, Username: cfg.Mail.Username, Password: cfg.smtpPassword, Timeout: 20 * time.Second})
	}
	s.svc, err = booking.NewService(s.store, booking.Options{
		HoldTTL: time.Duration(cfg.Holds.TTL), Provider: s.sim, WebhookSecrets: [][]byte{[]byte(cfg.webhookSecret)},
		Tickets: tickets, Mail: mail, Logger: opts.Logger, Now: opts.Now,
	})
	if err != nil {
		return nil, err
	}
	s.api = httpapi.New(s.svc, httpapi.Options{
		Passes:    admission.NewTokens(nil, passKeys, admission.TokenOptions{Now: opts.Now, Leeway: time.Duration(cfg.Passes.Leeway)}),
		Admin:     adminauth.New(adminauth.Tokens(cfg.Admin.Tokens, "USHER_ADMIN_TOKEN", cfg.adminToken), cfg.Admin.OIDC.OIDC(""), opts.Now),
		Checkout:  s.sim.Handler(),
		PayPrefix: cfg.Payments.CheckoutPath + "/",
		Logger:    opts.Logger,
	})
	return s, nil
}

// loopbackAddr is a listener's address as this process can dial it.
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Service is the running service.
func (s *Server) Service() *booking.Service { return s.svc }

// Handler serves fans (for tests that do without Run's listener).
func (s *Server) Handler() http.Handler { return s.api.FanHandler() }

// AdminHandler serves operators.
func (s *Server) AdminHandler() http.Handler { return s.api.AdminHandler() }

// Simulated is the simulated payment provider.
func (s *Server) Simulated() *payment.Simulated { return s.sim }

// Run serves fans on the listener given to New and operators on adminLn (nil
// for none) until ctx ends, then lets requests in flight finish.
func (s *Server) Run(ctx context.Context, adminLn net.Listener) error {
	defer s.store.Close()
	defer s.sim.Close()
	fans := &http.Server{Handler: s.api.FanHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	// Streams (availability, long polls) end with ctx, not with shutdown.
	fans.BaseContext = func(net.Listener) context.Context { return ctx }
	var admin *http.Server
	if adminLn != nil {
		admin = &http.Server{Handler: s.api.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	}
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return s.svc.Run(gctx) })
	grp.Go(func() error {
		if err := fans.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", s.ln.Addr(), err)
		}
		return nil
	})
	if admin != nil {
		grp.Go(func() error {
			if err := admin.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve admin %s: %w", adminLn.Addr(), err)
			}
			return nil
		})
	}
	grp.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := fans.Shutdown(sctx)
		if admin != nil {
			err = errors.Join(err, admin.Shutdown(sctx))
		}
		return err
	})
	return grp.Wait()
}

// GenerateTicketKeys makes a ticket key for one run (the demo's).
func GenerateTicketKeys() (*ticket.Keys, error) {
	k, err := ticket.GenerateKey()
	if err != nil {
		return nil, err
	}
	return ticket.NewKeys(k), nil
}
