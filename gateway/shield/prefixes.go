package shield

import (
	"net/netip"
	"slices"
)

// Prefixes is a set of networks, such as a room's allow or deny list. A
// lookup costs one map probe per distinct prefix length in the set, not one
// per network, so a list of thousands of ranges stays cheap on every
// request. The zero Prefixes is empty. It is read-only once made, and so
// safe for concurrent use.
type Prefixes struct {
	lengths []int // distinct prefix lengths, longest first
	nets    map[netip.Prefix]struct{}
}

// NewPrefixes returns the set of ps. IPv4-mapped IPv6 prefixes are taken as
// the IPv4 prefixes they map, as client addresses are.
func NewPrefixes(ps []netip.Prefix) *Prefixes {
	s := &Prefixes{nets: make(map[netip.Prefix]struct{}, len(ps))}
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		s.nets[p] = struct{}{}
		if !slices.Contains(s.lengths, p.Bits()) {
			s.lengths = append(s.lengths, p.Bits())
		}
	}
	slices.SortFunc(s.lengths, func(a, b int) int { return b - a })
	return s
}

// Contains reports whether addr lies in one of the set's networks.
func (s *Prefixes) Contains(addr netip.Addr) bool {
	if s == nil || len(s.nets) == 0 || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, bits := range s.lengths {
		if bits > addr.BitLen() {
			continue
		}
		// Prefix only fails for bits out of range, excluded above.
		p, _ := addr.Prefix(bits)
		if _, ok := s.nets[p]; ok {
			return true
		}
	}
	return false
}

// Len is the number of networks in the set.
func (s *Prefixes) Len() int {
	if s == nil {
		return 0
	}
	return len(s.nets)
}
