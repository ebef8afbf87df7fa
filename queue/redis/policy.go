package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/queue"
)

// watchBuffer is how many notifications a watcher may fall behind before
// Redis's delivery to it stalls; go-redis drops a message it cannot hand on
// within a minute.
const watchBuffer = 1024

// LoadPolicy returns the room's saved policy, or an error wrapping
// queue.ErrNotFound.
func (s *Store) LoadPolicy(ctx context.Context, room string) (queue.Policy, error) {
	if room == "" {
		return queue.Policy{}, errEmptyRoom
	}
	v, err := s.client.HMGet(ctx, s.key(room, "policy"), "data", "version", "config_hash").Result()
	if err != nil {
		return queue.Policy{}, fmt.Errorf("load policy of room %q: %w: %w", room, queue.ErrUnavailable, err)
	}
	text, ok := v[1].(string)
	if !ok {
		return queue.Policy{}, fmt.Errorf("load policy of room %q: %w", room, queue.ErrNotFound)
	}
	version, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return queue.Policy{}, fmt.Errorf("load policy of room %q: decode version: %w", room, err)
	}
	data, _ := v[0].(string)
	hash, _ := v[2].(string)
	return queue.Policy{Data: []byte(data), Version: version, ConfigHash: hash}, nil
}

// SavePolicy replaces the room's policy if its version is still expect,
// records audit unless it is nil, and publishes the room id to every
// watcher, all in one script. It returns the new version, expect+1.
func (s *Store) SavePolicy(ctx context.Context, room string, p queue.Policy, expect int64, audit []byte) (int64, error) {
	if expect < 0 {
		return 0, fmt.Errorf("save policy of room %q: expected version %d is negative", room, expect)
	}
	record := "0"
	if audit != nil {
		record = "1"
	}
	v, err := s.run(ctx, savePolicyScript.Run, room, 2,
		expect, p.Data, p.ConfigHash, record, audit, queue.AuditKeep, s.channel(), room)
	if err != nil {
		return 0, fmt.Errorf("save policy of room %q: %w", room, err)
	}
	if v[0] == 0 {
		return 0, fmt.Errorf("save policy of room %q: version is %d, not %d: %w", room, v[1], expect, queue.ErrConflict)
	}
	return v[1], nil
}

// Audit returns up to n of the room's newest audit entries, newest first.
func (s *Store) Audit(ctx context.Context, room string, n int) ([][]byte, error) {
	if room == "" {
		return nil, errEmptyRoom
	}
	if n <= 0 {
		return nil, nil
	}
	v, err := s.client.LRange(ctx, s.key(room, "audit"), 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("audit of room %q: %w: %w", room, queue.ErrUnavailable, err)
	}
	out := make([][]byte, len(v))
	for i, e := range v {
		out[i] = []byte(e)
	}
	return out, nil
}

// WatchPolicies subscribes to the prefix's policy channel and calls changed
// with the room's id for each save published there, by any Store on the
// same server and prefix, until ctx ends; then it returns nil. changed runs
// on the caller's goroutine.
//
// The subscription survives a lost connection: go-redis reconnects and
// subscribes again by itself, and saves published meanwhile are not heard
// of. Snapshot.PolicyVersion covers them. WatchPolicies returns an error when
// the first subscription fails, or when the subscription is closed under it.
func (s *Store) WatchPolicies(ctx context.Context, changed func(room string)) error {
	channel := s.channel()
	sub := s.client.Subscribe(ctx, channel)
	defer sub.Close()

	// Subscribe only sends the command. Waiting for Redis to confirm it
	// means that every save from now on reaches this watcher, and that a
	// server that cannot be reached is reported rather than retried forever.
	reply, err := sub.Receive(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch policies: subscribe to %s: %w: %w", channel, queue.ErrUnavailable, err)
	}
	if _, ok := reply.(*goredis.Subscription); !ok {
		return fmt.Errorf("watch policies: subscribe to %s: unexpected reply %v", channel, reply)
	}

	messages := sub.Channel(goredis.WithChannelSize(watchBuffer))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-messages:
			if !ok {
				return fmt.Errorf("watch policies: subscription to %s closed: %w", channel, queue.ErrUnavailable)
			}
			changed(m.Payload)
		}
	}
}

// channel is where policy saves are published: one channel per prefix.
func (s *Store) channel() string {
	return s.prefix + "policy-changes"
}
