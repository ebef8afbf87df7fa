package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/usherhq/usher/admission"
)

// inventoryAnswer is what an inventory URL answers, of which only these
// numbers are read.
type inventoryAnswer struct {
	Available *int64 `json:"available"`
	Held      *int64 `json:"held"`
}

// inventoryClient reads inventory URLs: short timeouts, as a slow source
// must not hold the next reading up.
var inventoryClient = &http.Client{Timeout: 5 * time.Second}

// watchInventory reads each room's inventory URL at its interval until ctx
// ends.
func (g *Gateway) watchInventory(ctx context.Context) {
	g.everyRoom(ctx, func(rm *room) time.Duration {
		if rm.inventory.URL == "" {
			return 0
		}
		return time.Duration(rm.inventory.Every)
	}, func(rm *room) {
		if err := g.readInventory(ctx, rm); err != nil && ctx.Err() == nil {
			g.logInventoryErrors.Do(func() { g.log.Warn("inventory read failed", "room", rm.id, "err", err) })
		}
	})
}

// everyRoom runs do for each room at the room's own interval (0: never),
// checking every second, until ctx ends. The rooms are those of the
// routing at each check, so a reload's new rooms join at once.
func (g *Gateway) everyRoom(ctx context.Context, interval func(*room) time.Duration, do func(*room)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := map[string]time.Time{}
	for {
		now := time.Now()
		for _, rm := range g.routing.Load().rooms {
			if every := interval(rm); every <= 0 || now.Sub(last[rm.id]) < every {
				continue
			}
			last[rm.id] = now
			do(rm)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readInventory reads one room's tickets left and acts on it: the cap on
// active shoppers, and sold out once nothing is left or held. A reading
// that fails leaves the last one in force.
func (g *Gateway) readInventory(ctx context.Context, rm *room) error {
	ctx, cancel := context.WithTimeout(ctx, inventoryClient.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rm.inventory.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if g.cfg.inventoryToken != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.inventoryToken)
	}
	resp, err := inventoryClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("inventory %s: status %d", rm.inventory.URL, resp.StatusCode)
	}
	var a inventoryAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return fmt.Errorf("inventory %s: %w", rm.inventory.URL, err)
	}
	if a.Available == nil || *a.Available < 0 {
		return fmt.Errorf("inventory %s: no \"available\" number", rm.inventory.URL)
	}
	left := *a.Available
	if a.Held != nil && *a.Held > 0 {
		// Held places may come back when their holds lapse.
		left += *a.Held
	}
	rm.adm.SetInventory(*a.Available, rm.inventory.TicketsPerShopper)
	if left > 0 {
		return nil
	}
	switch rm.adm.Policy().State {
	case admission.StateOpen, admission.StatePaused:
	default:
		return nil
	}
	_, _, _, err = rm.adm.Change(ctx, admission.Actor{Who: "inventory", Via: "inventory"}, "soldout",
		func(p admission.Policy) (admission.Policy, []admission.FieldProblem) {
			p.State = admission.StateSoldOut
			return p, nil
		})
	if err == nil {
		g.log.Info("sold out: the inventory has no ticket left", "room", rm.id)
	}
	return err
}
