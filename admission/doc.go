// Package admission decides who may enter a protected room and proves it
// with signed tokens.
//
// A ticket proves a visitor's place in a room's queue; a pass proves that the
// visitor was admitted. Both are JWTs signed with Ed25519 (alg EdDSA) and name
// their key by its RFC 7638 thumbprint (kid), so every instance that loads the
// same key file signs and verifies alike without further configuration. One
// key signs; older keys keep verifying until they are removed, which is how
// keys rotate without logging anyone out.
//
// Tokens verifies every token once and then answers from a bounded cache: an
// admitted request costs a map lookup and a few comparisons, no signature
// check and no allocation. Every rejection is [ErrInvalidToken], whatever the
// reason, because the gateway treats a rejected token as no token at all.
//
// Origins behind the gateway verify passes themselves with [RequirePass] and
// [RemoteKeys], which reads the gateway's /_usher/jwks.json, so a request that
// bypasses the gateway gets nothing.
package admission
