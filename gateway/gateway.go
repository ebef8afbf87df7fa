// Package gateway is usher's edge: a fasthttp server that stands in front of
// a venue's site. It lets admitted visitors through to the origin, holds
// everyone else in a room's queue on the queue page, and passes every path no
// room protects straight through, as if it were not there.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/admin"
	"github.com/usherhq/usher/gateway/shield"
	"github.com/usherhq/usher/internal/adminauth"
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
	// Now is the clock of tokens, ramps and sessions. Default time.Now.
	Now func() time.Time
	// NoProcessMetrics leaves the Go runtime and process metrics out of
	// /metrics (tests compare the exposition with a golden file).
	NoProcessMetrics bool
}

// Gateway serves fans on one listener and operators on another.
type Gateway struct {
	cfg     *Config
	log     *slog.Logger
	store   queue.Store
	keys    *admission.KeySet
	tokens  *admission.Tokens
	ctrl    *admission.Controller
	routing atomic.Pointer[routing]
	caching atomic.Pointer[caching]
	purges  purges
	proxy   *proxy
	now     func() time.Time
	metrics *metrics
	admin   *admin.Server
	access  *slog.Logger // nil unless the access log is on
	// challenger makes and checks proof-of-work challenges with a secret
	// derived from the signing key, so any instance checks another's.
	challenger *shield.Challenger
	// login is the fans' login provider; nil without one.
	login *fanLogin

	// ctx carries store calls made for visitors; a fasthttp RequestCtx is
	// not a context to hang them on. It ends when Run returns.
	ctx    context.Context
	cancel context.CancelFunc
	// streams ends long-lived connections (event streams, tunnels) once the
	// drain delay is over, so that shutdown does not wait for them.
	streams    context.Context
	endStreams context.CancelFunc
	draining   atomic.Bool
	storeOK    atomic.Bool
	pingErrors atomic.Int64
	// logStoreErrors keeps a failing store from flooding the log: one line
	// a second at most.
	logStoreErrors     rate.Sometimes
	logInventoryErrors rate.Sometimes
}

// routing is the rooms as the request path sees them; a reload swaps it
// whole.
type routing struct {
	router *router
	rooms  map[string]*room
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
			Tick: time.Duration(cfg.Queue.Tick), StoreTimeout: time.Duration(cfg.Redis.Timeout), Logger: opts.Logger, Now: opts.Now,
		}),
		now:            opts.Now,
		metrics:        newMetrics(),
		logStoreErrors: rate.Sometimes{Interval: time.Second},
		// One line a minute: a source that is down says so without flooding.
		logInventoryErrors: rate.Sometimes{Interval: time.Minute},
	}
	if cfg.Log.Access {
		g.access = opts.Logger.With("log", "access")
	}
	ch, err := shield.NewChallenger(opts.Keys.Secret(challengeSecretPurpose))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.challenger = ch
	g.login = newFanLogin(cfg.Login, opts.Keys, opts.Now)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.streams, g.endStreams = context.WithCancel(g.ctx)
	g.storeOK.Store(true)
	g.setRooms(cfg.Rooms)
	p, err := newProxy(g.streams, cfg.Origin, cfg.trusted, opts.Logger)
	if err != nil {
		return nil, err
	}
	p.observe = g.metrics.observeUpstream
	g.proxy = p
	g.setCaches(cfg.Cache.Rules)
	g.registerMetrics(g.metrics, !opts.NoProcessMetrics)
	if g.admin, err = g.newAdmin(); err != nil {
		return nil, err
	}
	return g, nil
}

// setRooms makes the gateway serve rooms: the controller's list and the
// routing table change together.
func (g *Gateway) setRooms(rooms []RoomConfig) {
	defs := make([]admission.RoomDef, len(rooms))
	for i, rc := range rooms {
		name := rc.Name
		if name == "" {
			name = rc.ID
		}
		defs[i] = admission.RoomDef{ID: rc.ID, Name: name, Policy: rc.Policy(), Lease: time.Duration(rc.FailoverLease)}
	}
	adm := g.ctrl.SetRooms(defs)
	var prev map[string]*room
	if old := g.routing.Load(); old != nil {
		prev = old.rooms
	}
	rt := &routing{rooms: map[string]*room{}}
	var routes []route
	for i, rc := range rooms {
		rm := newRoom(adm[i], rc, prev[rc.ID], g.metrics)
		rt.rooms[rc.ID] = rm
		for _, p := range rc.patterns {
			routes = append(routes, route{host: rc.Host, pattern: p, room: rm})
		}
		for _, p := range rc.except {
			// A route to no room: where it is the most specific match, the
			// request passes through.
			routes = append(routes, route{host: rc.Host, pattern: p})
		}
	}
	rt.router = newRouter(routes)
	g.routing.Store(rt)
}

// Reload applies a new configuration's rooms without dropping a connection:
// new rooms start, removed ones stop, and a room whose policy changed in the
// file takes it (see admission.Controller.SetRooms). Other settings need a
// restart; the ones that differ are returned so the caller can say so.
func (g *Gateway) Reload(cfg *Config) (needRestart []string) {
	g.setRooms(cfg.Rooms)
	g.setCaches(cfg.Cache.Rules)
	old := *g.cfg
	if old.Listen != cfg.Listen {
		needRestart = append(needRestart, "listen")
	}
	if old.AdminListen != cfg.AdminListen {
		needRestart = append(needRestart, "admin_listen")
	}
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"origin", old.Origin, cfg.Origin}, {"server", old.Server, cfg.Server}, {"redis", old.Redis, cfg.Redis},
		{"tokens", old.Tokens, cfg.Tokens}, {"queue", old.Queue, cfg.Queue}, {"log", old.Log, cfg.Log},
		{"trusted_proxies", old.TrustedProxies, cfg.TrustedProxies}, {"plain_http", old.PlainHTTP, cfg.PlainHTTP},
		{"admin", old.Admin, cfg.Admin},
	} {
		if !reflect.DeepEqual(c.old, c.new) {
			needRestart = append(needRestart, c.key)
		}
	}
	g.log.Info("configuration reloaded", "rooms", len(cfg.Rooms), "cache_rules", len(cfg.Cache.Rules), "need_restart", needRestart)
	return needRestart
}

// newAdmin builds the admin listener from the admin settings.
func (g *Gateway) newAdmin() (*admin.Server, error) {
	a := g.cfg.Admin
	tokens := adminauth.Tokens(a.Tokens, "USHER_ADMIN_TOKEN", a.envToken)
	key := []byte(a.sessionKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		if a.OIDC != nil {
			g.log.Warn("USHER_SESSION_KEY is not set: dashboard logins last until this instance restarts and work on this instance only")
		}
	}
	return admin.New(admin.Config{
		Tokens: tokens, OIDC: a.OIDC.OIDC(a.clientSecret), SessionKey: key, SessionTTL: time.Duration(a.SessionTTL), PlainHTTP: g.cfg.PlainHTTP,
	}, admin.Deps{Rooms: g.ctrl, Revoker: revoker{g}, Cache: purger{g}, Metrics: g.metrics.handler(), Logger: g.log, Stop: g.streams, Now: g.now})
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
		MaxConnsPerIP:                s.MaxConnsPerIP,
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
	var adminSrv *http.Server
	if adminLn != nil {
		adminSrv = &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	}
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return g.ctrl.Run(gctx) })
	grp.Go(func() error { g.watchStore(gctx); return nil })
	grp.Go(func() error { g.sweepLimits(gctx); return nil })
	grp.Go(func() error { g.refreshRevocations(gctx); return nil })
	grp.Go(func() error { g.watchPurges(gctx); return nil })
	grp.Go(func() error { g.watchInventory(gctx); return nil })
	grp.Go(func() error { g.watchAutoRate(gctx); return nil })
	grp.Go(func() error {
		if err := srv.Serve(ln); err != nil {
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		return nil
	})
	if adminSrv != nil {
		grp.Go(func() error {
			if err := adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
		// Event streams and tunnels end now, or shutdown would wait for
		// them.
		g.endStreams()
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(g.cfg.Server.ShutdownTimeout))
		defer cancel()
		var errs []error
		if err := srv.ShutdownWithContext(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down: %w", err))
		}
		// A stop that comes before Serve has taken the listener is not
		// seen by Shutdown, and Serve would then run on; on a closed
		// listener it returns at once.
		_ = ln.Close()
		if adminSrv != nil {
			if err := adminSrv.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down admin: %w", err))
			}
		}
		return errors.Join(errs...)
	})
	err := grp.Wait()
	g.log.Info("stopped")
	return err
}

// AdminHandler serves the admin listener, its requests counted in metrics.
func (g *Gateway) AdminHandler() http.Handler { return g.metrics.instrumentAdmin(g.admin.Handler()) }

// sweepLimits forgets idle client buckets every few seconds, so a flood of
// addresses that has passed gives its memory back.
func (g *Gateway) sweepLimits(ctx context.Context) {
	every(ctx, 5*time.Second, func() {
		now := g.now()
		for _, rm := range g.routing.Load().rooms {
			rm.sweep(now)
		}
	})
}

// every calls do every d until ctx ends.
func every(ctx context.Context, d time.Duration, do func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		do()
	}
}

// watchStore keeps readiness in step with the store.
func (g *Gateway) watchStore(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Redis.Timeout))
		err := g.store.Ping(pctx)
		cancel()
		if err != nil {
			g.pingErrors.Add(1)
		}
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
