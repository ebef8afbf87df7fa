package memory_test

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

func BenchmarkStore(b *testing.B) {
	queuetest.Bench(b, func(_ *testing.B, now func() time.Time) queue.Store {
		return memory.New(memory.Options{Now: now})
	})
}
