package ticket

import (
	"errors"
	"fmt"
)

// base45Alphabet is the RFC 9285 alphabet, which is also the character set of
// a QR code's alphanumeric mode.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Values maps a character to its value, or -1 outside the alphabet.
var base45Values = func() [256]int8 {
	var v [256]int8
	for i := range v {
		v[i] = -1
	}
	for i := range len(base45Alphabet) {
		v[base45Alphabet[i]] = int8(i)
	}
	return v
}()

// encodedBase45Len is the length of the Base45 encoding of n bytes: three
// characters per pair of bytes, two for a last odd byte.
func encodedBase45Len(n int) int {
	return n/2*3 + n%2*2
}

// encodeBase45 encodes b as RFC 9285 Base45.
func encodeBase45(b []byte) string {
	out := make([]byte, 0, encodedBase45Len(len(b)))
	for len(b) >= 2 {
		n := int(b[0])<<8 | int(b[1])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/(45*45)])
		b = b[2:]
	}
	if len(b) == 1 {
		n := int(b[0])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return string(out)
}

// errBase45 is the root of every Base45 decoding error.
var errBase45 = errors.New("bad base45")

// decodeBase45 decodes RFC 9285 Base45 strictly: a character outside the
// alphabet, a lone last character or a group whose value does not fit its
// bytes is an error, so every byte string has exactly one accepted encoding.
func decodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("%w: length %d leaves one character over", errBase45, len(s))
	}
	out := make([]byte, 0, len(s)/3*2+len(s)%3/2)
	for i := 0; i < len(s); i += 3 {
		group := s[i:min(i+3, len(s))]
		n, weight := 0, 1
		for j := range len(group) {
			v := base45Values[group[j]]
			if v < 0 {
				return nil, fmt.Errorf("%w: character %q at %d is not in the alphabet", errBase45, group[j], i+j)
			}
			n += int(v) * weight
			weight *= 45
		}
		if len(group) == 3 {
			if n > 0xffff {
				return nil, fmt.Errorf("%w: group at %d is %d, more than two bytes hold", errBase45, i, n)
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return nil, fmt.Errorf("%w: last group at %d is %d, more than a byte holds", errBase45, i, n)
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
