package adminauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/usherhq/usher/config"
)

// TokenConfig is an API token in a configuration file: its SHA-256, never
// the token itself.
type TokenConfig struct {
	// Name says whose token it is, in logs and the audit trail. Required.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the token (`printf %s TOKEN | sha256sum`).
	// Required.
	SHA256 string `yaml:"sha256"`
	// Role is operator (may change things) or viewer (may only read).
	// Default viewer.
	Role string `yaml:"role"`
}

// SetDefaults gives a token from a file its defaults.
func (t *TokenConfig) SetDefaults() { *t = TokenConfig{Role: string(Viewer)} }

// ProviderConfig is an OpenID Connect provider in a configuration file.
type ProviderConfig struct {
	// Issuer is the provider's issuer URL. Required.
	Issuer string `yaml:"issuer"`
	// ClientID is usher's client at the provider. Required.
	ClientID string `yaml:"client_id"`
	// RedirectURL is where the provider sends operators back after a login
	// (the admin listener's /auth/callback). Required where logins happen.
	RedirectURL string `yaml:"redirect_url"`
	// Audience is the aud bearer JWTs must carry. Default: ClientID.
	Audience string `yaml:"audience"`
	// RolesClaim is the claim with the user's roles, or a dotted path into
	// nested claims (realm_access.roles). Default "roles".
	RolesClaim string `yaml:"roles_claim"`
	// OperatorRole and ViewerRole are the role values that grant usher's
	// roles. Default usher-operator and usher-viewer.
	OperatorRole string `yaml:"operator_role"`
	ViewerRole   string `yaml:"viewer_role"`
	// Scopes asked for at login besides openid. Default [profile, email].
	Scopes []string `yaml:"scopes"`
}

// SetDefaults gives a provider from a file its defaults.
func (p *ProviderConfig) SetDefaults() {
	*p = ProviderConfig{RolesClaim: "roles", OperatorRole: "usher-operator", ViewerRole: "usher-viewer", Scopes: []string{"profile", "email"}}
}

// ValidateTokens adds a problem for every bad token under key.
func ValidateTokens(key string, tokens []TokenConfig, ps *config.Problems) {
	names := map[string]bool{}
	for i, t := range tokens {
		k := fmt.Sprintf("%s[%d]", key, i)
		if t.Name == "" {
			ps.Add(k+".name", "is required: it names the token's holder in logs and the audit trail")
		} else if names[t.Name] {
			ps.Add(k+".name", "%q names two tokens", t.Name)
		}
		names[t.Name] = true
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			ps.Add(k+".sha256", "must be 64 hex digits: the SHA-256 of the token (printf %%s TOKEN | sha256sum)")
		}
		if t.Role != string(Operator) && t.Role != string(Viewer) {
			ps.Add(k+".role", "must be operator or viewer, not %q", t.Role)
		}
	}
}

// Validate adds a problem for everything wrong with the provider under key.
// needRedirect is set where operators log in through it.
func (p *ProviderConfig) Validate(key string, needRedirect bool, ps *config.Problems) {
	urls := []struct{ key, url string }{{key + ".issuer", p.Issuer}}
	if needRedirect {
		urls = append(urls, struct{ key, url string }{key + ".redirect_url", p.RedirectURL})
	}
	for _, f := range urls {
		if u, err := url.Parse(f.url); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ps.Add(f.key, "must be an http(s) URL, not %q", f.url)
		}
	}
	if p.ClientID == "" {
		ps.Add(key+".client_id", "is required")
	}
	if p.RolesClaim == "" || p.OperatorRole == "" || p.ViewerRole == "" {
		ps.Add(key, "roles_claim, operator_role and viewer_role must not be empty")
	}
}

// Tokens turns validated token configurations into tokens, adding env, when
// set, as an operator token named by envName.
func Tokens(tokens []TokenConfig, envName, env string) []Token {
	out := make([]Token, 0, len(tokens)+1)
	for _, t := range tokens {
		var sum [32]byte
		b, _ := hex.DecodeString(t.SHA256)
		copy(sum[:], b)
		out = append(out, Token{Name: t.Name, SHA256: sum, Role: Role(t.Role)})
	}
	if env != "" {
		out = append(out, Token{Name: envName, SHA256: sha256.Sum256([]byte(env)), Role: Operator})
	}
	return out
}

// OIDC turns a validated provider configuration into the provider, with its
// client secret (from the environment); nil when p is nil.
func (p *ProviderConfig) OIDC(secret string) *OIDC {
	if p == nil {
		return nil
	}
	return &OIDC{
		Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: secret, RedirectURL: p.RedirectURL,
		Audience: p.Audience, RolesClaim: p.RolesClaim, OperatorRole: p.OperatorRole, ViewerRole: p.ViewerRole, Scopes: p.Scopes,
	}
}
