// Command usher is a virtual waiting room for ticket on-sales.
//
//	usher demo      everything in one process, no server needed
//	usher gateway   the waiting room in front of a venue's site
//	usher booking   the booking backend: seats, holds, payments, tickets
//	usher keygen    a new Ed25519 signing key for tickets and passes
//	usher verify-lottery  checks a room's lottery draw from what it published
//	usher version   the version of this binary
package main

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/booking"
	bookingserver "github.com/usherhq/usher/booking/server"
	"github.com/usherhq/usher/booking/sqlite"
	"github.com/usherhq/usher/booking/ticket"
	"github.com/usherhq/usher/demo"
	"github.com/usherhq/usher/gateway"
	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	queueredis "github.com/usherhq/usher/queue/redis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "usher:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: usher <command> [flags]

commands:
  demo      run the whole system in one process, with no server needed
  gateway   run the waiting room in front of a site: usher gateway -config FILE [-check]
  booking   run the booking backend: usher booking -config FILE [-check]
  keygen    write a new signing key: usher keygen -out FILE
  verify-lottery
            check a room's lottery draw: usher verify-lottery -url SITE -room ROOM [-entry N]
  version   print the version

Run usher <command> -h for the flags of a command.
`

// run is the whole program; main only gives it the process's context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr, nil)
	case "gateway":
		return runGateway(ctx, args[1:], getenv, stdout, stderr)
	case "booking":
		return runBooking(ctx, args[1:], getenv, stdout, stderr)
	case "keygen":
		return runKeygen(args[1:], stdout, stderr)
	case "verify-lottery":
		return runVerifyLottery(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "usher", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: must be json or text", format)
}

func runGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration file (required)")
	check := fs.Bool("check", false, "validate the configuration and its key files, then exit")
	logFormat := fs.String("log-format", "", "json or text (default: the config's log.format)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the config's log.level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return errors.New("gateway: -config is required")
	}
	cfg, err := gateway.LoadConfig(*path, getenv)
	if err != nil {
		return err
	}
	keys, err := admission.LoadKeySet(cfg.Tokens.KeyFiles...)
	if err != nil {
		return fmt.Errorf("config %s: tokens.key_files: %w", *path, err)
	}
	if *check {
		fmt.Fprintf(stdout, "config %s is valid: %d room(s), signing key %s\n", *path, len(cfg.Rooms), keys.SigningKID())
		return nil
	}
	format, level := cfg.Log.Format, cfg.Log.Level
	if *logFormat != "" {
		format = *logFormat
	}
	if *logLevel != "" {
		level = *logLevel
	}
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	store, err := openStore(cfg.Redis, log)
	if err != nil {
		return err
	}
	defer store.Close()
	// SIGHUP reloads the rooms from the file; a bad file is refused with its
	// problems and the running configuration stays. The signal is caught
	// from here on, before the gateway listens.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := func(ctx context.Context, g *gateway.Gateway, _, _ string) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				next, err := gateway.LoadConfig(*path, getenv)
				if err != nil {
					log.Error("configuration not reloaded: the file has problems; the running configuration stays", "err", err)
					continue
				}
				if need := g.Reload(next); len(need) > 0 {
					log.Warn("these settings changed in the file and take effect at the next restart", "settings", need)
				}
			}
		}
	}
	return serve(ctx, cfg, gateway.Options{Store: store, Keys: keys, Logger: log}, reload)
}

// openStore connects to Redis when the config names it, and otherwise keeps
// the queue in this process's memory.
func openStore(rc gateway.RedisConfig, log *slog.Logger) (queue.Store, error) {
	if rc.URL == "" {
		log.Warn("no redis configured: the queue lives in this process's memory and serves this one instance only")
		return memory.New(memory.Options{}), nil
	}
	client, where, err := redisClient(rc)
	if err != nil {
		return nil, err
	}
	// The client's own lines (one per failed dial while Redis is down)
	// go into the JSON log at debug level; the gateway logs the outage.
	goredis.SetLogger(redisLog{log})
	s, err := queueredis.New(client, queueredis.Options{Prefix: rc.KeyPrefix, Replicas: max(rc.WaitReplicas, 0)})
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	log.Info("queue store: redis", "mode", cmp.Or(rc.Mode, "single"), "at", where, "key_prefix", rc.KeyPrefix)
	return s, nil
}

// redisLog carries the Redis client's log lines into the gateway's log.
type redisLog struct{ log *slog.Logger }

// Printf logs one line of the Redis client.
func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// redisClient connects as rc says: one server, a Redis Cluster (from the
// URL's node and the other addresses), or the master that Sentinel names.
// The URL carries the credentials, TLS and, but for a cluster, the
// database in every mode. where says what it connects to, for the log.
func redisClient(rc gateway.RedisConfig) (client goredis.UniversalClient, where string, err error) {
	opts, err := goredis.ParseURL(rc.URL)
	if err != nil {
		return nil, "", fmt.Errorf("redis url: %w", err)
	}
	if rc.PoolSize > 0 {
		opts.PoolSize = rc.PoolSize
	}
	timeout := time.Duration(rc.Timeout)
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	switch rc.Mode {
	case "cluster":
		addrs := append([]string{opts.Addr}, rc.Addrs...)
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: addrs, Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLSConfig,
			PoolSize: opts.PoolSize, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), strings.Join(addrs, ","), nil
	case "sentinel":
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: rc.MasterName, SentinelAddrs: rc.Addrs, SentinelPassword: rc.SentinelPassword,
			Username: opts.Username, Password: opts.Password, DB: opts.DB, TLSConfig: opts.TLSConfig,
			PoolSize: opts.PoolSize, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), rc.MasterName + " via " + strings.Join(rc.Addrs, ","), nil
	}
	return goredis.NewClient(opts), fmt.Sprintf("%s db %d", opts.Addr, opts.DB), nil
}

// serve runs a gateway on the configured listeners until ctx ends. extra,
// if not nil, runs beside it (the demo's origin and crowd) and learns the
// addresses the gateway listens on.
func serve(ctx context.Context, cfg *gateway.Config, opts gateway.Options, extra func(ctx context.Context, g *gateway.Gateway, addr, adminAddr string) error) error {
	g, err := gateway.New(cfg, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
	}
	adminAddr := ""
	if adminLn != nil {
		adminAddr = adminLn.Addr().String()
	}
	opts.Logger.Info("gateway listening", "addr", ln.Addr().String(), "admin_addr", adminAddr, "rooms", len(cfg.Rooms))
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return g.Run(gctx, ln, adminLn) })
	if extra != nil {
		grp.Go(func() error { return extra(gctx, g, ln.Addr().String(), adminAddr) })
	}
	return grp.Wait()
}

func runBooking(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("booking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration file (required)")
	check := fs.Bool("check", false, "validate the configuration and its key files, then exit")
	logFormat := fs.String("log-format", "", "json or text (default: the config's log.format)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the config's log.level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return errors.New("booking: -config is required")
	}
	cfg, err := bookingserver.LoadConfig(*path, getenv)
	if err != nil {
		return err
	}
	if _, err := ticket.LoadKeys(cfg.Tickets.KeyFiles...); err != nil {
		return fmt.Errorf("config %s: tickets.key_files: %w", *path, err)
	}
	if len(cfg.Passes.KeyFiles) > 0 {
		if _, err := admission.LoadKeySet(cfg.Passes.KeyFiles...); err != nil {
			return fmt.Errorf("config %s: passes.key_files: %w", *path, err)
		}
	}
	if *check {
		fmt.Fprintf(stdout, "config %s is valid\n", *path)
		return nil
	}
	format, level := cfg.Log.Format, cfg.Log.Level
	if *logFormat != "" {
		format = *logFormat
	}
	if *logLevel != "" {
		level = *logLevel
	}
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
	}
	srv, err := bookingserver.New(ctx, cfg, ln, bookingserver.Options{Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	log.Info("booking backend listening", "addr", ln.Addr().String(), "admin_addr", cfg.AdminListen)
	return srv.Run(ctx, adminLn)
}

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the file to write the private key to (PEM, mode 0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("keygen: -out is required")
	}
	key, err := admission.GenerateKey()
	if err != nil {
		return err
	}
	pem, err := admission.MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (kid %s)\n", *out, admission.NewKeySet(key).SigningKID())
	return nil
}

// runDemo runs everything in one process: the gateway with an in-memory
// queue and a generated key, in front of the booking backend on an embedded
// SQLite database with seeded events, with a simulated crowd in line. ready,
// if not nil, learns where it listens once it does.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- demoAddrs) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "the address fans open")
	adminListen := fs.String("admin-listen", "127.0.0.1:9090", "the operators' address (dashboard, admin API, metrics)")
	bookingAdmin := fs.String("booking-admin-listen", "127.0.0.1:9091", "the booking backend's operator API (\"\" for none)")
	bookingListen := fs.String("booking-listen", "127.0.0.1:0", "the booking backend's own address, the gateway's origin (a free port by default)")
	crowd := fs.Int("crowd", 40, "simulated fans who join the line before you")
	redisURL := fs.String("redis", "", "keep the queue in this Redis (redis://host:port/db) under a key prefix of its own, instead of in memory")
	databaseURL := fs.String("database", "", "keep the booking data in this database (postgres://… or sqlite:PATH), seeded with the demo's events, instead of a temporary SQLite file")
	logFormat := fs.String("log-format", "text", "json or text")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	key, err := admission.GenerateKey()
	if err != nil {
		return err
	}
	keys := admission.NewKeySet(key)
	log.Info("generated a signing key for this run only: passes end when the demo stops", "kid", keys.SigningKID())

	// The dashboard and the booking operator API need a token:
	// USHER_ADMIN_TOKEN, or one made for the run and printed.
	adminToken := getenv("USHER_ADMIN_TOKEN")
	if adminToken == "" {
		adminToken = admission.NewVisitorID()
	}
	demoEnv := func(k string) string {
		switch k {
		case "USHER_ADMIN_TOKEN":
			return adminToken
		case "USHER_WEBHOOK_SECRET":
			return admission.NewVisitorID() + admission.NewVisitorID()
		}
		return getenv(k)
	}

	// The booking backend: an embedded database that lives as long as the
	// run, seeded with the demo's events. What is opened here is closed on
	// the way out, whether or not the backend got to run (Run closes the
	// store too; closing twice is harmless).
	var closers []func() error
	defer func() {
		for _, c := range slices.Backward(closers) {
			_ = c()
		}
	}()
	var store booking.Store
	if *databaseURL != "" {
		store, err = bookingserver.OpenStore(ctx, *databaseURL)
	} else {
		var dir string
		if dir, err = os.MkdirTemp("", "usher-demo-"); err != nil {
			return err
		}
		closers = append(closers, func() error { return os.RemoveAll(dir) })
		store, err = sqlite.Open(filepath.Join(dir, "booking.db"))
	}
	if err != nil {
		return fmt.Errorf("demo database: %w", err)
	}
	closers = append(closers, store.Close)
	if err := demo.Seed(ctx, store, "demo", time.Now()); err != nil {
		return err
	}
	bookingLn, err := net.Listen("tcp", *bookingListen)
	if err != nil {
		return fmt.Errorf("demo booking backend: %w", err)
	}
	closers = append(closers, bookingLn.Close)
	bcfg := bookingserver.DefaultConfig()
	bcfg.Listen, bcfg.AdminListen = bookingLn.Addr().String(), *bookingAdmin
	bcfg.Passes.KeyFiles = []string{"(the demo's)"}
	bcfg.Tickets.KeyFiles = []string{"(the demo's)"}
	bcfg.Log = bookingserver.LogConfig{Level: *logLevel, Format: *logFormat}
	checked, err := bookingserver.CheckConfig(bcfg, demoEnv)
	if err != nil {
		return fmt.Errorf("demo booking config: %w", err)
	}
	ticketKeys, err := bookingserver.GenerateTicketKeys()
	if err != nil {
		return err
	}
	backend, err := bookingserver.New(ctx, checked, bookingLn, bookingserver.Options{Logger: log.With("component", "booking"), Store: store, PassKeys: keys, TicketKeys: ticketKeys})
	if err != nil {
		return err
	}
	var bookingAdminLn net.Listener
	if *bookingAdmin != "" {
		if bookingAdminLn, err = net.Listen("tcp", *bookingAdmin); err != nil {
			return fmt.Errorf("booking admin listen: %w", err)
		}
		closers = append(closers, bookingAdminLn.Close)
	}

	cfg, err := demoConfig(*listen, *adminListen, "http://"+bookingLn.Addr().String(), demoEnv)
	if err != nil {
		return err
	}
	var queueStore queue.Store = memory.New(memory.Options{})
	if *redisURL != "" {
		rc := cfg.Redis
		rc.URL, rc.KeyPrefix = *redisURL, "usher-demo:"+admission.NewVisitorID()+":"
		if queueStore, err = openStore(rc, log); err != nil {
			return err
		}
		// The run's keys are nobody else's: they go with it.
		defer dropKeys(rc, log)
	}
	defer queueStore.Close()
	extra := func(ctx context.Context, g *gateway.Gateway, addr, adminAddr string) error {
		grp, gctx := errgroup.WithContext(ctx)
		grp.Go(func() error { return backend.Run(gctx, bookingAdminLn) })
		if *crowd > 0 {
			grp.Go(func() error {
				return demo.Crowd{Room: g.Controller().Room("demo"), Size: *crowd, Log: log}.Run(gctx)
			})
		}
		fmt.Fprintf(stdout, "usher demo is running.\n  open   http://%s/events/   (the waiting room, then seats, hold, pay, tickets)\n  or     http://%s/           (the site, outside any room)\n  admin  http://%s/           (dashboard; admin token %s)\n", addr, addr, adminAddr, adminToken)
		if bookingAdminLn != nil {
			fmt.Fprintf(stdout, "  sales  http://%s/api/events/wandering-stars/summary   (same token)\n", bookingAdminLn.Addr())
		}
		fmt.Fprintf(stdout, "  origin http://%s/   (the booking backend itself: passes needed)\n", bookingLn.Addr())
		fmt.Fprintf(stdout, "Test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined. Press Ctrl-C to stop.\n")
		if ready != nil {
			ready <- demoAddrs{g, addr, adminAddr}
		}
		return grp.Wait()
	}
	return serve(ctx, cfg, gateway.Options{Store: queueStore, Keys: keys, Logger: log}, extra)
}

// dropKeys deletes every key under the prefix of rc, as the demo leaves.
func dropKeys(rc gateway.RedisConfig, log *slog.Logger) {
	opts, err := goredis.ParseURL(rc.URL)
	if err != nil {
		return
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, rc.KeyPrefix+"*", 1000).Iterator()
	var n int
	for iter.Next(ctx) {
		if c.Del(ctx, iter.Val()).Err() == nil {
			n++
		}
	}
	if err := iter.Err(); err != nil {
		log.Warn("could not drop the demo's redis keys", "key_prefix", rc.KeyPrefix, "err", err)
		return
	}
	log.Info("dropped the demo's redis keys", "keys", n, "key_prefix", rc.KeyPrefix)
}

// demoAddrs tells a test where a demo it started listens.
type demoAddrs struct {
	g               *gateway.Gateway
	addr, adminAddr string
}

// demoYAML is the demo's configuration: one room, demo, protecting
// /events/* and /api/*, open, 60 admissions a minute, 100 active at most,
// 10-minute sessions, over plain HTTP.
//
//go:embed configs/demo.yaml
var demoYAML []byte

// demoConfig is configs/demo.yaml with the demo's addresses.
func demoConfig(listen, adminListen, originURL string, getenv func(string) string) (*gateway.Config, error) {
	cfg, err := gateway.ParseConfig(demoYAML, getenv)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	cfg.Listen, cfg.AdminListen, cfg.Origin.URL = listen, adminListen, originURL
	return gateway.CheckConfig(*cfg, getenv)
}
