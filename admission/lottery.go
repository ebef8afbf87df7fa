package admission

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/usherhq/usher/lottery"
)

// ModeLottery shuffles the visitors who join before the sale starts into a
// random order at the start, drawn so that anyone can check it (see package
// lottery); later arrivals follow in arrival order.
const ModeLottery Mode = "lottery"

// drawSettle is how long after the sale start a room waits before it
// draws, so that the entries of joins made in the last moment before the
// start have reached the store.
const drawSettle = time.Second

// drawRead bounds the store calls of a draw: reading every entry of a big
// pre-queue takes longer than an ordinary call.
const drawRead = 15 * time.Second

// drawKeep is how long a lottery's seed, draw and entries stay in the
// store after the sale start, for anyone to check.
const drawKeep = 30 * 24 * time.Hour

// drawAgreeTries is how many ticks an instance waits for its reading of
// the entries to match the digest the first instance to draw bound, before
// it goes on with its own and says so in the log.
const drawAgreeTries = 5

// Drawn is a room's lottery once drawn: the order, and what anyone needs to
// check it.
type Drawn struct {
	lottery.Order
	// Seed is the seed, revealed; Commitment what was published before.
	Seed       []byte
	Commitment string
	// At is when this instance drew.
	At time.Time
	// opensAt is the opening of the line the lottery belongs to (see
	// lotteryName): a draw of an earlier opening is no draw of this one.
	opensAt time.Time
}

// of says whether d is the draw of the lottery of a line that opens at
// opensAt. It compares times rather than names, so that a status poll
// builds no string.
func (d *Drawn) of(opensAt time.Time) bool {
	return d != nil && d.opensAt.Equal(opensAt)
}

// Lottery reports whether the room draws its pre-queue's order.
func (r *Room) Lottery() bool { return r.Policy().Mode == ModeLottery }

// Drawn is the room's lottery once this instance has drawn it, or nil.
func (r *Room) Drawn() *Drawn { return r.drawn.Load() }

// lotteryName tells a room's lotteries apart in the store: one for each
// opening of its line, so a room reused for a later sale draws afresh,
// while a sale start moved during the pre-queue keeps its entrants.
func (r *Room) lotteryName() (draw, entrants string) {
	at := "0"
	if t := r.Policy().OpensAt; !t.IsZero() {
		at = strconv.FormatInt(t.Unix(), 10)
	}
	return "lottery-" + at, "entrants-" + at
}

// drawTTL is how long the lottery's records stay in the store.
func (r *Room) drawTTL() time.Duration {
	return max(r.Policy().SaleStartsAt.Sub(r.c.now()), 0) + drawKeep
}

// Commitment is the SHA-256, in hex, of the seed the room's lottery will
// be drawn with: made by the first instance to need it, and the same on
// every instance from then on. The seed stays in the store, unrevealed,
// until the draw.
func (r *Room) Commitment(ctx context.Context) (string, error) {
	seed, err := r.seed(ctx)
	if err != nil {
		return "", err
	}
	return lottery.Commit(seed), nil
}

// seed is the lottery's seed, made once for every instance.
func (r *Room) seed(ctx context.Context) ([]byte, error) {
	set, _ := r.lotteryName()
	if s := r.seedCache.Load(); s != nil && s.set == set {
		return s.seed, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	v, err := r.c.store.Bind(ctx, r.id, set, "seed", hex.EncodeToString(lottery.NewSeed()), r.drawTTL())
	if err != nil {
		return nil, fmt.Errorf("lottery seed of room %q: %w", r.id, err)
	}
	seed, err := hex.DecodeString(v)
	if err != nil || len(seed) != lottery.SeedSize {
		return nil, fmt.Errorf("lottery seed of room %q: the store holds %q, not %d bytes in hex", r.id, v, lottery.SeedSize)
	}
	r.seedCache.Store(&seedOf{set: set, seed: seed})
	return seed, nil
}

// seedOf is a seed with the lottery it belongs to.
type seedOf struct {
	set  string
	seed []byte
}

// enter records the visitor id of arrival seq as an entrant of the room's
// lottery, until this instance has drawn it: every join up to the draw is
// in it.
func (r *Room) enter(ctx context.Context, seq int64, id string) error {
	if !r.Lottery() {
		return nil
	}
	if r.drawn.Load().of(r.Policy().OpensAt) {
		return nil
	}
	_, entrants := r.lotteryName()
	if !lottery.ValidID(id) {
		return fmt.Errorf("lottery entry of room %q: ticket id %q cannot be published", r.id, id)
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	if _, err := r.c.store.Mark(ctx, r.id, entrants, strconv.FormatInt(seq, 10)+"."+id, r.drawTTL()); err != nil {
		return fmt.Errorf("lottery entry of room %q: %w", r.id, err)
	}
	return nil
}

// place is where arrival seq stands in line: seq itself, except in a
// lottery, where arrivals up to the draw have the place it gave them, and
// none until this instance has drawn.
func (r *Room) place(seq int64) (int64, bool) {
	if !r.Lottery() {
		return seq, true
	}
	d := r.drawn.Load()
	if !d.of(r.Policy().OpensAt) {
		return 0, false
	}
	return d.Place(seq), true
}

// draw draws the room's lottery once its sale has started: the first
// instance to get there fixes the last arrival in the draw and the digest
// of the entries it read, and every instance orders the same entries under
// the same seed. It is called from the controller's tick.
func (c *Controller) draw(ctx context.Context, r *Room) error {
	p := r.Policy()
	now := c.now()
	if !r.Lottery() || r.drawn.Load().of(p.OpensAt) || p.Phase(now) != StateOpen || now.Before(p.SaleStartsAt.Add(drawSettle)) {
		return nil
	}
	set, entrantsSet := r.lotteryName()
	seed, err := r.seed(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, drawRead)
	defer cancel()
	v, err := c.store.Bind(ctx, r.id, set, "last", strconv.FormatInt(r.View().Joined, 10), r.drawTTL())
	if err != nil {
		return fmt.Errorf("lottery draw of room %q: %w", r.id, err)
	}
	last, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("lottery draw of room %q: the store holds %q as the last arrival", r.id, v)
	}
	marked, err := c.store.Marked(ctx, r.id, entrantsSet)
	if err != nil {
		return fmt.Errorf("lottery entries of room %q: %w", r.id, err)
	}
	// Every entry made after the sale start expires drawKeep after it was
	// made, on the store's clock, so the latest expiry of the entries read
	// marks where this reading ends: an entry made after it expires later.
	var entrants []lottery.Entrant
	var cutoff int64
	for k, exp := range marked {
		seq, id, ok := strings.Cut(k, ".")
		n, err := strconv.ParseInt(seq, 10, 64)
		if ok && err == nil && n >= 1 && lottery.ValidID(id) {
			entrants = append(entrants, lottery.Entrant{Seq: n, ID: id})
			cutoff = max(cutoff, exp.UnixMilli())
		}
	}
	order := lottery.Draw(seed, last, lottery.Sort(entrants))
	digest := hex.EncodeToString(order.Digest[:])
	bound, err := c.store.Bind(ctx, r.id, set, "digest", digest+":"+strconv.FormatInt(cutoff, 10), r.drawTTL())
	if err != nil {
		return fmt.Errorf("lottery draw of room %q: %w", r.id, err)
	}
	boundDigest, boundCutoff, _ := strings.Cut(bound, ":")
	if boundDigest != digest {
		// An entry reached the store after the first instance read them
		// all: draw from the entries that instance read, the ones that
		// expire no later than its reading's last.
		if b, err := strconv.ParseInt(boundCutoff, 10, 64); err == nil {
			var first []lottery.Entrant
			for k, exp := range marked {
				seq, id, ok := strings.Cut(k, ".")
				n, err := strconv.ParseInt(seq, 10, 64)
				if ok && err == nil && n >= 1 && lottery.ValidID(id) && exp.UnixMilli() <= b {
					first = append(first, lottery.Entrant{Seq: n, ID: id})
				}
			}
			if o := lottery.Draw(seed, last, lottery.Sort(first)); hex.EncodeToString(o.Digest[:]) == boundDigest {
				c.opts.Logger.Warn("lottery entries that came after the first instance's reading are not in the draw",
					"room", r.id, "late", len(entrants)-len(first))
				order, digest = o, boundDigest
			}
		}
	}
	if boundDigest != digest {
		// This instance has not seen every entry the first one read yet:
		// read again at the next tick.
		if r.drawTries.Add(1) < drawAgreeTries {
			return nil
		}
		c.opts.Logger.Error("lottery entries differ from the first draw's; drawing from this instance's reading",
			"room", r.id, "digest", digest, "first_digest", boundDigest, "entrants", order.Entrants)
	}
	r.drawn.Store(&Drawn{Order: order, Seed: seed, Commitment: lottery.Commit(seed), At: now, opensAt: p.OpensAt})
	c.opts.Logger.Info("lottery drawn", "room", r.id, "entrants", order.Entrants, "last", last, "commitment", lottery.Commit(seed), "digest", digest)
	return nil
}
