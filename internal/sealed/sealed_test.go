package sealed

import (
	"strings"
	"testing"
)

type value struct {
	Who string `json:"who"`
	Exp int64  `json:"exp"`
}

func TestSealOpen(t *testing.T) {
	s := New([]byte(strings.Repeat("k", 32)))
	sealed, err := s.Seal(value{"alice", 42})
	if err != nil {
		t.Fatal(err)
	}
	var v value
	if !s.Open(sealed, &v) || v != (value{"alice", 42}) {
		t.Fatalf("round trip: %v %+v", s.Open(sealed, &v), v)
	}
	payload, sig, _ := strings.Cut(sealed, ".")
	for name, bad := range map[string]string{
		"empty":        "",
		"no dot":       payload,
		"tampered":     payload[:len(payload)-2] + "AA." + sig,
		"other key":    mustSeal(t, New([]byte(strings.Repeat("x", 32))), value{"alice", 42}),
		"bad base64":   payload + ".!!",
		"too long":     strings.Repeat("A", maxLen) + "." + sig,
		"not json":     "bm90IGpzb24." + sig,
		"empty mac":    payload + ".",
		"only the mac": "." + sig,
	} {
		if s.Open(bad, &v) {
			t.Errorf("%s: opened", name)
		}
	}
}

func mustSeal(t *testing.T, s *Sealer, v any) string {
	t.Helper()
	out, err := s.Seal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
