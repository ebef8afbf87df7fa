package memory

import (
	"bytes"
	"context"
	"fmt"

	"github.com/usherhq/usher/queue"
)

// watchBuffer is how many notifications a watcher may fall behind before
// the oldest give way to new ones. A watcher that loses some still learns
// of the change from Snapshot.PolicyVersion on its next tick.
const watchBuffer = 1024

// LoadPolicy returns the room's saved policy, or an error wrapping
// queue.ErrNotFound. Data is the caller's own copy.
func (s *Store) LoadPolicy(ctx context.Context, id string) (queue.Policy, error) {
	if err := check(ctx, id); err != nil {
		return queue.Policy{}, err
	}
	r := s.lookup(id)
	if r == nil {
		return queue.Policy{}, fmt.Errorf("load policy of room %q: %w", id, queue.ErrNotFound)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.policy.Version == 0 {
		return queue.Policy{}, fmt.Errorf("load policy of room %q: %w", id, queue.ErrNotFound)
	}
	p := r.policy
	p.Data = bytes.Clone(p.Data)
	return p, nil
}

// SavePolicy replaces the room's policy if its version is still expect,
// records audit unless it is nil, and then notifies every watcher. It
// returns the new version, expect+1.
func (s *Store) SavePolicy(ctx context.Context, id string, p queue.Policy, expect int64, audit []byte) (int64, error) {
	if err := check(ctx, id); err != nil {
		return 0, err
	}
	if expect < 0 {
		return 0, fmt.Errorf("save policy of room %q: expected version %d is negative", id, expect)
	}
	version, err := s.room(id).savePolicy(p, expect, audit)
	if err != nil {
		return 0, fmt.Errorf("save policy of room %q: %w", id, err)
	}
	// Watchers hear of the save only once it is done, so that a watcher
	// who loads the policy at once reads the new version.
	s.notify(id)
	return version, nil
}

// Audit returns up to n of the room's newest audit entries, newest first,
// each the caller's own copy.
func (s *Store) Audit(ctx context.Context, id string, n int) ([][]byte, error) {
	if err := check(ctx, id); err != nil {
		return nil, err
	}
	r := s.lookup(id)
	if n <= 0 || r == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.audit.newest(n), nil
}

// WatchPolicies calls changed with the room's id after each SavePolicy on
// this Store, on the caller's goroutine, until ctx ends; then it returns nil.
// Saves never wait for a watcher: one that falls more than 1024
// notifications behind loses the oldest of them.
func (s *Store) WatchPolicies(ctx context.Context, changed func(room string)) error {
	ch := make(chan string, watchBuffer)
	s.watchMu.Lock()
	s.watchers[ch] = struct{}{}
	s.watchMu.Unlock()
	defer func() {
		s.watchMu.Lock()
		delete(s.watchers, ch)
		s.watchMu.Unlock()
	}()

	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-ch:
			changed(id)
		}
	}
}

// notify queues id for every watcher without waiting for any of them.
func (s *Store) notify(id string) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for ch := range s.watchers {
		offer(ch, id)
	}
}

// offer queues id on ch; when ch is full, its oldest entry gives way.
func offer(ch chan string, id string) {
	for {
		select {
		case ch <- id:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// savePolicy stores p as version expect+1 if the version is still expect.
func (r *room) savePolicy(p queue.Policy, expect int64, audit []byte) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.policy.Version != expect {
		return 0, fmt.Errorf("version is %d, not %d: %w", r.policy.Version, expect, queue.ErrConflict)
	}
	// Copies, so that the caller may reuse its slices.
	r.policy = queue.Policy{Data: bytes.Clone(p.Data), Version: expect + 1, ConfigHash: p.ConfigHash}
	if audit != nil {
		r.audit.push(bytes.Clone(audit))
	}
	return r.policy.Version, nil
}

// auditRing keeps the newest queue.AuditKeep audit entries. Once full, each
// push overwrites the oldest entry, at head.
type auditRing struct {
	entries [][]byte
	head    int
}

func (a *auditRing) push(entry []byte) {
	if len(a.entries) < queue.AuditKeep {
		a.entries = append(a.entries, entry)
		return
	}
	a.entries[a.head] = entry
	a.head = (a.head + 1) % len(a.entries)
}

// newest copies up to n entries, newest first.
func (a *auditRing) newest(n int) [][]byte {
	size := len(a.entries)
	out := make([][]byte, min(n, size))
	for i := range out {
		out[i] = bytes.Clone(a.entries[(a.head+size-1-i)%size])
	}
	return out
}
