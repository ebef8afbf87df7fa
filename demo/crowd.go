package demo

import (
	"context"
	"log/slog"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue"
)

// Crowd is a number of simulated fans who join a room before anyone else,
// so the first real visitor finds a line ahead of them. Every fifth fan never
// comes back for their turn, which shows the line moving past no-shows.
type Crowd struct {
	Room *admission.Room
	Size int
	Log  *slog.Logger
}

// Run joins the crowd, then claims each fan's admission when the line
// reaches them, until every fan is admitted or gone, or ctx ends.
func (c Crowd) Run(ctx context.Context) error {
	var waiting []int64
	for i := range c.Size {
		pl, err := c.Room.Join(ctx, admission.NewVisitorID())
		if ctx.Err() != nil {
			return nil // the demo is stopping: not a failure
		}
		if err != nil {
			return err
		}
		if !pl.Admitted && i%5 != 4 {
			waiting = append(waiting, pl.Seq)
		}
	}
	c.Log.Info("a simulated crowd is in line ahead of you", "fans", c.Size, "room", c.Room.ID())
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		served := c.Room.View().Served
		rest := waiting[:0]
		for _, seq := range waiting {
			if seq > served {
				rest = append(rest, seq)
				continue
			}
			if cl, err := c.Room.Claim(ctx, seq); err != nil || cl.Outcome == queue.NotOffered || cl.Outcome == queue.Lapsed {
				rest = append(rest, seq)
			}
		}
		waiting = rest
	}
	return nil
}
