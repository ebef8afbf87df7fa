// Package gateway is usher's edge: a fasthttp server that stands in front of
// a venue's site. It lets admitted visitors through to the origin, holds
// everyone else in a room's queue on the queue page, and passes every path no
// room protects straight through, as if it were not there.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue"
)

// Options are what a Gateway needs besides its configuration.
type Options struct {
	// Store keeps the rooms' lines. Required.
	Store queue.Store
	// Keys sign and verify tickets and passes. Required; it must hold a
	// signing key.
	Keys *admission.KeySet
	// Logger receives the gateway's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of tokens. Default time.Now.
	Now func() time.Time
}

// Gateway serves fans on one listener and operators on another.
type Gateway struct {
	cfg    *Config
	log    *slog.Logger
	store  queue.Store
	keys   *admission.KeySet
	tokens *admission.Tokens
	ctrl   *admission.Controller
	router *router
	rooms  map[string]*room
	proxy  *proxy
	now    func() time.Time

	// ctx carries store calls made for visitors; a fasthttp RequestCtx is
	// not a context to hang them on.
	ctx      context.Context
	cancel   context.CancelFunc
	draining atomic.Bool
	storeOK  atomic.Bool
	// logStoreErrors keeps a failing store from flooding the log: one line
	// a second at most.
	logStoreErrors rate.Sometimes
}

// New builds a gateway from a validated configuration.
func New(cfg *Config, opts Options) (*Gateway, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Keys.SigningKID() == "" {
		return nil, errors.New("gateway: a store and a signing key are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cacheSize := cfg.Tokens.CacheSize
	if cacheSize == 0 {
		cacheSize = -1 // 0 in the file turns the cache off
	}
	g := &Gateway{
		cfg:   cfg,
		log:   opts.Logger,
		store: opts.Store,
		keys:  opts.Keys,
		tokens: admission.NewTokens(opts.Keys, opts.Keys, admission.TokenOptions{
			Now: opts.Now, Leeway: time.Duration(cfg.Tokens.Leeway), CacheSize: cacheSize,
		}),
		ctrl: admission.NewController(opts.Store, admission.ControllerOptions{
			Tick: time.Duration(cfg.Queue.Tick), StoreTimeout: time.Duration(cfg.Redis.Timeout), Logger: opts.Logger,
		}),
		rooms:          map[string]*room{},
		now:            opts.Now,
		logStoreErrors: rate.Sometimes{Interval: time.Second},
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.storeOK.Store(true)
	var routes []route
	for _, rc := range cfg.Rooms {
		name := rc.Name
		if name == "" {
			name = rc.ID
		}
		rm := newRoom(g.ctrl.AddRoom(rc.ID, name, rc.Policy()))
		g.rooms[rc.ID] = rm
		for _, p := range rc.patterns {
			routes = append(routes, route{host: rc.Host, pattern: p, room: rm})
		}
	}
	g.router = newRouter(routes)
	p, err := newProxy(g.ctx, cfg.Origin, cfg.trusted, opts.Logger)
	if err != nil {
		return nil, err
	}
	g.proxy = p
	return g, nil
}

// Controller is the gateway's admission controller.
func (g *Gateway) Controller() *admission.Controller { return g.ctrl }

// Handler serves fans; Run serves it on a listener.
func (g *Gateway) Handler() fasthttp.RequestHandler { return g.handle }

// Server returns a fasthttp server for the fans' listener, configured from
// the server settings.
func (g *Gateway) server() *fasthttp.Server {
	s := g.cfg.Server
	return &fasthttp.Server{
		Handler:                      g.handle,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  time.Duration(s.ReadTimeout),
		WriteTimeout:                 time.Duration(s.WriteTimeout),
		IdleTimeout:                  time.Duration(s.IdleTimeout),
		ReadBufferSize:               int(s.MaxHeaderBytes),
		MaxRequestBodySize:           int(s.MaxRequestBodyBytes),
		Concurrency:                  s.Concurrency,
		CloseOnShutdown:              true,
		// A waiting room holds many idle kept-alive connections (fans
		// between polls): give their buffers back while they idle.
		ReduceMemoryUsage: true,
		Logger:            fasthttpLogger{g.log},
	}
}

// Run serves fans on ln and operators on adminLn (which may be nil) until
// ctx ends. Then readiness fails at once, the gateway keeps serving for the
// drain delay so load balancers notice, stops accepting, and waits for the
// requests in flight up to the shutdown timeout.
func (g *Gateway) Run(ctx context.Context, ln, adminLn net.Listener) error {
	defer g.cancel()
	srv := g.server()
	var admin *http.Server
	if adminLn != nil {
		admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	}
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return g.ctrl.Run(gctx) })
	grp.Go(func() error { g.watchStore(gctx); return nil })
	grp.Go(func() error {
		if err := srv.Serve(ln); err != nil {
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		return nil
	})
	if admin != nil {
		grp.Go(func() error {
			if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve admin %s: %w", adminLn.Addr(), err)
			}
			return nil
		})
	}
	grp.Go(func() error {
		<-gctx.Done()
		g.draining.Store(true)
		if ctx.Err() != nil { // a real stop, not a failure elsewhere
			g.log.Info("stopping: draining", "drain_delay", g.cfg.Server.DrainDelay.String())
			time.Sleep(time.Duration(g.cfg.Server.DrainDelay))
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(g.cfg.Server.ShutdownTimeout))
		defer cancel()
		var errs []error
		if err := srv.ShutdownWithContext(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down: %w", err))
		}
		if admin != nil {
			if err := admin.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down admin: %w", err))
			}
		}
		return errors.Join(errs...)
	})
	err := grp.Wait()
	g.log.Info("stopped")
	return err
}

// watchStore keeps readiness in step with the store.
func (g *Gateway) watchStore(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Redis.Timeout))
		err := g.store.Ping(pctx)
		cancel()
		if ok := err == nil; g.storeOK.Swap(ok) != ok && ctx.Err() == nil {
			if ok {
				g.log.Info("queue store answers again")
			} else {
				g.log.Error("queue store does not answer", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "http")
}
