package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/usherhq/usher/lottery"
)

// drawJSON is a room's published draw, GET /_usher/lottery?room=R.
type drawJSON struct {
	Room        string `json:"room"`
	Commitment  string `json:"commitment"`
	Drawn       bool   `json:"drawn"`
	Seed        string `json:"seed"`
	LastSeq     int64  `json:"last_seq"`
	Entrants    int    `json:"entrants"`
	Digest      string `json:"digest"`
	EntrantsURL string `json:"entrants_url"`
}

// maxList bounds what is read of a list of entrants: 64 MB is well over a
// million entrants.
const maxList = 64 << 20

// runVerifyLottery recomputes a room's lottery from what it published,
// from the site or from saved files, and checks it: that the seed is the
// one committed to, that the list is the one the draw used, and where an
// entry's place is.
func runVerifyLottery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify-lottery", flag.ContinueOnError)
	fs.SetOutput(stderr)
	site := fs.String("url", "", "the site, e.g. https://tickets.example.com: reads /_usher/lottery there")
	room := fs.String("room", "", "the room id (with -url)")
	drawFile := fs.String("draw", "", "the draw as saved from /_usher/lottery, instead of -url")
	listFile := fs.String("entrants", "", "the list as saved from /_usher/lottery/entrants, instead of -url")
	commitment := fs.String("commitment", "", "the commitment you saw before the sale (default: the one published with the draw)")
	entry := fs.Int64("entry", 0, "your entry number: prints its place")
	all := fs.Bool("all", false, "print the whole order: place, entry number, ticket id")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: usher verify-lottery -url SITE -room ROOM [-entry N] [-all]\n       usher verify-lottery -draw FILE -entrants FILE [-entry N] [-all]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var drawBody, list []byte
	switch {
	case *site != "" && *room != "" && *drawFile == "" && *listFile == "":
		var err error
		if drawBody, list, err = fetchDraw(ctx, *site, *room); err != nil {
			return err
		}
	case *site == "" && *drawFile != "" && *listFile != "":
		var err error
		if drawBody, err = os.ReadFile(*drawFile); err != nil {
			return err
		}
		if list, err = os.ReadFile(*listFile); err != nil {
			return err
		}
	default:
		fs.Usage()
		return errors.New("verify-lottery: give -url and -room, or -draw and -entrants")
	}
	var d drawJSON
	if err := json.Unmarshal(drawBody, &d); err != nil {
		return fmt.Errorf("the draw: %w", err)
	}
	if !d.Drawn {
		return fmt.Errorf("room %q has not drawn yet; its commitment is %s", d.Room, d.Commitment)
	}
	if *commitment != "" && !strings.EqualFold(*commitment, d.Commitment) {
		return fmt.Errorf("the room now publishes the commitment %s, not %s as you saw before the sale", d.Commitment, *commitment)
	}
	seed, err := hex.DecodeString(d.Seed)
	if err != nil {
		return fmt.Errorf("the draw's seed %q is not hex", d.Seed)
	}
	entrants, err := lottery.Read(bytes.NewReader(list))
	if err != nil {
		return fmt.Errorf("the list of entrants: %w", err)
	}
	if err := lottery.Check(d.Commitment, seed, d.Digest, entrants); err != nil {
		return err
	}
	order := lottery.Draw(seed, d.LastSeq, entrants)
	if order.Entrants != len(entrants) || order.Entrants != d.Entrants {
		return fmt.Errorf("the draw says %d entrants up to arrival %d; the list has %d, %d of them in the draw", d.Entrants, d.LastSeq, len(entrants), order.Entrants)
	}
	fmt.Fprintf(stdout, "room %s: the seed matches the commitment %s\n", d.Room, d.Commitment)
	fmt.Fprintf(stdout, "%d entrants, arrivals 1 to %d; the list matches the digest %s\n", order.Entrants, d.LastSeq, d.Digest)
	if *entry > 0 {
		switch p := order.Place(*entry); {
		case *entry > d.LastSeq:
			fmt.Fprintf(stdout, "entry %d came after the draw: place %d, in arrival order\n", *entry, p)
		case !slices.ContainsFunc(order.List, func(e lottery.Entrant) bool { return e.Seq == *entry }):
			fmt.Fprintf(stdout, "entry %d is not in the list: place %d, after the %d entrants\n", *entry, p, order.Entrants)
		default:
			fmt.Fprintf(stdout, "entry %d: place %d of %d\n", *entry, p, d.LastSeq)
		}
	}
	if *all {
		byPlace := slices.Clone(order.List)
		slices.SortFunc(byPlace, func(a, b lottery.Entrant) int { return int(order.Place(a.Seq) - order.Place(b.Seq)) })
		for _, e := range byPlace {
			fmt.Fprintf(stdout, "%d %d %s\n", order.Place(e.Seq), e.Seq, e.ID)
		}
	}
	return nil
}

// fetchDraw reads a room's draw and its list of entrants from the site.
func fetchDraw(ctx context.Context, site, room string) (draw, list []byte, err error) {
	base, err := url.Parse(strings.TrimRight(site, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, nil, fmt.Errorf("-url %q: want an http or https URL", site)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string, max int64) ([]byte, error) {
		u, err := base.Parse(path)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, text/plain")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, max))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(b))
		}
		return b, nil
	}
	if draw, err = get("/_usher/lottery?room="+url.QueryEscape(room), 1<<20); err != nil {
		return nil, nil, err
	}
	var d drawJSON
	if err := json.Unmarshal(draw, &d); err != nil {
		return nil, nil, fmt.Errorf("the draw: %w", err)
	}
	if !d.Drawn {
		return draw, nil, nil
	}
	if d.EntrantsURL == "" {
		return nil, nil, errors.New("the draw names no list of entrants")
	}
	if list, err = get(d.EntrantsURL, maxList); err != nil {
		return nil, nil, err
	}
	return draw, list, nil
}
