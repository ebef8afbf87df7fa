// Package shield holds the gateway's first line of defence, the parts that
// run before the queue and the proxy see a request:
//
//   - a per-client rate [Limiter] (below);
//   - the bot score: a [Scorer] keeps what it has seen of each address,
//     network and visitor, and tells the [Reason]s a request shows, whose
//     weights sum to its score from 0 to 100;
//   - the proof-of-work [Challenge]: a SHA-256 puzzle bound to a room and a
//     visitor, MACed by a [Challenger] so that any gateway with the same key
//     checks it with one hash;
//   - [Prefixes], the allow and deny lists.
//
// The gateway decides what a score means (its thresholds are per room) and
// keeps what must be shared between instances, such as spent challenges,
// in the queue store.
//
// A [Limiter] gives every client a token bucket: [Limit.PerMinute] tokens a
// minute, up to [Limit.Burst] at once. A client is an address prefix, not an
// address: an IPv4 address by itself (/32) and an IPv6 address by its /64,
// because one household or phone is given a whole /64 and counting /128s would
// let it rotate addresses at will. An IPv4-mapped IPv6 address is the IPv4
// address it carries.
//
// What the limiter guarantees:
//
//   - While a client's bucket is held, the client is allowed at most
//     Burst + PerMinute·t/1m requests in any span of time t, however many
//     goroutines ask at once, even if the times they pass arrive out of
//     order by up to a second. A wall clock that steps back further moves
//     the bucket's timeline with it, neither giving nor taking tokens.
//   - A refusal comes with the exact time until the next token.
//   - Memory is bounded: at most [Options.MaxClients] buckets, about
//     55 bytes each (see [Options.MaxClients]), whatever the traffic. A bucket
//     that has been idle long enough to refill is forgotten first, which
//     loses nothing; when none is idle the least recently seen is forgotten.
//   - [Limiter.Allow] does not allocate for a client it already holds, and
//     never reads the clock: time is the caller's.
//
// What it does not do:
//
//   - It does not hold an attacker with more addresses (or IPv6 /64s) than
//     MaxClients: to make room it forgets buckets, and a forgotten client comes
//     back with a full bucket. That errs on the side of fans, who are never
//     refused because of someone else's flood; the bot score, the
//     proof-of-work challenge and the global limits are what hold such an
//     attacker. [Limiter.Evicted] counts these early resets.
//   - It does not tell clients behind one address apart: a carrier-grade NAT
//     or an office is one client, so size Burst for them.
//   - It does not decide who the client is: the caller picks the address,
//     trusting X-Forwarded-For only from configured proxies.
//   - It is not shared between gateways: each gateway limits on its own, so
//     a client spread over n gateways gets up to n times the limit.
package shield
