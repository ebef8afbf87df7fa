package queuetest

import (
	"sync"
	"time"
)

// Start is where every Clock of the suite begins: a whole second, so that
// times survive the stores' millisecond precision unchanged.
var Start = time.Date(2031, time.March, 1, 9, 0, 0, 0, time.UTC)

// Clock is a fake clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads start until it is moved.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now reads the clock. Pass the method value to a store as its clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d; a negative d steps it back, as a server's clock
// may after a failover.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
