package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is returned, wrapping the reason, for every code that is not a
// well-formed code signed by a known key.
var ErrInvalid = errors.New("invalid ticket code")

// MaxTextLen is the most bytes an EventID or a Place may have.
const MaxTextLen = 64

// Claims is what a ticket code says.
type Claims struct {
	// TicketID is 16 random bytes as 32 lower-case hex characters, as NewID
	// makes them.
	TicketID string
	// EventID names the event: 1 to MaxTextLen bytes of UTF-8 text without
	// control characters.
	EventID string
	// Place is what the door staff read, such as "Stalls C12" or
	// "Standing": at most MaxTextLen bytes of UTF-8 text without control
	// characters. It may be empty.
	Place string
}

// The frame of a code; see the package documentation.
const (
	frameVersion = 0x01
	ticketIDSize = 16
	// headerLen is the version byte, the key id and the ticket id.
	headerLen = 1 + keyIDSize + ticketIDSize
	// minFrameLen is a frame with an empty event id and place, which no
	// valid code has but which the parser must still reach.
	minFrameLen = headerLen + 1 + 1 + ed25519.SignatureSize
	// maxFrameLen has the longest event id and place; their lengths take
	// one byte each, as every length up to 127 does.
	maxFrameLen = headerLen + 1 + MaxTextLen + 1 + MaxTextLen + ed25519.SignatureSize
)

// maxCodeLen is the longest valid code, in characters: the Base45 length of
// the longest frame. Longer input is rejected before it is decoded.
const maxCodeLen = maxFrameLen/2*3 + maxFrameLen%2*2

// NewID returns a new ticket id: 16 random bytes as 32 lower-case hex
// characters.
func NewID() string {
	var b [ticketIDSize]byte
	// crypto/rand.Read never fails; it crashes the program if the system's
	// randomness cannot be read.
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sign returns the code for c, signed with the signing key. The same claims
// and key always give the same code. It fails when c breaks the rules of
// [Claims] or when k has no signing key.
func (k *Keys) Sign(c Claims) (string, error) {
	if k == nil || k.signing == nil {
		return "", errors.New("sign ticket: no signing key")
	}
	ticketID, err := c.check()
	if err != nil {
		return "", fmt.Errorf("sign ticket: %w", err)
	}
	frame := make([]byte, 0, maxFrameLen)
	frame = append(frame, frameVersion)
	signingID := k.public[0].id // NewKeys puts the signing key first
	frame = append(frame, signingID[:]...)
	frame = append(frame, ticketID...)
	frame = appendText(frame, c.EventID)
	frame = appendText(frame, c.Place)
	frame = append(frame, ed25519.Sign(k.signing, frame)...)
	return encodeBase45(frame), nil
}

// appendText appends s to b with its length before it.
func appendText(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Verify returns the claims of code if one of k's keys signed it. Every
// failure is [ErrInvalid], wrapping the reason. Verify only proves who
// issued the code; whether the ticket is void or already used is the
// server's to say.
func (k *Keys) Verify(code string) (Claims, error) {
	c, err := k.verify(code)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// verify is Verify, returning the bare reason of a failure.
func (k *Keys) verify(code string) (Claims, error) {
	if len(code) > maxCodeLen {
		return Claims{}, fmt.Errorf("%d characters, longer than any code (%d)", len(code), maxCodeLen)
	}
	frame, err := decodeBase45(code)
	if err != nil {
		return Claims{}, err
	}
	if len(frame) < minFrameLen {
		return Claims{}, fmt.Errorf("%d bytes, shorter than any code (%d)", len(frame), minFrameLen)
	}
	if frame[0] != frameVersion {
		return Claims{}, fmt.Errorf("unknown version %#02x", frame[0])
	}
	signed, sig := frame[:len(frame)-ed25519.SignatureSize], frame[len(frame)-ed25519.SignatureSize:]
	// The signature is checked before the claims are read, so unsigned
	// bytes never reach their parser.
	if err := k.checkSignature(keyID(signed[1:1+keyIDSize]), signed, sig); err != nil {
		return Claims{}, err
	}
	return parseClaims(signed[1+keyIDSize:])
}

// checkSignature returns nil if a key with the given id signed msg, and
// otherwise why not.
func (k *Keys) checkSignature(id keyID, msg, sig []byte) error {
	known := false
	if k != nil {
		for _, pub := range k.public {
			if pub.id != id {
				continue
			}
			if ed25519.Verify(pub.key, msg, sig) {
				return nil
			}
			known = true
		}
	}
	if !known {
		return fmt.Errorf("unknown key id %x", id[:])
	}
	return errors.New("bad signature")
}

// parseClaims reads the ticket id, event id and place that follow the key id
// in a signed frame.
func parseClaims(b []byte) (Claims, error) {
	c := Claims{TicketID: hex.EncodeToString(b[:ticketIDSize])}
	rest := b[ticketIDSize:]
	var err error
	if c.EventID, rest, err = readText(rest, "event id"); err != nil {
		return Claims{}, err
	}
	if c.Place, rest, err = readText(rest, "place"); err != nil {
		return Claims{}, err
	}
	if len(rest) > 0 {
		return Claims{}, fmt.Errorf("%d trailing bytes after the place", len(rest))
	}
	// A code that the signing side would have refused is refused here too,
	// so Verify never returns claims that Sign cannot sign.
	if _, err := c.check(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// readText reads a length and that many bytes from b and returns them and the
// rest of b. The length must be minimally encoded, so every text has one
// spelling.
func readText(b []byte, name string) (string, []byte, error) {
	n, size := binary.Uvarint(b)
	switch {
	case size == 0:
		return "", nil, fmt.Errorf("%s: missing length", name)
	case size < 0:
		return "", nil, fmt.Errorf("%s: length overflows", name)
	case n > MaxTextLen:
		return "", nil, fmt.Errorf("%s: length %d is more than %d", name, n, MaxTextLen)
	case size != 1:
		// Every allowed length fits in one byte.
		return "", nil, fmt.Errorf("%s: length %d takes %d bytes, not 1", name, n, size)
	case n > uint64(len(b)-size):
		return "", nil, fmt.Errorf("%s: length %d runs past the end", name, n)
	}
	end := size + int(n)
	return string(b[size:end]), b[end:], nil
}

// check returns the error that makes c unsignable, or else the ticket id's
// bytes.
func (c Claims) check() ([]byte, error) {
	id, err := hex.DecodeString(c.TicketID)
	if err != nil || len(id) != ticketIDSize || hex.EncodeToString(id) != c.TicketID {
		return nil, fmt.Errorf("ticket id %q is not %d lower-case hex characters", c.TicketID, 2*ticketIDSize)
	}
	if c.EventID == "" {
		return nil, errors.New("empty event id")
	}
	if err := checkText(c.EventID); err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	if err := checkText(c.Place); err != nil {
		return nil, fmt.Errorf("place: %w", err)
	}
	return id, nil
}

// checkText reports whether s may be an event id or a place.
func checkText(s string) error {
	if len(s) > MaxTextLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), MaxTextLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}
