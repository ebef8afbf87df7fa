package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal says whether w is a character device: a terminal that can
// redraw a line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws a bar on stderr every second when it is a terminal, or
// writes a line a second with -v; otherwise it says nothing.
func (st *storm) progress(ctx context.Context) {
	tty := isTerminal(st.stderr)
	if !tty && !st.cfg.verbose {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		line := st.progressLine(time.Since(st.start))
		if tty {
			fmt.Fprintf(st.stderr, "\r%s\x1b[K", line)
		} else {
			fmt.Fprintln(st.stderr, line)
		}
	}
}

// progressLine is the bar: time through the run, then fans, tickets and
// the bots stopped so far.
func (st *storm) progressLine(elapsed time.Duration) string {
	const width = 24
	done := min(int(float64(width)*elapsed.Seconds()/st.cfg.duration.Seconds()), width)
	reqs, stopped := st.env.rec.bots()
	botShare := 0.0
	if reqs > 0 {
		botShare = 100 * float64(stopped) / float64(reqs)
	}
	return fmt.Sprintf("[%s%s] %4.0fs/%.0fs  fans %d/%d arrived, %d admitted, %d tickets  bots stopped %.1f%%  max active %d",
		strings.Repeat("#", done), strings.Repeat(".", width-done), elapsed.Seconds(), st.cfg.duration.Seconds(),
		st.arrived.Load(), st.cfg.fans, st.admittedFans.Load(), st.ticketsFans.Load(), botShare, st.maxActiveSeen.Load())
}
