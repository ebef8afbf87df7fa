package shield

import (
	"math"
	"net/netip"
	"time"
)

// MaxPassNetworks is the most distinct networks [ScorerConfig.PassNetworks]
// may allow; a larger setting is taken as this. Each visitor's record has
// room for one network more than allowed, so that going over can be seen.
const MaxPassNetworks = 7

// passNetworkIdle is how long a network a pass was used from counts towards
// its spread after it was last seen: a fan who left the venue Wi-Fi an hour
// ago is not still on it.
const passNetworkIdle = time.Hour

// passNetworks is one visitor's record: the networks its pass was used from,
// most of them live, some perhaps expired. It is 64 bytes, a fixed size, so
// that the table holding a million of them is one slab and holds no pointers.
type passNetworks [MaxPassNetworks + 1]passNetwork

// passNetwork is one network a pass was used from: a 32-bit hash of the
// network, which is enough to tell one visitor's few networks apart (a clash
// errs towards a clean score), and when it was last seen, in Unix seconds.
// The zero passNetwork is an empty place.
type passNetwork struct {
	tag  uint32
	seen uint32
}

// unixSeconds is t in Unix seconds as stored in a passNetwork, kept within
// [1, MaxUint32] so that it is never the empty mark.
func unixSeconds(t int64) uint32 {
	return uint32(min(max(t/int64(time.Second), 1), math.MaxUint32))
}

// record notes that the pass was used from network tag at Unix second now,
// keeping track of at most allowed+1 networks, and returns how many distinct
// networks it has been used from within the last passNetworkIdle, counting
// this one. When every place is taken by a live network, the network seen
// longest ago makes way for the new one; the count still exceeds allowed.
func (p *passNetworks) record(tag, now uint32, allowed int) int {
	const idle = int64(passNetworkIdle / time.Second)
	live, found := 0, false
	free, oldest := -1, -1
	for i := range p[:allowed+1] {
		n := &p[i]
		// A time after now, from a clock that stepped back, counts as live.
		if n.seen == 0 || int64(now)-int64(n.seen) >= idle {
			if free < 0 {
				free = i
			}
			continue
		}
		live++
		if n.tag == tag {
			found = true
			n.seen = max(n.seen, now)
			continue
		}
		if oldest < 0 || n.seen < p[oldest].seen {
			oldest = i
		}
	}
	if found {
		return live
	}
	if free >= 0 {
		p[free] = passNetwork{tag: tag, seen: now}
		return live + 1
	}
	// Every place holds a live network other than this one, so this is
	// the (allowed+2)th: replace the stalest and report the excess.
	p[oldest] = passNetwork{tag: tag, seen: now}
	return live + 1
}

// Pass records that visitor's pass was used from r.Addr at time now and
// scores it: [ReasonPassSpread] when, counting r.Addr's network ([Subnet]),
// the pass has been used from more than [ScorerConfig.PassNetworks] distinct
// networks each seen within the last hour. A network not seen for an hour
// stops counting, so a phone that moves between home Wi-Fi, mobile data and
// a venue network stays clean however often it switches, while a pass shared
// among friends in several places is flagged from every one of them.
//
// Pass is meant for every admitted request: it does not allocate once the
// visitor is known, keeps no copy of visitor (only a seeded 64-bit hash of
// it), and costs one hash of each, one lock and a scan of at most eight
// places. Header reasons are not included: the browser holding a pass was
// judged when it joined.
func (s *Scorer) Pass(r Request, visitor string, now time.Time) Reason {
	key := s.visitorKey(visitor)
	tag := uint32(s.addrHash(Subnet(r.Addr)))
	t := now.UnixNano()
	sh := s.passes.shard(key)
	sh.mu.Lock()
	nets, _ := sh.touch(key, key, t)
	live := nets.record(tag, unixSeconds(t), s.passNetworks)
	sh.mu.Unlock()
	if live > s.passNetworks {
		return ReasonPassSpread
	}
	return 0
}

// addrHash is a seeded hash of addr as the Limiter keys it: an IPv4 address
// by itself, an IPv6 address by its /64.
func (s *Scorer) addrHash(addr netip.Addr) uint64 {
	return hashKey(s.seed, keyOf(addr))
}
