package queuetest

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

func (e *env) mark(room, set, key string, ttl time.Duration) bool {
	e.t.Helper()
	first, err := e.store.Mark(e.t.Context(), room, set, key, ttl)
	if err != nil {
		e.t.Fatalf("Mark(%q, %q, %q, %v): %v", room, set, key, ttl, err)
	}
	return first
}

func (e *env) marked(room, set string) map[string]time.Time {
	e.t.Helper()
	m, err := e.store.Marked(e.t.Context(), room, set)
	if err != nil {
		e.t.Fatalf("Marked(%q, %q): %v", room, set, err)
	}
	return m
}

func (e *env) unmark(room, set, key string) bool {
	e.t.Helper()
	ok, err := e.store.Unmark(e.t.Context(), room, set, key)
	if err != nil {
		e.t.Fatalf("Unmark(%q, %q, %q): %v", room, set, key, err)
	}
	return ok
}

func (e *env) wantMarked(room, set string, want map[string]time.Time) {
	e.t.Helper()
	got := e.marked(room, set)
	if !maps.EqualFunc(got, want, time.Time.Equal) {
		e.t.Errorf("Marked(%q): %v, want %v", set, got, want)
	}
}

// testMarks walks one set through marks, expiries and unmarks.
func testMarks(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	at := func(d time.Duration) time.Time { return Start.Add(d) }

	e.wantMarked(room, "spent", map[string]time.Time{})
	if !e.mark(room, "spent", "a", 10*time.Second) {
		t.Fatal("the first mark of a key was not first")
	}
	if e.mark(room, "spent", "a", 10*time.Second) {
		t.Fatal("a second mark of a key was first")
	}
	// A longer mark extends the expiry, a shorter one does not shorten it.
	e.mark(room, "spent", "a", time.Minute)
	e.mark(room, "spent", "a", time.Second)
	e.mark(room, "spent", "b", 1500*time.Microsecond) // rounds up to 2 ms
	e.wantMarked(room, "spent", map[string]time.Time{"a": at(time.Minute), "b": at(2 * time.Millisecond)})

	// A mark expires at its expiry, and can then be first again.
	e.clock.Add(2 * time.Millisecond)
	e.wantMarked(room, "spent", map[string]time.Time{"a": at(time.Minute)})
	if !e.mark(room, "spent", "b", time.Second) {
		t.Error("a mark after its expiry was not first")
	}
	e.wantMarked(room, "spent", map[string]time.Time{"a": at(time.Minute), "b": at(time.Second + 2*time.Millisecond)})
	e.clock.Add(time.Minute - 2*time.Millisecond)
	e.wantMarked(room, "spent", map[string]time.Time{})
	if !e.mark(room, "spent", "a", time.Second) {
		t.Error("a mark at its expiry was not first")
	}

	// Unmark reports only a live mark.
	if !e.unmark(room, "spent", "a") {
		t.Error("Unmark of a live mark reported false")
	}
	if e.unmark(room, "spent", "a") {
		t.Error("a second Unmark reported true")
	}
	e.mark(room, "spent", "b", time.Second)
	e.clock.Add(time.Hour)
	if e.unmark(room, "spent", "b") {
		t.Error("Unmark of an expired mark reported true")
	}
	e.wantMarked(room, "spent", map[string]time.Time{})

	// A ttl of zero or below counts as a millisecond, one above a year as a
	// year.
	e.mark(room, "spent", "zero", 0)
	e.mark(room, "spent", "long", 10*365*24*time.Hour)
	now := e.clock.Now()
	e.wantMarked(room, "spent", map[string]time.Time{"zero": now.Add(time.Millisecond), "long": now.Add(365 * 24 * time.Hour)})

	// Sets and rooms are apart; the store changes no counter of the line.
	other := newRoom()
	e.mark(room, "revoked", "visitor:x", time.Hour)
	if !e.mark(other, "spent", "long", time.Hour) {
		t.Error("a key marked in one room was marked in another")
	}
	e.wantMarked(room, "revoked", map[string]time.Time{"visitor:x": now.Add(time.Hour)})
	e.wantSnapshot(e.snapshot(room), queue.Snapshot{})
	if _, err := e.store.Mark(t.Context(), "", "spent", "a", time.Second); err == nil {
		t.Error("Mark accepted an empty room id")
	}
}

// testMarksShared marks one key from many callers on a store and its peer
// at once: exactly one is first.
func testMarksShared(t *testing.T, newStore NewStore, peer Peer) {
	e := setup(t, newStore)
	stores := []queue.Store{e.store, peer(t, e.store, e.clock.Now)}
	room := newRoom()
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			first, err := stores[i%2].Mark(t.Context(), room, "spent", "challenge", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d of 40 racing marks were first, want 1", n)
	}
	got, err := stores[1].Marked(t.Context(), room, "spent")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("the peer sees %v", got)
	}
}

// testBind binds keys: the first value stands until it expires, across a
// store and its peer.
func testBind(t *testing.T, newStore NewStore, peer Peer) {
	e := setup(t, newStore)
	other := peer(t, e.store, e.clock.Now)
	room := newRoom()
	bind := func(s queue.Store, key, value string, ttl time.Duration) string {
		t.Helper()
		got, err := s.Bind(t.Context(), room, "accounts", key, value, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := bind(e.store, "alice", "", time.Hour); got != "" {
		t.Errorf("a look-up of an unbound key: %q", got)
	}
	if got := bind(e.store, "alice", "17", time.Hour); got != "17" {
		t.Errorf("first bind: %q", got)
	}
	if got := bind(other, "alice", "42", time.Hour); got != "17" {
		t.Errorf("a second bind at the peer: %q, want the first value", got)
	}
	if got := bind(other, "alice", "", time.Hour); got != "17" {
		t.Errorf("a look-up at the peer: %q", got)
	}
	if got := bind(other, "bob", "42", time.Hour); got != "42" {
		t.Errorf("another key: %q", got)
	}
	e.clock.Add(time.Hour)
	if got := bind(other, "alice", "99", time.Minute); got != "99" {
		t.Errorf("after the binding expired: %q, want the new value", got)
	}
	var wg sync.WaitGroup
	values := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			v, err := []queue.Store{e.store, other}[i%2].Bind(t.Context(), room, "accounts", "carol", fmt.Sprint(i), time.Hour)
			if err != nil {
				t.Error(err)
			}
			values <- v
		})
	}
	wg.Wait()
	close(values)
	first := ""
	for v := range values {
		if first == "" {
			first = v
		}
		if v != first {
			t.Fatalf("racing binds disagree: %q and %q", first, v)
		}
	}
}
