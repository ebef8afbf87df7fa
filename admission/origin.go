package admission

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// OriginRecorder measures a room's proxied requests over the last minute:
// how long the origin took and how often it failed. Recording is a few
// atomic additions and never allocates, so it sits on every admitted request.
type OriginRecorder struct {
	now   func() time.Time
	slots [originSlots]originSlot
}

const (
	originSlots = 60 // one per second of the last minute
	// Latency buckets: 4 per power of two from 64µs, up to about 70 minutes.
	subBuckets    = 4
	originBuckets = 26 * subBuckets
	bucketBase    = 64 * time.Microsecond
)

type originSlot struct {
	second  atomic.Int64
	count   atomic.Int64
	errors  atomic.Int64
	buckets [originBuckets]atomic.Int64
}

// NewOriginRecorder returns a recorder on the clock now (nil: time.Now).
func NewOriginRecorder(now func() time.Time) *OriginRecorder {
	if now == nil {
		now = time.Now
	}
	return &OriginRecorder{now: now}
}

// Observe records one request that took d and ended with status (a 5xx, or
// 0 for no answer at all, counts as an error).
func (o *OriginRecorder) Observe(d time.Duration, status int) {
	sec := o.now().Unix()
	s := &o.slots[sec%originSlots]
	if old := s.second.Load(); old != sec && s.second.CompareAndSwap(old, sec) {
		// The slot last held a second a minute or more ago: start it over.
		// A request recorded by another goroutine in between may be lost,
		// which a one-minute statistic can afford.
		s.count.Store(0)
		s.errors.Store(0)
		for i := range s.buckets {
			s.buckets[i].Store(0)
		}
	}
	s.count.Add(1)
	if status == 0 || status >= 500 {
		s.errors.Add(1)
	}
	s.buckets[bucketOf(d)].Add(1)
}

// bucketOf maps a duration to its log-linear bucket.
func bucketOf(d time.Duration) int {
	if d < bucketBase {
		return 0
	}
	v := uint64(d / (bucketBase / subBuckets)) // >= subBuckets
	exp := bits.Len64(v) - 3                   // the power of two above the sub-bucket bits
	idx := exp*subBuckets + int(v>>uint(exp))&(subBuckets-1)
	return min(idx, originBuckets-1)
}

// bucketUpper is the upper bound of bucket i, the value a percentile in it
// is reported as.
func bucketUpper(i int) time.Duration {
	exp, sub := i/subBuckets, i%subBuckets
	v := uint64(subBuckets+sub+1) << uint(exp)
	return time.Duration(v) * (bucketBase / subBuckets)
}

// OriginStats summarises the last minute of a room's proxied requests.
type OriginStats struct {
	Requests  int64
	Errors    int64
	P50, P95  time.Duration
	ErrorRate float64
}

// Stats sums the slots of the last minute.
func (o *OriginRecorder) Stats() OriginStats { return o.StatsOver(time.Minute) }

// StatsOver sums the slots of the last d, in whole seconds up to a minute:
// the current second and the d-1 before it.
func (o *OriginRecorder) StatsOver(d time.Duration) OriginStats {
	now := o.now().Unix()
	span := min(max(int64(d/time.Second), 1), originSlots)
	var st OriginStats
	var hist [originBuckets]int64
	for i := range o.slots {
		s := &o.slots[i]
		if sec := s.second.Load(); sec <= now-span || sec > now {
			continue
		}
		st.Requests += s.count.Load()
		st.Errors += s.errors.Load()
		for b := range hist {
			hist[b] += s.buckets[b].Load()
		}
	}
	if st.Requests == 0 {
		return st
	}
	st.ErrorRate = float64(st.Errors) / float64(st.Requests)
	st.P50 = percentile(&hist, 0.50)
	st.P95 = percentile(&hist, 0.95)
	return st
}

func percentile(hist *[originBuckets]int64, q float64) time.Duration {
	var total int64
	for _, n := range hist {
		total += n
	}
	rank := int64(q*float64(total) + 0.5)
	var seen int64
	for i, n := range hist {
		seen += n
		if seen >= rank && n > 0 {
			return bucketUpper(i)
		}
	}
	return bucketUpper(originBuckets - 1)
}
