package shield

import (
	"net/netip"
	"testing"
)

func TestPrefixes(t *testing.T) {
	s := NewPrefixes([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("198.51.100.77/24"), // not masked: masked on the way in
		netip.MustParsePrefix("2001:db8:1::/48"),
		netip.MustParsePrefix("::ffff:203.0.113.0/120"), // a mapped /24
	})
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"198.51.100.1", true},
		{"::ffff:10.9.9.9", true}, // mapped clients count as IPv4
		{"2001:db8:1:ffff::1", true},
		{"2001:db8:2::1", false},
		{"203.0.113.200", true},
		{"::1", false},
	}
	for _, tt := range tests {
		if got := s.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if s.Len() != 5 {
		t.Errorf("Len = %d, want 5", s.Len())
	}
	var empty *Prefixes
	if empty.Contains(netip.MustParseAddr("10.0.0.1")) || NewPrefixes(nil).Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Error("an empty set contains an address")
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the zero address is in the set")
	}
}

func BenchmarkPrefixesContains(b *testing.B) {
	var ps []netip.Prefix
	for i := range 5000 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 8), byte(i), 0, 0}), 16+i%9))
	}
	s := NewPrefixes(ps)
	addr := netip.MustParseAddr("203.0.113.9")
	b.ReportAllocs()
	for b.Loop() {
		s.Contains(addr)
	}
}
