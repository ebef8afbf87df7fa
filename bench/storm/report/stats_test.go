package report

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteTau is Kendall's tau-a by its definition, over every pair.
func bruteTau(adm []Admission) float64 {
	n := len(adm)
	if n < 2 {
		return 1
	}
	sign := func(x int) int {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	}
	var s int
	for i := range n {
		for j := i + 1; j < n; j++ {
			s += sign(adm[i].ArrivalRank-adm[j].ArrivalRank) * sign(adm[i].AdmissionRank-adm[j].AdmissionRank)
		}
	}
	return float64(s) / float64(n*(n-1)/2)
}

func TestKendallTauMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 200 {
		n := rng.IntN(60)
		adm := make([]Admission, n)
		perm := rng.Perm(n)
		for i := range adm {
			adm[i] = Admission{ArrivalRank: i + 1, AdmissionRank: perm[i] + 1}
			if trial%3 == 0 { // ties in both ranks
				adm[i].ArrivalRank = 1 + rng.IntN(max(n/3, 1))
				adm[i].AdmissionRank = 1 + rng.IntN(max(n/3, 1))
			}
		}
		rng.Shuffle(n, func(i, j int) { adm[i], adm[j] = adm[j], adm[i] })
		got, want := KendallTau(adm), bruteTau(adm)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d, n=%d: KendallTau %v, brute force %v (%v)", trial, n, got, want, adm)
		}
	}
}

func TestKendallTauEdges(t *testing.T) {
	fifo := []Admission{{1, 1, 0}, {2, 2, 0}, {3, 3, 0}}
	reverse := []Admission{{1, 3, 0}, {2, 2, 0}, {3, 1, 0}}
	for name, tc := range map[string]struct {
		adm  []Admission
		want float64
	}{
		"none": {nil, 1}, "one": {fifo[:1], 1}, "fifo": {fifo, 1}, "reverse": {reverse, -1},
	} {
		if got := KendallTau(tc.adm); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func TestKendallTauLarge(t *testing.T) {
	// 20,000 admissions, each admitted up to 20 places off its turn: close
	// to 1, and quick (n log n).
	n := 20000
	rng := rand.New(rand.NewPCG(1, 2))
	adm := make([]Admission, n)
	for i := range adm {
		adm[i] = Admission{ArrivalRank: i + 1, AdmissionRank: i + 1}
	}
	for i := 0; i+20 < n; i += 20 {
		rng.Shuffle(20, func(a, b int) {
			adm[i+a].AdmissionRank, adm[i+b].AdmissionRank = adm[i+b].AdmissionRank, adm[i+a].AdmissionRank
		})
	}
	if tau := KendallTau(adm); tau < 0.99 || tau >= 1 {
		t.Errorf("tau %v, want just under 1", tau)
	}
}

func TestPercentiles(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	got := Percentiles(values, 0, 10, 50, 90, 99, 100, 150, -5)
	want := []float64{1, 1, 5, 9, 10, 10, 10, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("percentile %d: %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
	if values[0] != 5 {
		t.Error("Percentiles sorted its input")
	}
	if p := Percentiles(nil, 50, 99); p[0] != 0 || p[1] != 0 {
		t.Errorf("empty: %v", p)
	}
	s := Summarize([]float64{1, 2, 3, 4})
	if s.Count != 4 || s.P50ms != 2 || s.Maxms != 4 {
		t.Errorf("Summarize: %+v", s)
	}
}

func BenchmarkKendallTau(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	adm := make([]Admission, 20000)
	perm := rng.Perm(len(adm))
	for i := range adm {
		adm[i] = Admission{ArrivalRank: i + 1, AdmissionRank: perm[i] + 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		KendallTau(adm)
	}
}
