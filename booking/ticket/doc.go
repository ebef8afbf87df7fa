// Package ticket issues the codes that admit a ticket holder at the door and
// checks them offline.
//
// A code is a small binary frame signed with Ed25519 and written in Base45
// (RFC 9285), whose alphabet is exactly the alphanumeric mode of a QR code,
// so the printed symbol stays small:
//
//	0x01 | key id (4) | ticket id (16) | uvarint len, event id | uvarint len, place | signature (64)
//
// The signature covers every byte before it. The key id is the first four
// bytes of the SHA-256 of the signing public key, so a scanner holding the
// published keys ([Keys.PublicJSON]) knows which key to try without asking the
// server, and keys rotate: a new key signs while the old one keeps verifying
// the codes already sent out.
//
// A code has exactly one spelling: Base45 is decoded strictly, lengths must
// be minimal, nothing may follow the place, and Ed25519 signatures are
// deterministic and checked in their canonical form. Signing the same claims
// with the same key gives the same code again. Check-ins should still be
// keyed by the ticket id, which also survives a code re-signed by a new key.
//
// A valid signature proves that usher issued the code, not that the ticket
// still admits anyone: a refunded ticket keeps a valid code, and only the
// server (or a revocation list synced to the scanner) knows that it is void or
// already scanned.
package ticket
