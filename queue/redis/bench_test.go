package redis_test

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/queuetest"
)

// BenchmarkStore runs against the test server, each benchmark under its own
// prefix, on the server's clock unless the benchmark sets one.
func BenchmarkStore(b *testing.B) {
	queuetest.Bench(b, func(b *testing.B, now func() time.Time) queue.Store {
		c := newClient(b)
		return newStore(b, c, newPrefix(b, c), now)
	})
}
