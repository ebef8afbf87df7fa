package oidctest

import "net/http"

// discovery is the OpenID Provider Metadata document (OpenID Connect
// Discovery 1.0, section 3, and RFC 8414).
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	p.count(func(s *Stats) { s.DiscoveryFetches++ })
	authMethods := []string{"none"}
	if p.clientSecret != "" {
		authMethods = []string{"client_secret_basic", "client_secret_post"}
	}
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                            p.URL,
		AuthorizationEndpoint:             p.URL + "/authorize",
		TokenEndpoint:                     p.URL + "/token",
		JWKSURI:                           p.URL + "/jwks",
		UserinfoEndpoint:                  p.URL + "/userinfo",
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ScopesSupported:                   []string{"openid", "email", "profile"},
		TokenEndpointAuthMethodsSupported: authMethods,
		GrantTypesSupported:               []string{"authorization_code"},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "nonce", "at_hash", "email", "name"},
	})
}
