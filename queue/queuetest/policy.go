package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

// notifyWait bounds every wait for a watcher. It is not a speed the suite
// expects: a store that passes answers within milliseconds, and only one
// that never notifies waits this long, to fail.
const notifyWait = 10 * time.Second

func (e *env) loadPolicy(room string) queue.Policy {
	e.t.Helper()
	p, err := e.store.LoadPolicy(e.t.Context(), room)
	if err != nil {
		e.t.Fatalf("LoadPolicy(%q): %v", room, err)
	}
	return p
}

func (e *env) savePolicy(room string, p queue.Policy, expect int64, audit []byte) int64 {
	e.t.Helper()
	v, err := e.store.SavePolicy(e.t.Context(), room, p, expect, audit)
	if err != nil {
		e.t.Fatalf("SavePolicy(%q, expect %d): %v", room, expect, err)
	}
	return v
}

func (e *env) audit(room string, n int) [][]byte {
	e.t.Helper()
	entries, err := e.store.Audit(e.t.Context(), room, n)
	if err != nil {
		e.t.Fatalf("Audit(%q, %d): %v", room, n, err)
	}
	return entries
}

// entries renders audit entries for comparison; nil and empty read alike.
func entries[S ~string | ~[]byte](list []S) string {
	return fmt.Sprintf("%q", list)
}

func testPolicySave(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	ctx := t.Context()

	if _, err := e.store.LoadPolicy(ctx, room); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("LoadPolicy of a room never saved: %v, want queue.ErrNotFound", err)
	}
	if got := e.audit(room, 10); len(got) != 0 {
		t.Errorf("audit of a room never saved: %s, want none", entries(got))
	}

	// Each step is checked by a marker save on a room of its own: a watcher
	// hears of saves in order, so a save that failed must not show up
	// among what the watcher reports before the marker.
	w := startWatch(t, e.store)
	w.ready(t, e.store)
	marker := newRoom()
	var markerVersion int64

	binary := []byte{0, 0xff, 0xfe, '\n', 'x', 0x80, '"', '\\'}
	jsonData := []byte(`{"rate_per_minute":600,"mode":"fifo","name":"Zürich ☃"}`)
	type outcome int
	const (
		ok outcome = iota
		conflict
		invalid // an error other than a conflict
	)
	steps := []struct {
		name   string
		expect int64
		policy queue.Policy
		audit  []byte
		want   outcome
	}{
		{"first save", 0, queue.Policy{Data: binary, ConfigHash: "h1"}, []byte("set by config"), ok},
		{"stale version", 0, queue.Policy{Data: []byte("lost"), ConfigHash: "h9"}, []byte("lost"), conflict},
		{"version ahead", 2, queue.Policy{Data: []byte("lost"), ConfigHash: "h9"}, []byte("lost"), conflict},
		{"negative version", -1, queue.Policy{Data: []byte("lost"), ConfigHash: "h9"}, []byte("lost"), invalid},
		{"save without an audit entry", 1, queue.Policy{Data: jsonData}, nil, ok},
		{"stale after two saves", 1, queue.Policy{Data: []byte("lost")}, nil, conflict},
		{"empty data and an empty entry", 2, queue.Policy{ConfigHash: "h3"}, []byte{}, ok},
	}
	var (
		want  queue.Policy
		trail []string // audit entries, newest first
	)
	for _, st := range steps {
		// Each step builds on the ones before, so the first that fails
		// ends the walk.
		passed := t.Run(st.name, func(t *testing.T) {
			e := &env{t: t, clock: e.clock, store: e.store}
			// The store gets its own copy of the step's slices, which the
			// step then spoils: the store must not keep what it was given.
			p := queue.Policy{Data: bytes.Clone(st.policy.Data), ConfigHash: st.policy.ConfigHash}
			audit := bytes.Clone(st.audit)
			v, err := e.store.SavePolicy(ctx, room, p, st.expect, audit)
			clear(p.Data)
			clear(audit)

			switch {
			case st.want == ok && err != nil:
				t.Fatalf("SavePolicy(expect %d): %v", st.expect, err)
			case st.want == ok:
				want = queue.Policy{Data: st.policy.Data, Version: st.expect + 1, ConfigHash: st.policy.ConfigHash}
				if v != want.Version {
					t.Errorf("SavePolicy(expect %d) = version %d, want %d", st.expect, v, want.Version)
				}
				if st.audit != nil {
					trail = slices.Insert(trail, 0, string(st.audit))
				}
			case st.want == conflict && !errors.Is(err, queue.ErrConflict):
				t.Errorf("SavePolicy(expect %d) = %d, %v; want queue.ErrConflict", st.expect, v, err)
			case st.want == invalid && (err == nil || errors.Is(err, queue.ErrConflict)):
				t.Errorf("SavePolicy(expect %d) = %d, %v; want an error other than a conflict", st.expect, v, err)
			}

			got := e.loadPolicy(room)
			if describe(got) != describe(want) {
				t.Errorf("LoadPolicy = %s, want %s", describe(got), describe(want))
			}
			if got := e.audit(room, queue.AuditKeep); entries(got) != entries(trail) {
				t.Errorf("Audit = %s, want %s", entries(got), entries(trail))
			}
			if got := e.snapshot(room).PolicyVersion; got != want.Version {
				t.Errorf("Snapshot.PolicyVersion = %d, want %d", got, want.Version)
			}

			// A save's notice is awaited by itself: on Redis Cluster the
			// notices of two rooms come from their own nodes, in either
			// order. A save that must not be heard of is shown not to be by
			// a marker saved after it: no notice of the room is then on its
			// way, since the steps before waited for theirs.
			heard := 0
			if st.want == ok {
				heard = 1
				for _, r := range w.until(t, room) {
					if r == room {
						heard++
					}
				}
			} else {
				markerVersion = e.savePolicy(marker, queue.Policy{}, markerVersion, nil)
				for _, r := range w.until(t, marker) {
					if r == room {
						heard++
					}
				}
			}
			wantHeard := 0
			if st.want == ok {
				wantHeard = 1
			}
			if heard != wantHeard {
				t.Errorf("the watcher heard of room %s %d times, want %d", room, heard, wantHeard)
			}
		})
		if !passed {
			return
		}
	}

	// What LoadPolicy returns is the caller's to change.
	e.savePolicy(room, queue.Policy{Data: binary}, want.Version, nil)
	got := e.loadPolicy(room)
	clear(got.Data)
	if again := e.loadPolicy(room); !bytes.Equal(again.Data, binary) {
		t.Errorf("after the caller cleared a loaded policy, Data = %q, want %q", again.Data, binary)
	}
}

func testPolicyRace(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	const (
		savers = 20
		saves  = 10
		tries  = 10_000 // per save; only a store that never lets one win runs out
	)
	e.savePolicy(room, queue.Policy{Data: []byte("0")}, 0, []byte("start"))

	// Each saver reads the counter in Data, adds one and saves it from the
	// version it read, again and again until its save wins.
	type win struct {
		version int64
		entry   string
	}
	wins := make([][]win, savers)
	errs := make([]error, savers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range savers {
		wg.Go(func() {
			<-start
			for i := range saves {
				entry := fmt.Sprintf("saver %d save %d", g, i)
				v, err := increment(t.Context(), e.store, room, []byte(entry), tries)
				if err != nil {
					errs[g] = err
					return
				}
				wins[g] = append(wins[g], win{v, entry})
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	const total = savers * saves
	want := queue.Policy{Data: []byte(strconv.Itoa(total)), Version: total + 1}
	if got := e.loadPolicy(room); describe(got) != describe(want) {
		t.Errorf("after %d increments, LoadPolicy = %s, want %s", total, describe(got), describe(want))
	}
	// Exactly one save won each version, and the audit trail holds the
	// winners' entries in the order of their versions.
	byVersion := make(map[int64]string)
	for _, ws := range wins {
		for _, w := range ws {
			if prev, ok := byVersion[w.version]; ok {
				t.Errorf("version %d won by both %q and %q", w.version, prev, w.entry)
			}
			byVersion[w.version] = w.entry
		}
	}
	wantTrail := []string{}
	for v := int64(total + 1); v >= 2; v-- {
		entry, ok := byVersion[v]
		if !ok {
			t.Errorf("no save won version %d", v)
		}
		wantTrail = append(wantTrail, entry)
	}
	wantTrail = append(wantTrail, "start")
	if got := e.audit(room, queue.AuditKeep); entries(got) != entries(wantTrail) {
		t.Errorf("audit trail:\n got %s\nwant %s", entries(got), entries(wantTrail))
	}
}

// increment adds one to the counter in room's policy Data, retrying on
// conflicts, and returns the version its save won.
func increment(ctx context.Context, s queue.Store, room string, audit []byte, tries int) (int64, error) {
	for range tries {
		p, err := s.LoadPolicy(ctx, room)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(p.Data))
		if err != nil {
			return 0, fmt.Errorf("counter %q: %w", p.Data, err)
		}
		v, err := s.SavePolicy(ctx, room, queue.Policy{Data: []byte(strconv.Itoa(n + 1))}, p.Version, audit)
		if errors.Is(err, queue.ErrConflict) {
			continue
		}
		return v, err
	}
	return 0, fmt.Errorf("no save won in %d tries", tries)
}

func testAudit(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	const saves = queue.AuditKeep + 50
	for i := range saves {
		e.savePolicy(room, queue.Policy{}, int64(i), []byte(strconv.Itoa(i+1)))
	}
	// newest lists entries from..to, newest first.
	newest := func(from, to int) []string {
		var out []string
		for i := from; i >= to; i-- {
			out = append(out, strconv.Itoa(i))
		}
		return out
	}
	noEntries := newRoom()
	e.savePolicy(noEntries, queue.Policy{Data: []byte("x")}, 0, nil)

	tests := []struct {
		name string
		room string
		n    int
		want []string
	}{
		{"newest first", room, 3, newest(saves, saves-2)},
		{"one", room, 1, newest(saves, saves)},
		{"only the newest are kept", room, queue.AuditKeep, newest(saves, saves-queue.AuditKeep+1)},
		{"more than are kept", room, 5 * queue.AuditKeep, newest(saves, saves-queue.AuditKeep+1)},
		{"none asked", room, 0, nil},
		{"negative count", room, -1, nil},
		{"room never saved", newRoom(), 10, nil},
		{"saves without entries", noEntries, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.audit(tt.room, tt.n); entries(got) != entries(tt.want) {
				t.Errorf("Audit(%d) = %s, want %s", tt.n, entries(got), entries(tt.want))
			}
		})
	}
}

func testWatch(t *testing.T, newStore NewStore, peer Peer) {
	policy := queue.Policy{Data: []byte(`{"state":"paused"}`)}
	t.Run("a save reaches a watcher", func(t *testing.T) {
		e := setup(t, newStore)
		w := startWatch(t, e.store)
		w.ready(t, e.store)
		room := newRoom()
		e.savePolicy(room, policy, 0, nil)
		w.until(t, room)
	})
	t.Run("every watcher hears of every save", func(t *testing.T) {
		e := setup(t, newStore)
		ws := []*watch{startWatch(t, e.store), startWatch(t, e.store)}
		for _, w := range ws {
			w.ready(t, e.store)
		}
		room := newRoom()
		const saves = 3
		for v := range int64(saves) {
			e.savePolicy(room, policy, v, nil)
		}
		// A marker save after them shows that no watcher hears more, once
		// the watcher has heard of both the room's saves and the marker,
		// in either order (on Redis Cluster the two rooms' notices come
		// from their own nodes).
		marker := newRoom()
		e.savePolicy(marker, policy, 0, nil)
		for i, w := range ws {
			heard := 0
			markerHeard := false
			for heard < saves || !markerHeard {
				before := w.until(t, room)
				heard++
				for _, r := range before {
					switch r {
					case room:
						heard++
					case marker:
						markerHeard = true
					}
				}
				if heard >= saves && !markerHeard {
					for _, r := range w.until(t, marker) {
						if r == room {
							heard++
						}
					}
					markerHeard = true
				}
			}
			if heard != saves {
				t.Errorf("watcher %d heard of room %s %d times, want %d", i, room, heard, saves)
			}
		}
	})
	t.Run("a save through another store reaches a watcher", func(t *testing.T) {
		e := setup(t, newStore)
		other := peer(t, e.store, e.clock.Now)
		// Watch each store, and save through the other.
		pairs := []struct {
			name           string
			watched, saver queue.Store
		}{
			{"the first store's watcher", e.store, other},
			{"the second store's watcher", other, e.store},
		}
		for _, p := range pairs {
			w := startWatch(t, p.watched)
			w.ready(t, p.saver)
			room := newRoom()
			if _, err := p.saver.SavePolicy(t.Context(), room, policy, 0, nil); err != nil {
				t.Fatal(err)
			}
			w.until(t, room)
			if got, err := p.watched.LoadPolicy(t.Context(), room); err != nil || got.Version != 1 {
				t.Errorf("%s loads %s, %v after the notification; want version 1", p.name, describe(got), err)
			}
		}
	})
	t.Run("watching ends with its context", func(t *testing.T) {
		e := setup(t, newStore)
		w := startWatch(t, e.store)
		w.ready(t, e.store)
		w.stop(t)

		ended, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan error, 1)
		go func() { done <- e.store.WatchPolicies(ended, func(string) {}) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchPolicies with an ended context = %v, want nil", err)
			}
		case <-time.After(notifyWait):
			t.Errorf("WatchPolicies with an ended context still runs after %v", notifyWait)
		}
	})
}

func testPolicyVersion(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room, other := newRoom(), newRoom()
	lim := open()
	lim.RatePerMinute, lim.Burst = 0, 2
	e.wait(room, 3)

	e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 3})
	e.savePolicy(room, queue.Policy{Data: []byte("v1")}, 0, nil)
	e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 3, PolicyVersion: 1})
	e.wantSnapshot(e.advance(room, lim), queue.Snapshot{Joined: 3, Served: 2, Pending: 2, Offered: 2, PolicyVersion: 1})

	e.savePolicy(room, queue.Policy{Data: []byte("v2")}, 1, []byte("second"))
	if _, err := e.store.SavePolicy(t.Context(), room, queue.Policy{}, 1, nil); !errors.Is(err, queue.ErrConflict) {
		t.Fatalf("stale save: %v, want queue.ErrConflict", err)
	}
	e.wantSnapshot(e.advance(room, lim), queue.Snapshot{Joined: 3, Served: 2, Pending: 2, PolicyVersion: 2})
	e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 3, Served: 2, Pending: 2, PolicyVersion: 2})

	// A policy alone starts no line, and belongs to its room only.
	e.savePolicy(other, queue.Policy{}, 0, nil)
	e.wantSnapshot(e.snapshot(other), queue.Snapshot{PolicyVersion: 1})
	if got := e.join(other, lim); !got.Admitted || got.Seq != 1 {
		t.Errorf("first join of a room with only a policy: %s, want seq 1 admitted", describe(got))
	}
	e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 3, Served: 2, Pending: 2, PolicyVersion: 2})
}

// watch is a WatchPolicies call running for a test: the rooms it reports
// arrive on rooms, in order.
type watch struct {
	rooms   chan string
	cancel  context.CancelFunc
	stopped chan struct{} // closed when WatchPolicies has returned err
	err     error
}

// startWatch runs WatchPolicies on s until the test ends. It fails the test
// if changed is ever called while a call of it is still running.
func startWatch(t *testing.T, s queue.Store) *watch {
	ctx, cancel := context.WithCancel(t.Context())
	w := &watch{rooms: make(chan string, 4096), cancel: cancel, stopped: make(chan struct{})}
	var busy atomic.Bool
	go func() {
		defer close(w.stopped)
		w.err = s.WatchPolicies(ctx, func(room string) {
			if !busy.CompareAndSwap(false, true) {
				t.Errorf("changed(%q) called while another call runs", room)
			}
			defer busy.Store(false)
			select {
			case w.rooms <- room:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// stop ends the watch and fails the test unless WatchPolicies returns nil.
func (w *watch) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case <-w.stopped:
		if w.err != nil {
			t.Errorf("WatchPolicies returned %v after its context ended, want nil", w.err)
		}
	case <-time.After(notifyWait):
		t.Errorf("WatchPolicies still runs %v after its context ended", notifyWait)
	}
}

// ready saves a room of its own through s, again and again, until the
// watch reports it. WatchPolicies gives no sign that it has started, and
// saves before it has are not heard of; from the first one heard of on,
// every save is.
func (w *watch) ready(t *testing.T, s queue.Store) {
	t.Helper()
	room := newRoom()
	deadline := time.NewTimer(notifyWait)
	defer deadline.Stop()
	// The interval between saves only paces the retries; the suite never
	// assumes that a notification arrives within it.
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	var version int64
	for {
		v, err := s.SavePolicy(t.Context(), room, queue.Policy{}, version, nil)
		if err != nil {
			t.Fatalf("SavePolicy(%q): %v", room, err)
		}
		version = v
	wait:
		for {
			select {
			case r := <-w.rooms:
				if r == room {
					return
				}
			case <-retry.C:
				break wait
			case <-w.stopped:
				t.Fatalf("WatchPolicies returned %v before its context ended", w.err)
			case <-deadline.C:
				t.Fatalf("no save of room %q heard of within %v", room, notifyWait)
			}
		}
	}
}

// until reads the reports up to the first of room and returns those before
// it.
func (w *watch) until(t *testing.T, room string) []string {
	t.Helper()
	deadline := time.NewTimer(notifyWait)
	defer deadline.Stop()
	var before []string
	for {
		select {
		case r := <-w.rooms:
			if r == room {
				return before
			}
			before = append(before, r)
		case <-w.stopped:
			t.Fatalf("WatchPolicies returned %v before its context ended", w.err)
		case <-deadline.C:
			t.Fatalf("no save of room %q heard of within %v; heard of %q", room, notifyWait, before)
		}
	}
}
