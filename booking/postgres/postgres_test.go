package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/postgres"
	"github.com/usherhq/usher/booking/sqlstore"
	"github.com/usherhq/usher/booking/storetest"
)

// serverURL is the test server: USHER_TEST_POSTGRES_URL or the local one.
func serverURL() string {
	if u := os.Getenv("USHER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// newSchema creates a schema of its own for one test, dropped when the test
// ends, and returns the URL of the server with that schema on the search
// path.
func newSchema(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("pgx", serverURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("postgres at %s: %v", serverURL(), err)
	}
	tb.Cleanup(func() {
		// The test's context has ended by now.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(serverURL())
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// open makes a store in a schema of its own. Cleanups run last first, so
// the store closes before its schema is dropped.
func open(tb testing.TB) booking.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), newSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) booking.Store { return open(t) })
}

// TestOpenTogether starts several stores on one new schema at once, as
// processes starting together would: one migrates, the others wait and
// find it done.
func TestOpenTogether(t *testing.T) {
	u := newSchema(t)
	stores := make([]booking.Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), u)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	ev := booking.Event{ID: "e", Name: "Shared", Status: booking.EventDraft, Currency: "EUR"}
	if err := stores[0].PutEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if got, err := s.Event(t.Context(), "e"); err != nil || got.Name != "Shared" {
			t.Errorf("store %d: %+v, %v", i, got, err)
		}
	}
}

// TestLockTimeout holds a seat's row lock from outside and checks that a
// hold waiting for it gives up with an error that says so.
func TestLockTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	u := newSchema(t)
	s, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	ev := booking.Event{ID: "e", Name: "Locked", Status: booking.EventOnSale, Currency: "EUR"}
	must(t, s.PutEvent(ctx, ev))
	must(t, s.PutTicketType(ctx, booking.TicketType{ID: "tt", EventID: "e", Name: "Standard"}))
	must(t, s.PutSection(ctx, booking.Section{ID: "sec", EventID: "e", Name: "Stalls"}))
	must(t, s.PutSeats(ctx, []booking.Seat{{ID: "a1", EventID: "e", SectionID: "sec", Row: "A", Number: "1", TicketTypeID: "tt"}}))

	other, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM places WHERE seat_id = 'a1' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Hold(ctx, booking.HoldRequest{HoldID: "h", EventID: "e", SeatIDs: []string{"a1"}, Account: "fan",
		Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), TTL: time.Minute})
	if !errors.Is(err, sqlstore.ErrBusy) || !errors.Is(err, booking.ErrConflict) {
		t.Fatalf("hold of a locked seat: %v, want ErrBusy and ErrConflict", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkHolds(b *testing.B) {
	storetest.BenchHolds(b, func(b *testing.B) booking.Store { return open(b) })
}
