// Command storm plays a ticket on-sale against a running usher: thousands
// of fans who queue, buy and pay as browsers do, and bots that try every
// trick the shield is meant to stop, arriving as a burst at the start of
// the sale and then a tail. It samples the gateway's own figures every
// second, checks the booking backend's books after the run, and writes a
// report (text, JSON, HTML). It exits 1 when an invariant broke (an
// oversold place, a double charge, a ticket without a payment or a paid
// order without tickets, more passes live than max_active), 2 on a usage
// error, so it can gate a release.
//
// Every client's connections leave from an address of its own in
// 127.0.0.0/8, so the gateway's per-address limits meet traffic as it comes
// from many networks: only a target on this machine's loopback makes sense.
// Every loop is bounded in count, and the whole run by -duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(2)
	case errors.Is(err, errViolations):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

// errUsage marks a bad command line; errViolations a run in which an
// invariant broke (the report says which).
var (
	errUsage      = errors.New("usage")
	errViolations = errors.New("invariants broken")
)

// run parses args, plays the storm (or, with -replay, previews a policy)
// and writes the report: the text summary to stdout, the rest to the files
// the flags name.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.replay != "" {
		return runPreview(ctx, cfg, stdout)
	}
	st, err := newStorm(cfg, stderr)
	if err != nil {
		return err
	}
	res, err := st.play(ctx)
	if err != nil {
		return err
	}
	return writeReports(res, cfg, stdout)
}
