package report

import (
	"cmp"
	"math"
	"slices"
)

// KendallTau is Kendall's tau-a between the arrival order and the admission
// order of the admissions: (concordant − discordant pairs) / all pairs. 1
// means everyone was admitted in the order they arrived, −1 the reverse,
// and 0 no relation. A pair tied in either rank counts as neither. Fewer
// than two admissions give 1: nobody was passed over. It runs in
// O(n log n): the discordant pairs are the inversions of the admission
// ranks once sorted by arrival, counted by a merge sort.
func KendallTau(adm []Admission) float64 {
	n := len(adm)
	if n < 2 {
		return 1
	}
	sorted := slices.Clone(adm)
	slices.SortFunc(sorted, func(a, b Admission) int {
		return cmp.Or(cmp.Compare(a.ArrivalRank, b.ArrivalRank), cmp.Compare(a.AdmissionRank, b.AdmissionRank))
	})
	ranks := make([]int, n)
	for i, a := range sorted {
		ranks[i] = a.AdmissionRank
	}
	discordant := inversions(ranks, make([]int, n))

	// Ties: pairs equal in arrival, in admission, and in both.
	tiedArrival := tiedPairs(sorted, func(a Admission) int { return a.ArrivalRank }, func(a Admission) int { return a.ArrivalRank })
	tiedBoth := tiedPairs(sorted, func(a Admission) int { return a.ArrivalRank }, func(a Admission) int { return a.AdmissionRank })
	byAdmission := slices.Clone(sorted)
	slices.SortFunc(byAdmission, func(a, b Admission) int { return cmp.Compare(a.AdmissionRank, b.AdmissionRank) })
	tiedAdmission := tiedPairs(byAdmission, func(a Admission) int { return a.AdmissionRank }, func(a Admission) int { return a.AdmissionRank })

	all := int64(n) * int64(n-1) / 2
	concordant := all - discordant - (tiedArrival + tiedAdmission - tiedBoth)
	return float64(concordant-discordant) / float64(all)
}

// tiedPairs counts the pairs of a sorted slice that share both group(a)
// (the key it is sorted on) and key(a); runs of equal group are contiguous.
func tiedPairs(s []Admission, group, key func(Admission) int) int64 {
	var total int64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && group(s[j]) == group(s[i]) {
			j++
		}
		counts := map[int]int64{}
		for _, a := range s[i:j] {
			counts[key(a)]++
		}
		for _, c := range counts {
			total += c * (c - 1) / 2
		}
		i = j
	}
	return total
}

// inversions counts the pairs i < j with a[i] > a[j], sorting a; tmp is
// scratch space as long as a.
func inversions(a, tmp []int) int64 {
	if len(a) < 2 {
		return 0
	}
	mid := len(a) / 2
	n := inversions(a[:mid], tmp[:mid]) + inversions(a[mid:], tmp[mid:])
	i, j, k := 0, mid, 0
	for i < mid && j < len(a) {
		if a[j] < a[i] {
			n += int64(mid - i)
			tmp[k] = a[j]
			j++
		} else {
			tmp[k] = a[i]
			i++
		}
		k++
	}
	k += copy(tmp[k:], a[i:mid])
	copy(tmp[k:], a[j:])
	copy(a, tmp[:len(a)])
	return n
}

// Percentiles returns, for each q in qs (0 to 100), the nearest-rank
// percentile of values: the smallest value with at least q % of values at
// or below it. values is not changed. Empty values give zeros; q outside
// 0..100 is taken as the nearest bound.
func Percentiles(values []float64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(values) == 0 {
		return out
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	for i, q := range qs {
		q = min(max(q, 0), 100)
		rank := int(math.Ceil(q / 100 * float64(len(sorted))))
		out[i] = sorted[max(rank, 1)-1]
	}
	return out
}

// Summarize is the latency distribution of values, in milliseconds.
func Summarize(values []float64) Summary {
	p := Percentiles(values, 50, 90, 99, 100)
	return Summary{Count: len(values), P50ms: p[0], P90ms: p[1], P99ms: p[2], Maxms: p[3]}
}
