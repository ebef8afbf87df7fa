package lottery_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/usherhq/usher/lottery"
)

func entrants(n int) []lottery.Entrant {
	out := make([]lottery.Entrant, n)
	for i := range out {
		out[i] = lottery.Entrant{Seq: int64(i + 1), ID: fmt.Sprintf("visitor%03d", i)}
	}
	return out
}

// TestUniform draws the same eight entrants under many seeds and checks,
// with a chi-square test of independence between arrival and place, that
// every entrant is equally likely to get every place. The seeds come from
// a seeded generator, so the test gives the same answer every run.
func TestUniform(t *testing.T) {
	const n, runs = 8, 16000
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	es := entrants(n)
	var counts [n][n]int
	for range runs {
		seed := make([]byte, lottery.SeedSize)
		_, _ = rng.Read(seed)
		o := lottery.Draw(seed, n, es)
		for i := range n {
			counts[i][o.Place(int64(i+1))-1]++
		}
	}
	expected := float64(runs) / n
	chi2 := 0.0
	for i := range n {
		for j := range n {
			d := float64(counts[i][j]) - expected
			chi2 += d * d / expected
		}
	}
	// Each row is a full permutation count, so (n-1)² = 49 degrees of
	// freedom; 85.35 is the 0.999 quantile of chi-square with 49.
	const critical = 85.35
	t.Logf("chi-square %.1f over %d runs (49 degrees of freedom, 0.999 quantile %.2f)", chi2, runs, critical)
	if chi2 > critical {
		t.Errorf("chi-square %.1f > %.2f: places are not uniform\n%v", chi2, critical, counts)
	}
}

func TestDrawIsAPermutation(t *testing.T) {
	seed := lottery.NewSeed()
	// Entrants 1..10 but 4 and 7 (their entries were lost), an entrant
	// past the draw, and a repeated entry.
	var es []lottery.Entrant
	for _, e := range entrants(12) {
		if e.Seq != 4 && e.Seq != 7 {
			es = append(es, e)
		}
	}
	es = append(es, es[0])
	es = lottery.Sort(es)
	o := lottery.Draw(seed, 10, es)
	if o.Entrants != 8 || len(o.List) != 8 {
		t.Fatalf("entrants = %d, list %d; want 8", o.Entrants, len(o.List))
	}
	seen := map[int64]bool{}
	for seq := int64(1); seq <= 10; seq++ {
		p := o.Place(seq)
		if p < 1 || p > 10 || seen[p] {
			t.Fatalf("place of %d = %d: not a permutation of 1..10 (%v)", seq, p, seen)
		}
		seen[p] = true
	}
	// The arrivals without an entry come after every entrant, in order.
	if o.Place(4) != 9 || o.Place(7) != 10 {
		t.Errorf("places of 4 and 7 = %d, %d; want 9, 10", o.Place(4), o.Place(7))
	}
	// Later arrivals keep their number.
	if o.Place(11) != 11 || o.Place(500) != 500 || o.Place(0) != 0 {
		t.Errorf("places of 11, 500, 0 = %d, %d, %d", o.Place(11), o.Place(500), o.Place(0))
	}
	// The same inputs give the same order, another seed another one.
	again := lottery.Draw(seed, 10, es)
	other := lottery.Draw(lottery.NewSeed(), 10, es)
	same, differs := true, false
	for seq := int64(1); seq <= 10; seq++ {
		same = same && again.Place(seq) == o.Place(seq)
		differs = differs || other.Place(seq) != o.Place(seq)
	}
	if !same || !differs {
		t.Errorf("same seed same order: %v; other seed other order: %v", same, differs)
	}
}

// TestKeysDependOnTheWholeList: one more entrant changes every key, so
// knowing the seed does not tell a joiner how their ticket will do.
func TestKeysDependOnTheWholeList(t *testing.T) {
	seed := lottery.NewSeed()
	es := entrants(5)
	d1 := lottery.Digest(es)
	d2 := lottery.Digest(entrants(6))
	if lottery.Key(seed, d1, "visitor000") == lottery.Key(seed, d2, "visitor000") {
		t.Error("the key of an entrant did not change with the list")
	}
}

func TestPublishedListRoundTrip(t *testing.T) {
	seed := lottery.NewSeed()
	o := lottery.Draw(seed, 6, entrants(6))
	var buf bytes.Buffer
	if err := lottery.Write(&buf, o.List); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "1 visitor000\n2 visitor001\n") {
		t.Errorf("list = %q", buf.String())
	}
	read, err := lottery.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	digest := hex.EncodeToString(o.Digest[:])
	if err := lottery.Check(lottery.Commit(seed), seed, digest, read); err != nil {
		t.Errorf("check of an honest draw: %v", err)
	}
	if err := lottery.Check(lottery.Commit(lottery.NewSeed()), seed, digest, read); err == nil || !strings.Contains(err.Error(), "commitment") {
		t.Errorf("check with another commitment = %v", err)
	}
	if err := lottery.Check(lottery.Commit(seed), seed, digest, read[1:]); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("check of a list missing an entrant = %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	for _, in := range []string{
		"1\n",
		"x visitor\n",
		"0 visitor\n",
		"1 visitor with spaces\n",
		"1 " + strings.Repeat("a", 65) + "\n",
		"2 b\n1 a\n",
	} {
		if _, err := lottery.Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q) = nil error", in)
		}
	}
}
