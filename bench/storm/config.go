package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/usherhq/usher/bench/storm/report"
)

// config is the storm's command line.
type config struct {
	target, admin, bookingAdmin, token, room, origin string
	fans, bots                                       int
	burst, tail                                      time.Duration
	burstShare                                       float64
	duration, settle, timeout                        time.Duration
	rate, maxActive                                  int
	abandon, doubleSubmit                            float64
	botMix                                           map[string]float64
	events                                           []string
	conns                                            int
	exclusive, verbose                               bool
	jsonOut, htmlOut                                 string
	seed                                             uint64
	settings                                         map[string]string

	// The policy preview (-replay): see preview.go.
	replay, policy           string
	sessionUse               time.Duration
	requestsPerShopperMinute float64
}

// parseFlags reads the command line; a problem with it is an errUsage.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: storm [flags]\n\nPlays an on-sale against a running usher (fans and bots from addresses across\n127.0.0.0/8) and reports; exit status 1 when an invariant broke, 2 on a usage error.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.target, "target", "http://127.0.0.1:8080", "the gateway's fans' listener")
	fs.StringVar(&c.admin, "admin", "http://127.0.0.1:9090", "the gateway's admin listener: the room is set up through it and its stats sampled every second (\"\" for neither)")
	fs.StringVar(&c.bookingAdmin, "booking-admin", "http://127.0.0.1:9091", "the booking backend's operator API, whose summaries the invariants are checked against (\"\" to check only the storm's own orders)")
	fs.StringVar(&c.token, "token", getenv("USHER_ADMIN_TOKEN"), "bearer token of both admin APIs (default $USHER_ADMIN_TOKEN)")
	fs.StringVar(&c.room, "room", "demo", "the waiting room that protects the events")
	fs.StringVar(&c.origin, "origin", "", "the booking backend's own address (http://host:port); when set, origin bots try it without a pass, and must get 401")
	fs.IntVar(&c.fans, "fans", 2000, "fans that arrive")
	fs.IntVar(&c.bots, "bots", 500, "bots that arrive")
	fs.DurationVar(&c.burst, "burst", 10*time.Second, "the burst at the start of the sale, over which -burst-share of the clients arrive evenly")
	fs.DurationVar(&c.tail, "tail", 30*time.Second, "the tail after the burst, over which the others arrive at a decaying rate")
	fs.Float64Var(&c.burstShare, "burst-share", 0.7, "share of the clients (0 to 1) that arrive in the burst")
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "the run's deadline from the first arrival: every client stops then (with -replay: the simulated time, default 3h)")
	fs.DurationVar(&c.settle, "settle", 30*time.Second, "after the deadline, how long paid orders may take to settle before the books are checked")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Second, "timeout of one request")
	fs.IntVar(&c.rate, "rate", 6000, "admissions per minute set on the room before the storm (0 leaves the room's own)")
	fs.IntVar(&c.maxActive, "max-active", 500, "the room's max_active set before the storm (0 leaves the room's own)")
	fs.Float64Var(&c.abandon, "abandon", 0.1, "share of fans (0 to 1) that walk away at each step: in line, once admitted, with a hold, with an order, after paying")
	fs.Float64Var(&c.doubleSubmit, "double-submit", 0.05, "share of fans (0 to 1) that submit their order and the card form twice")
	mix := fs.String("bot-mix", "fast-poller=1,cookie-dropper=1,many-places=1,automation=1,forger=1,pass-sharer=1,origin=1", "weights of the bot behaviours: "+strings.Join(botKinds, ", ")+" (origin bots do nothing without -origin)")
	events := fs.String("events", "", "comma-separated event ids to buy (default: every event on sale in the catalogue)")
	fs.IntVar(&c.conns, "conns", 512, "requests in flight at once, over all clients (each holds one connection)")
	fs.BoolVar(&c.exclusive, "exclusive", false, "the storm is the only buyer (a fresh database): every sold place must belong to one of its paid orders")
	fs.StringVar(&c.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&c.htmlOut, "html", "", "write the report as a self-contained HTML page to this file")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of arrivals, behaviours and choices: the same seed plays the same storm")
	fs.BoolVar(&c.verbose, "v", false, "a progress line every second when stderr is not a terminal")
	fs.StringVar(&c.replay, "replay", "", "preview a room policy instead of playing a storm: a CSV arrival curve (header second,arrivals) played through -policy in simulated time, without a server")
	fs.StringVar(&c.policy, "policy", "", "with -replay: a YAML file of one room's policy, in the gateway's room keys (rate_per_minute, max_active, session, claim_window, poll_min, poll_max, rate_ramp)")
	fs.DurationVar(&c.sessionUse, "session-use", 6*time.Minute, "with -replay: how long an admitted shopper shops before leaving (at most the policy's session)")
	fs.Float64Var(&c.requestsPerShopperMinute, "requests-per-shopper-minute", 20, "with -replay: requests an active shopper sends the origin per minute")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if c.replay != "" || c.policy != "" {
		return c, checkPreviewFlags(&c, fs)
	}
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	for name, u := range map[string]string{"target": c.target, "admin": c.admin, "booking-admin": c.bookingAdmin, "origin": c.origin} {
		if u == "" && name != "target" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("-%s %q: want http://host:port", name, u)
		}
	}
	if c.fans < 0 || c.bots < 0 || c.fans+c.bots == 0 {
		bad("-fans %d, -bots %d: want at least one client, none negative", c.fans, c.bots)
	}
	for name, v := range map[string]float64{"abandon": c.abandon, "double-submit": c.doubleSubmit, "burst-share": c.burstShare} {
		if v < 0 || v > 1 {
			bad("-%s %v: want 0 to 1", name, v)
		}
	}
	if c.duration <= 0 || c.burst < 0 || c.tail < 0 || c.settle < 0 || c.timeout <= 0 {
		bad("-duration and -timeout must be positive, -burst, -tail and -settle not negative")
	}
	if c.rate < 0 || c.maxActive < 0 {
		bad("-rate and -max-active must not be negative")
	}
	if c.conns < 1 {
		bad("-conns %d: want at least 1", c.conns)
	}
	if (c.admin != "" || c.bookingAdmin != "") && c.token == "" {
		bad("the admin APIs need a token: -token or USHER_ADMIN_TOKEN (or -admin \"\" -booking-admin \"\")")
	}
	mixes, err := parseMix(*mix)
	c.botMix = mixes
	if err != nil && c.bots > 0 {
		bad("-bot-mix: %v", err)
	}
	for e := range strings.SplitSeq(*events, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.events = append(c.events, e)
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %w", errUsage, errors.Join(problems...))
	}
	c.settings = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "token" {
			c.settings[f.Name] = f.Value.String()
		}
	})
	return c, nil
}

// writeReports writes the text summary to stdout and the files the flags
// name; a run with violations is errViolations once all are written.
func writeReports(res *report.Results, cfg config, stdout io.Writer) error {
	if err := report.WriteText(stdout, res); err != nil {
		return err
	}
	write := func(path string, f func(io.Writer, *report.Results) error) error {
		if path == "" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := f(out, res); err != nil {
			_ = out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("report %s: %w", path, err)
		}
		return nil
	}
	if err := errors.Join(write(cfg.jsonOut, report.WriteJSON), write(cfg.htmlOut, report.WriteHTML)); err != nil {
		return err
	}
	if len(res.Violations) > 0 {
		return errViolations
	}
	return nil
}
