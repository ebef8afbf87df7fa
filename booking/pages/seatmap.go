package pages

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The map's own units: the closest two seats of a section are pitch units
// apart, whatever unit the seats' X and Y are in, and a unit is pxPerUnit
// CSS pixels at the map's natural size, so that neighbouring seats are
// 26 px apart and every seat is a target of at least 24 px (WCAG 2.5.8).
const (
	pitch     = 10.0
	seatR     = 3.9
	pad       = 8.0
	pxPerUnit = 2.6
	// labelGap and charWidth place the row names left of the rows.
	labelGap  = 7.0
	charWidth = 5.2
)

// sectionMap is a section drawn as an SVG.
type sectionMap struct {
	Name          string
	ViewBox       string
	Width, Height string
	Seats         []seatMark
	Rows          []rowMark
}

// seatMark is one seat on a map.
type seatMark struct {
	ID string
	// Label is what a screen reader says: name, kind, price and state.
	Label  string
	CX, CY string
	R      string
	// Class is the seat's state: a (available), h (held) or s (sold).
	Class    string
	Cents    int64
	Disabled bool
}

// rowMark is a row's name, drawn left of its first seat.
type rowMark struct {
	Name string
	X, Y string
}

// seatState maps a seat's state to its class and its word; anything
// unknown cannot be chosen, like a sold seat.
func seatState(state string) (class, word string) {
	switch state {
	case "available":
		return "a", "available"
	case "held":
		return "h", "on hold"
	}
	return "s", "sold"
}

// seatName is a seat in words.
func seatName(s SeatView) string {
	switch {
	case s.Row != "" && s.Number != "":
		return "Row " + s.Row + " seat " + s.Number
	case s.Label != "":
		return s.Label
	case s.Number != "":
		return "Seat " + s.Number
	}
	return "Seat " + s.ID
}

// seatLabel is what a screen reader says about a seat. The state word comes
// last, after the last comma: the script replaces it when the state changes.
func seatLabel(s SeatView, word string) string {
	label := seatName(s)
	if s.TicketType != "" {
		label += ", " + s.TicketType
	}
	return label + ", " + s.Price.String() + ", " + word
}

// finite is v, or 0 when v is not a number a map can use.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// closest is the smallest distance between two seats at different places,
// or 0 when there are no two such seats. It sweeps the seats in order of X,
// so rows of seats cost far less than comparing every pair.
func closest(xs, ys []float64) float64 {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpFloat(xs[a], xs[b]) })
	best := math.Inf(1)
	for i, a := range order {
		for _, b := range order[i+1:] {
			dx := xs[b] - xs[a]
			if dx >= best {
				break
			}
			if d := math.Hypot(dx, ys[b]-ys[a]); d > 0 && d < best {
				best = d
			}
		}
	}
	if math.IsInf(best, 1) {
		return 0
	}
	return best
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// num writes a map coordinate to a tenth of a unit, which is far below a
// pixel and keeps the markup short.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// newSectionMap lays out a section's seats in the map's units.
func newSectionMap(s SectionView) sectionMap {
	n := len(s.Seats)
	xs, ys := make([]float64, n), make([]float64, n)
	for i, seat := range s.Seats {
		xs[i], ys[i] = finite(seat.X), finite(seat.Y)
	}
	scale := 1.0
	if d := closest(xs, ys); d > 0 {
		scale = pitch / d
	}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for i := range xs {
		xs[i], ys[i] = xs[i]*scale, ys[i]*scale
		minX, maxX = math.Min(minX, xs[i]), math.Max(maxX, xs[i])
		minY, maxY = math.Min(minY, ys[i]), math.Max(maxY, ys[i])
	}
	if n == 0 {
		minX, maxX, minY, maxY = 0, 0, 0, 0
	}

	rows, longest := rowMarks(s.Seats, xs, ys)
	left := pad
	if longest > 0 {
		left = seatR + labelGap + float64(longest)*charWidth + 2
	}
	w := left + maxX - minX + seatR + pad
	h := 2*pad + maxY - minY
	dx, dy := left-minX, pad-minY

	m := sectionMap{
		Name:    s.Name,
		ViewBox: "0 0 " + num(w) + " " + num(h),
		Width:   num(w * pxPerUnit),
		Height:  num(h * pxPerUnit),
		Seats:   make([]seatMark, n),
	}
	for i, seat := range s.Seats {
		class, word := seatState(seat.State)
		m.Seats[i] = seatMark{
			ID:       seat.ID,
			Label:    seatLabel(seat, word),
			CX:       num(xs[i] + dx),
			CY:       num(ys[i] + dy),
			R:        num(seatR),
			Class:    class,
			Cents:    seat.Price.Cents,
			Disabled: class != "a",
		}
	}
	for _, r := range rows {
		m.Rows = append(m.Rows, rowMark{Name: r.name, X: num(r.x + dx - seatR - labelGap), Y: num(r.y + dy)})
	}
	return m
}

type rowSpot struct {
	name string
	x, y float64
}

// rowMarks places each row's name just left of the row's leftmost seat and
// level with it, in the order the rows first appear; longest is the length
// of the longest name, in characters.
func rowMarks(seats []SeatView, xs, ys []float64) (rows []rowSpot, longest int) {
	index := map[string]int{}
	for i, s := range seats {
		if s.Row == "" {
			continue
		}
		j, ok := index[s.Row]
		if !ok {
			j = len(rows)
			index[s.Row] = j
			rows = append(rows, rowSpot{name: s.Row, x: xs[i], y: ys[i]})
			longest = max(longest, utf8.RuneCountInString(s.Row))
		}
		if r := &rows[j]; xs[i] < r.x {
			r.x, r.y = xs[i], ys[i]
		}
	}
	return rows, longest
}
