package main

import (
	"context"
	"math/rand/v2"
	"net"
	"net/url"
	"time"
)

// fansPerSubnet is how many fans share a /24: a neighbourhood's worth, well
// under the shield's subnet_joins_per_minute (120), so per-subnet signals
// meet traffic as it comes from real networks.
const fansPerSubnet = 40

// fanAddr is fan i's source address: 127.16.0.0/12 and up, fansPerSubnet to
// a /24, never .0, .1 or .255.
func fanAddr(i int) net.IP {
	s := i / fansPerSubnet
	return net.IPv4(127, byte(16+s/256), byte(s%256), byte(2+i%fansPerSubnet))
}

// fanResult is one fan's run.
type fanResult struct {
	arrived              bool
	joinedAt, admittedAt time.Time
	admitted             bool
	challenges           int
	blocked, abandoned   bool
	tickets              int
}

// fan plays one fan: it arrives at its time, opens the event page (a place
// in line, or a challenge it solves), polls obeying poll_after_ms and
// Retry-After until admitted, then buys; at each step it may walk away.
func (st *storm) fan(ctx context.Context, i int, at time.Duration, rng *rand.Rand) fanResult {
	var res fanResult
	if !sleep(ctx, time.Until(st.start.Add(at))) {
		return res
	}
	res.arrived = true
	st.arrived.Add(1)
	c := newClient(st.env, fanAddr(i), browserUA, browserLang, "")
	defer c.close()
	leave := func(string) bool { return rng.Float64() < st.cfg.abandon }

	ev := st.events[rng.IntN(len(st.events))]
	var v visit
	out := c.join(ctx, "/events/"+url.PathEscape(ev), true, &v, nil)
	if out == queued {
		if leave("line") {
			res.abandoned = true
			res.challenges = v.challenges
			return res
		}
		out = c.wait(ctx, &v, true, 0, nil)
	}
	res.challenges = v.challenges
	res.joinedAt = v.joinedAt
	switch out {
	case blocked:
		res.blocked = true
		return res
	case admitted:
	default:
		return res
	}
	res.admitted, res.admittedAt = true, v.admittedAt
	st.admittedFans.Add(1)
	if leave("admitted") {
		res.abandoned = true
		return res
	}
	tickets, walked := c.buy(ctx, shopper{
		events: st.events, rng: rng, abandon: leave, ledger: &st.ledger,
		double: rng.Float64() < st.cfg.doubleSubmit,
	})
	res.tickets, res.abandoned = tickets, walked
	st.ticketsFans.Add(int64(tickets))
	return res
}
