package demo

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/sqlite"
)

func TestSeed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	if err := Seed(t.Context(), s, "demo", now); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(t.Context(), booking.EventFilter{})
	if err != nil || len(events) != 3 {
		t.Fatalf("events: %d %v", len(events), err)
	}
	a, err := s.Availability(t.Context(), "wandering-stars", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Seats) != 8*16+3*16 || a.Zones["standing"].Available != 300 {
		t.Errorf("arena: %d seats, standing %+v", len(a.Seats), a.Zones["standing"])
	}
	if a.Seats["stalls-A6"] != booking.PlaceHeld || a.Seats["stalls-B6"] != booking.PlaceAvailable {
		t.Errorf("the VIP seats of row A are the quota's: A6 %s, B6 %s", a.Seats["stalls-A6"], a.Seats["stalls-B6"])
	}
	// Fans hold public seats; the VIP row needs its code.
	if _, err := s.Hold(t.Context(), booking.HoldRequest{HoldID: "h1", EventID: "wandering-stars", SeatIDs: []string{"stalls-A6"}, Account: "a", Now: now, TTL: time.Minute}); err == nil {
		t.Error("a VIP seat was held without the code")
	}
	if _, err := s.Hold(t.Context(), booking.HoldRequest{HoldID: "h2", EventID: "wandering-stars", SeatIDs: []string{"stalls-A6"}, PresaleCode: "FRONTROW", Account: "a", Now: now, TTL: time.Minute}); err != nil {
		t.Errorf("a VIP seat with the code: %v", err)
	}
	// The festival is not on sale yet.
	if _, err := s.Hold(t.Context(), booking.HoldRequest{HoldID: "h3", EventID: "harbour-lights", ZoneID: "grounds", Quantity: 1, Account: "a", Now: now, TTL: time.Minute}); err == nil {
		t.Error("the festival sold before its sale opened")
	}
}
