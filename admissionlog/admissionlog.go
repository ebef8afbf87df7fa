// Package admissionlog keeps the hash chain of a room's admissions, so that
// a venue can prove it admitted in order and at the rate it stated.
//
// Every batch of places the room offers is one record: the range of places,
// the time, and the policy in force (its version, rate and capacity). The
// records, in the order of their places, are chained: the head after a
// record is the SHA-256 of the head before it and the record's line, so a
// published head pins every record before it. Anyone who has seen a head can
// later check the whole log against it, and any record changed, dropped or
// slipped in changes every head after it.
package admissionlog

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// genesisDomain starts the hash input of a room's first head.
const genesisDomain = "usher admission log v1\x00"

// Record is one batch of offers.
type Record struct {
	// From and To are the first and last place offered, From <= To.
	From, To int64
	// At is when the offers were made, to the millisecond, on the queue
	// store's clock.
	At time.Time
	// PolicyVersion is the version of the room's saved policy then (0: the
	// configuration's, never saved).
	PolicyVersion int64
	// RatePerMinute and MaxActive are the rate in force and the capacity.
	RatePerMinute float64
	MaxActive     int
}

// Line is the record as it is logged and hashed: "from to unix_ms
// policy_version rate_per_minute max_active", numbers in decimal.
func (r Record) Line() string {
	b := make([]byte, 0, 64)
	b = strconv.AppendInt(b, r.From, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.To, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.At.UnixMilli(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.PolicyVersion, 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, r.RatePerMinute, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.MaxActive), 10)
	return string(b)
}

// Parse reads a record's line.
func Parse(line string) (Record, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return Record{}, fmt.Errorf("record %q: want 6 fields: from to unix_ms policy_version rate_per_minute max_active", line)
	}
	var n [4]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || v < 0 {
			return Record{}, fmt.Errorf("record %q: field %d is not a whole number", line, i+1)
		}
		n[i] = v
	}
	rate, err := strconv.ParseFloat(f[4], 64)
	if err != nil || rate < 0 {
		return Record{}, fmt.Errorf("record %q: the rate is not a number", line)
	}
	maxActive, err := strconv.Atoi(f[5])
	if err != nil || maxActive < 0 {
		return Record{}, fmt.Errorf("record %q: max_active is not a whole number", line)
	}
	r := Record{From: n[0], To: n[1], At: time.UnixMilli(n[2]).UTC(), PolicyVersion: n[3], RatePerMinute: rate, MaxActive: maxActive}
	if r.From < 1 || r.To < r.From {
		return Record{}, fmt.Errorf("record %q: places %d to %d are not a range", line, r.From, r.To)
	}
	if r.Line() != line {
		return Record{}, fmt.Errorf("record %q: not in canonical form (%q)", line, r.Line())
	}
	return r, nil
}

// Sort orders records by their places, and drops exact repeats.
func Sort(records []Record) []Record {
	slices.SortFunc(records, func(a, b Record) int {
		if a.From != b.From {
			return cmp.Compare(a.From, b.From)
		}
		return strings.Compare(a.Line(), b.Line())
	})
	return slices.CompactFunc(records, func(a, b Record) bool { return a.Line() == b.Line() })
}

// Genesis is the head of a room's empty log.
func Genesis(room string) [32]byte {
	return sha256.Sum256([]byte(genesisDomain + room))
}

// Next is the head after a record whose line is line, following head.
func Next(head [32]byte, line string) [32]byte {
	h := sha256.New()
	h.Write(head[:])
	h.Write([]byte(line))
	h.Write([]byte{'\n'})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Chain is a room's log up to a point.
type Chain struct {
	// Records are the records chained, in order.
	Records []Record
	// Head is the head after the last of them (Genesis for none).
	Head [32]byte
	// Through is the last place the records cover; Gaps counts the places
	// before it that no record covers (offers whose record was lost).
	Through, Gaps int64
}

// HeadHex is Head in lower-case hex.
func (c Chain) HeadHex() string { return hex.EncodeToString(c.Head[:]) }

// Build chains the sorted records of room. A record that does not follow
// on from the one before (a gap: places offered whose record is missing)
// ends the chain when it is newer than settled: it may only be waiting for
// a record from another instance; older gaps are there to stay and are
// counted in Gaps. Records that overlap the ones before are chained as
// they are: the log shows what was recorded.
func Build(room string, records []Record, settled time.Time) Chain {
	c := Chain{Head: Genesis(room)}
	for _, r := range records {
		if r.From != c.Through+1 {
			if r.At.After(settled) {
				break
			}
			if r.From > c.Through+1 {
				c.Gaps += r.From - c.Through - 1
			}
		}
		c.Head = Next(c.Head, r.Line())
		c.Records = append(c.Records, r)
		c.Through = max(c.Through, r.To)
	}
	return c
}

// Write writes the records as the log is published, one line each.
func Write(w io.Writer, records []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range records {
		if _, err := bw.WriteString(r.Line() + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Read reads a published log.
func Read(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		rec, err := Parse(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// Replay recomputes the head of a published log, record by record, as a
// check of a head published before: it returns the head after every record.
func Replay(room string, records []Record) [][32]byte {
	heads := make([][32]byte, len(records))
	h := Genesis(room)
	for i, r := range records {
		h = Next(h, r.Line())
		heads[i] = h
	}
	return heads
}
