// Package lottery draws the order of a room's pre-queue in a way anyone can
// check.
//
// Before the pre-queue opens, the room picks a secret seed and publishes
// its commitment, the SHA-256 of the seed. Everyone who joins before the
// sale starts is an entrant: an arrival number (seq) and a ticket id, the
// random visitor id in their ticket. At the start the room reveals the seed
// and the list of entrants, and the order follows from them alone: each
// entrant's key is SHA-256 of the seed, the digest of the whole list and
// the entrant's ticket id, and places go by ascending key.
//
// The commitment keeps the room from choosing a seed after seeing who
// joined; the digest of the whole list in every key keeps anyone who knows
// the seed, the room included, from predicting a key before the list is
// closed, so that joining again and again to keep a good ticket gains
// nothing. A fan checks their place with the seed, the list and their
// arrival number, and anyone can check the whole order.
package lottery

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// SeedSize is the length of a seed in bytes.
const SeedSize = 32

// keyDomain starts every key's hash input, so that no other SHA-256 in the
// system can be made to collide with a lottery key.
const keyDomain = "usher lottery v1\x00"

// NewSeed returns a fresh random seed.
func NewSeed() []byte {
	seed := make([]byte, SeedSize)
	_, _ = rand.Read(seed) // crypto/rand.Read never fails
	return seed
}

// Commit is the commitment to seed: the lower-case hex SHA-256 of its bytes.
func Commit(seed []byte) string {
	sum := sha256.Sum256(seed)
	return hex.EncodeToString(sum[:])
}

// Entrant is one visitor in the draw.
type Entrant struct {
	// Seq is the entrant's arrival number in the room, from 1.
	Seq int64
	// ID is the ticket id: the visitor id of the ticket that joined, 1 to
	// 64 characters of [A-Za-z0-9_-].
	ID string
}

// Sort puts entrants in the order the list is published in: by Seq, then
// by ID, and drops exact repeats.
func Sort(entrants []Entrant) []Entrant {
	slices.SortFunc(entrants, func(a, b Entrant) int {
		if a.Seq != b.Seq {
			return cmp.Compare(a.Seq, b.Seq)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return slices.Compact(entrants)
}

// Write writes the list as it is published: one "seq id" line per entrant,
// in the order given (see [Sort]). Its bytes are what [Digest] hashes.
func Write(w io.Writer, entrants []Entrant) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for _, e := range entrants {
		line = strconv.AppendInt(line[:0], e.Seq, 10)
		line = append(line, ' ')
		line = append(line, e.ID...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Digest is the SHA-256 of the published list (see [Write]) of entrants,
// which must be sorted.
func Digest(entrants []Entrant) [32]byte {
	h := sha256.New()
	_ = Write(h, entrants) // a hash never fails to write
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Read reads a published list, checking each line, and returns it sorted.
func Read(r io.Reader) ([]Entrant, error) {
	var out []Entrant
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		seq, id, ok := strings.Cut(line, " ")
		s, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil || s < 1 {
			return nil, fmt.Errorf("line %d: want \"seq id\" with seq a number from 1, got %q", n, line)
		}
		if !ValidID(id) {
			return nil, fmt.Errorf("line %d: ticket id %q: want 1 to 64 characters of A-Z a-z 0-9 _ -", n, id)
		}
		out = append(out, Entrant{Seq: s, ID: id})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sorted := slices.IsSortedFunc(out, func(a, b Entrant) int { return cmp.Compare(a.Seq, b.Seq) })
	out = Sort(out)
	if !sorted {
		return out, fmt.Errorf("the list is not in arrival order")
	}
	return out, nil
}

// ValidID reports whether id can be a ticket id.
func ValidID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Key is the entrant id's draw key under seed and the list's digest.
func Key(seed []byte, digest [32]byte, id string) [32]byte {
	h := sha256.New()
	h.Write([]byte(keyDomain))
	h.Write(seed)
	h.Write(digest[:])
	h.Write([]byte(id))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Order is the outcome of a draw: the place of every arrival number up to
// Last.
type Order struct {
	// Last is the highest arrival number the draw covers: every seq from 1
	// to Last has a place from 1 to Last, and later arrivals keep their
	// arrival number as their place.
	Last int64
	// Entrants is how many of them were entrants, drawn into places 1 to
	// Entrants; the rest (arrivals whose entry was not recorded) follow in
	// arrival order.
	Entrants int
	// Digest is the digest of the list the draw used.
	Digest [32]byte
	// List is the list the draw used, as it is published: the entrants
	// up to Last, in arrival order.
	List []Entrant
	// places[seq] is the place of seq, for 1 <= seq <= Last.
	places []int64
}

// Draw orders the entrants, sorted as [Sort] leaves them, under seed: those
// with a Seq up to last take places 1 to n by ascending [Key] (ties, which
// SHA-256 never gives, by Seq); the other arrival numbers up to last take
// the places after them in arrival order. Entrants past last, and every
// entry of a Seq after its first, are not in the draw; the digest covers
// only those that are.
func Draw(seed []byte, last int64, entrants []Entrant) Order {
	last = max(last, 0)
	in := make([]Entrant, 0, len(entrants))
	for _, e := range entrants {
		if e.Seq >= 1 && e.Seq <= last && (len(in) == 0 || in[len(in)-1].Seq != e.Seq) {
			in = append(in, e)
		}
	}
	o := Order{Last: last, Entrants: len(in), Digest: Digest(in), List: in, places: make([]int64, last+1)}
	type keyed struct {
		key [32]byte
		seq int64
	}
	keys := make([]keyed, len(in))
	for i, e := range in {
		keys[i] = keyed{Key(seed, o.Digest, e.ID), e.Seq}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for i, k := range keys {
		o.places[k.seq] = int64(i + 1)
	}
	next := int64(len(keys))
	for seq := int64(1); seq <= last; seq++ {
		if o.places[seq] == 0 {
			next++
			o.places[seq] = next
		}
	}
	return o
}

// Place is the place of arrival number seq: drawn for those up to Last,
// seq itself after. 0 for seq < 1.
func (o Order) Place(seq int64) int64 {
	switch {
	case seq < 1:
		return 0
	case seq <= o.Last:
		return o.places[seq]
	}
	return seq
}

// Check checks a revealed draw: that seed is the one committed to, and
// that the list's digest is the published one (a lower-case hex string).
// entrants must be the list as published and read by [Read].
func Check(commitment string, seed []byte, digest string, entrants []Entrant) error {
	if got := Commit(seed); got != strings.ToLower(commitment) {
		return fmt.Errorf("the seed does not match the commitment: SHA-256(seed) is %s, the commitment %s", got, commitment)
	}
	sum := Digest(entrants)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(digest) {
		return fmt.Errorf("the list of entrants does not match its digest: it hashes to %s, the draw says %s", got, digest)
	}
	return nil
}
