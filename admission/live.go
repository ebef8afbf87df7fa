package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/usherhq/usher/queue"
)

// Actor is who makes a change: a person logged in with the organisation's
// OpenID Connect provider, the holder of an API token, or the configuration.
type Actor struct {
	Who string // "op@venue.example", a token's name, "config"
	Via string // "oidc", "token", "config"
}

// ConfigActor is the configuration file, as the author of the policies it
// sets.
var ConfigActor = Actor{Who: "config", Via: "config"}

// AuditEntry records one change of a room's policy.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Via    string    `json:"via"`
	Action string    `json:"action"`
	Before *Policy   `json:"before"`
	After  Policy    `json:"after"`
}

// configHash identifies a configured policy: a live policy that descends
// from the same configuration is kept across restarts.
func configHash(p Policy) string {
	p.Ramp = nil
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// maxChangeAttempts bounds the retries of a change that keeps meeting
// concurrent changes from other instances.
const maxChangeAttempts = 5

// sync reconciles the room's policy with the store once: a room the store
// does not know, or whose configuration changed since the store's policy was
// set from it, takes the configuration's policy; otherwise the store's live
// policy (changed by operators) stays.
func (r *Room) sync(ctx context.Context) error {
	r.mu.Lock()
	cfg, hash := r.configPolicy, r.configHash
	r.mu.Unlock()
	for range maxChangeAttempts {
		cur, err := r.load(ctx)
		if err != nil {
			return err
		}
		if cur.version > 0 && cur.hash == hash {
			r.setPolicy(cur.Policy, cur.version)
			r.markSynced(hash)
			return nil
		}
		var before *Policy
		if cur.version > 0 {
			before = &cur.Policy
		}
		v, err := r.save(ctx, cfg, hash, cur.version, AuditEntry{Who: ConfigActor.Who, Via: ConfigActor.Via, Action: "config", Before: before, After: cfg})
		if errors.Is(err, queue.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		r.setPolicy(cfg, v)
		r.markSynced(hash)
		r.c.opts.Logger.Info("room policy set from the configuration", "room", r.id, "version", v)
		return nil
	}
	return fmt.Errorf("sync room %q: %w", r.id, queue.ErrConflict)
}

func (r *Room) markSynced(hash string) {
	r.mu.Lock()
	if r.configHash == hash {
		r.synced = true
	}
	r.mu.Unlock()
}

// stored is a policy as read from the store.
type stored struct {
	Policy
	version int64
	hash    string
}

// load reads the room's policy from the store; version 0 when none is saved.
func (r *Room) load(ctx context.Context) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	rec, err := r.c.store.LoadPolicy(ctx, r.id)
	if errors.Is(err, queue.ErrNotFound) {
		return stored{}, nil
	}
	if err != nil {
		return stored{}, fmt.Errorf("load policy of room %q: %w", r.id, err)
	}
	var p Policy
	if err := json.Unmarshal(rec.Data, &p); err != nil {
		return stored{}, fmt.Errorf("load policy of room %q: %w", r.id, err)
	}
	return stored{Policy: p, version: rec.Version, hash: rec.ConfigHash}, nil
}

// save writes p over version expect, with its audit entry.
func (r *Room) save(ctx context.Context, p Policy, hash string, expect int64, entry AuditEntry) (int64, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	entry.At = r.c.now().UTC()
	audit, err := json.Marshal(entry)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	v, err := r.c.store.SavePolicy(ctx, r.id, queue.Policy{Data: data, ConfigHash: hash}, expect, audit)
	if err != nil {
		return 0, fmt.Errorf("save policy of room %q: %w", r.id, err)
	}
	return v, nil
}

// reloadPolicy takes the store's policy when it is newer than the live one.
func (r *Room) reloadPolicy(ctx context.Context) error {
	cur, err := r.load(ctx)
	if err != nil {
		return err
	}
	if cur.version > r.PolicyVersion() {
		before := r.Policy()
		r.setPolicy(cur.Policy, cur.version)
		if before.State != cur.State {
			r.c.opts.Logger.Info("room state changed", "room", r.id, "from", before.State, "to", cur.State, "version", cur.version)
		}
	}
	return nil
}

// ErrInvalidChange is returned by Change when the change has problems; they
// come with it.
var ErrInvalidChange = errors.New("invalid change")

// Change applies change to the room's current policy, as read from the
// store, and saves the result with an audit entry in one atomic step. It
// retries when another instance saved in between, so a change is never lost
// nor applied on top of a stale policy. It returns the policy before and
// after; when change reports problems, nothing is saved and the error is
// ErrInvalidChange.
func (r *Room) Change(ctx context.Context, by Actor, action string, change func(Policy) (Policy, []FieldProblem)) (before, after Policy, problems []FieldProblem, err error) {
	for range maxChangeAttempts {
		cur, err := r.load(ctx)
		if err != nil {
			return before, after, nil, err
		}
		hash := cur.hash
		if cur.version == 0 {
			// Nothing saved yet (the store was down at start): start from
			// the configuration.
			r.mu.Lock()
			cur.Policy, hash = r.configPolicy, r.configHash
			r.mu.Unlock()
		}
		next, problems := change(cur.Policy)
		if len(problems) > 0 {
			return cur.Policy, next, problems, ErrInvalidChange
		}
		prev := cur.Policy
		v, err := r.save(ctx, next, hash, cur.version, AuditEntry{Who: by.Who, Via: by.Via, Action: action, Before: &prev, After: next})
		if errors.Is(err, queue.ErrConflict) {
			continue
		}
		if err != nil {
			return before, after, nil, err
		}
		r.setPolicy(next, v)
		r.markSynced(hash)
		r.c.opts.Logger.Info("room policy changed", "room", r.id, "who", by.Who, "via", by.Via, "action", action, "version", v,
			"state", next.State, "rate_per_minute", next.RatePerMinute, "max_active", next.MaxActive, "session", next.Session.String())
		return prev, next, nil, nil
	}
	return before, after, nil, fmt.Errorf("change room %q: %w", r.id, queue.ErrConflict)
}

// Audit returns up to n of the room's newest audit entries, newest first.
func (r *Room) Audit(ctx context.Context, n int) ([]AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	raw, err := r.c.store.Audit(ctx, r.id, n)
	if err != nil {
		return nil, fmt.Errorf("audit of room %q: %w", r.id, err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for _, b := range raw {
		var e AuditEntry
		if err := json.Unmarshal(b, &e); err != nil {
			continue // an entry this version cannot read is skipped, not fatal
		}
		out = append(out, e)
	}
	return out, nil
}
