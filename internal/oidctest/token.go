package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenParams are the token request parameters the provider reads; each may
// appear at most once (RFC 6749, section 3.2).
var tokenParams = []string{
	"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
}

// tokenResponse is a successful access token response (RFC 6749, section
// 5.1, and OpenID Connect Core, section 3.1.3.3).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IDToken     string `json:"id_token"`
	Scope       string `json:"scope,omitempty"`
}

// serveToken exchanges an authorization code for an ID token and an access
// token. A code is spent by the first request that presents it from an
// authenticated client, whether that request succeeds or not, so a wrong
// code_verifier cannot be followed by guesses; a request that fails client
// authentication leaves the code alone, because clients such as
// golang.org/x/oauth2 probe for the authentication style by trying twice.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	p.count(func(s *Stats) { s.TokenExchanges++ })
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, newOAuthError("invalid_request", "parse token request: %v", err))
		return
	}
	// Token requests carry their parameters in the body only.
	form := r.PostForm
	for _, name := range tokenParams {
		if len(form[name]) > 1 {
			p.tokenError(w, newOAuthError("invalid_request", "parameter %s repeated", name))
			return
		}
	}
	clientID, oerr := p.authenticateClient(r, form)
	if oerr != nil {
		p.tokenError(w, oerr)
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
	case "":
		p.tokenError(w, newOAuthError("invalid_request", "grant_type is required"))
		return
	default:
		p.tokenError(w, newOAuthError("unsupported_grant_type", "grant_type %q is not supported; use authorization_code", gt))
		return
	}
	if form.Get("code") == "" {
		p.tokenError(w, newOAuthError("invalid_request", "code is required"))
		return
	}
	code, oerr := p.redeem(clientID, form)
	if oerr != nil {
		p.tokenError(w, oerr)
		return
	}
	resp, err := p.issueTokens(code)
	if err != nil {
		p.tokenError(w, newOAuthError("server_error", "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// tokenError answers an error response of RFC 6749 section 5.2: 401 with a
// challenge for a client that failed authentication, 400 otherwise.
func (p *Provider) tokenError(w http.ResponseWriter, e *oauthError) {
	p.t.Logf("oidctest: token request refused: %v", e)
	status := http.StatusBadRequest
	switch e.Code {
	case "invalid_client":
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
	case "server_error":
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, e)
}

// authenticateClient returns the client that sent a token request. A public
// client names itself with client_id, in the body or as the user of HTTP
// Basic authentication; a confidential client must also prove its secret,
// with exactly one of client_secret_basic and client_secret_post.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) (string, *oauthError) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	_, hasPostSecret := form["client_secret"]
	formID := form.Get("client_id")

	var id, secret string
	switch {
	case hasBasic && hasPostSecret:
		return "", newOAuthError("invalid_request", "more than one client authentication method")
	case hasBasic:
		// RFC 6749 section 2.3.1 form-encodes both parts before base64.
		var idErr, secretErr error
		id, idErr = url.QueryUnescape(basicID)
		secret, secretErr = url.QueryUnescape(basicSecret)
		if err := errors.Join(idErr, secretErr); err != nil {
			return "", newOAuthError("invalid_client", "malformed basic credentials: %v", err)
		}
		if formID != "" && formID != id {
			return "", newOAuthError("invalid_request", "client_id %q does not match the basic credentials", formID)
		}
	default:
		id, secret = formID, form.Get("client_secret")
	}

	switch {
	case id == "":
		return "", newOAuthError("invalid_client", "client authentication required")
	case id != p.clientID:
		return "", newOAuthError("invalid_client", "unknown client %q", id)
	case p.clientSecret == "":
		return id, nil
	case secret == "":
		return "", newOAuthError("invalid_client", "client secret required")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(p.clientSecret)) != 1:
		return "", newOAuthError("invalid_client", "wrong client secret")
	}
	return id, nil
}

// redeem spends an authorization code and returns what it was issued for,
// once the request proves it comes from the same client, names the same
// redirect URI and holds the PKCE verifier.
func (p *Provider) redeem(clientID string, form url.Values) (authCode, *oauthError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	code, ok := p.codes[form.Get("code")]
	switch {
	case !ok:
		return authCode{}, newOAuthError("invalid_grant", "unknown code")
	case code.used:
		return authCode{}, newOAuthError("invalid_grant", "code already used")
	}
	code.used = true
	switch {
	case p.now().After(code.expires):
		return authCode{}, newOAuthError("invalid_grant", "code expired")
	case code.clientID != clientID:
		return authCode{}, newOAuthError("invalid_grant", "code was issued to another client")
	case form.Get("redirect_uri") != code.redirectURI:
		return authCode{}, newOAuthError("invalid_grant", "redirect_uri %q differs from the authorization request", form.Get("redirect_uri"))
	}
	if oerr := checkVerifier(form.Get("code_verifier"), code.challenge); oerr != nil {
		return authCode{}, oerr
	}
	return *code, nil
}

// checkVerifier proves the token request comes from whoever made the
// authorization request: the S256 challenge is the base64url SHA-256 of the
// verifier (RFC 7636, section 4.6).
func checkVerifier(verifier, challenge string) *oauthError {
	if verifier == "" {
		return newOAuthError("invalid_grant", "code_verifier is required")
	}
	if !validVerifier(verifier) {
		return newOAuthError("invalid_grant", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(challenge)) != 1 {
		return newOAuthError("invalid_grant", "code_verifier does not match code_challenge")
	}
	return nil
}

func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

// issueTokens signs the ID token and the access token for a redeemed code
// and remembers the access token for the userinfo endpoint.
func (p *Provider) issueTokens(code authCode) (tokenResponse, error) {
	key := p.activeKey()
	now := p.now()
	expires := now.Add(tokenLifetime)
	profile := userClaims(code.user)
	registered := map[string]any{
		"iss": p.URL,
		"aud": []string{code.clientID},
		"iat": now.Unix(),
		"exp": expires.Unix(),
	}

	access := maps.Clone(profile)
	maps.Copy(access, registered)
	access["jti"] = rand.Text()
	access["client_id"] = code.clientID
	access["scope"] = code.scope
	accessToken, err := sign(access, "at+jwt", key.kid, key.priv)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("access token: %w", err)
	}

	id := maps.Clone(profile)
	maps.Copy(id, registered)
	id["at_hash"] = accessTokenHash(accessToken)
	if code.nonce != "" {
		id["nonce"] = code.nonce
	}
	idToken, err := sign(id, "JWT", key.kid, key.priv)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("ID token: %w", err)
	}

	p.mu.Lock()
	p.accessTokens[accessToken] = accessGrant{claims: profile, expires: expires}
	p.mu.Unlock()
	return tokenResponse{
		AccessToken: accessToken,
		TokenType:   "Bearer",
		ExpiresIn:   int(tokenLifetime / time.Second),
		IDToken:     idToken,
		Scope:       code.scope,
	}, nil
}

// userClaims are the claims about u that the tokens and userinfo share.
func userClaims(u User) map[string]any {
	claims := maps.Clone(u.Claims)
	if claims == nil {
		claims = make(map[string]any)
	}
	claims["sub"] = u.Subject
	if u.Email != "" {
		claims["email"] = u.Email
	}
	if u.Name != "" {
		claims["name"] = u.Name
	}
	return claims
}

// accessTokenHash is the at_hash claim for an RS256 ID token: the base64url
// of the left half of the SHA-256 of the access token (OpenID Connect Core,
// section 3.1.3.6).
func accessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:len(sum)/2])
}

// serveUserinfo answers the claims of the user an access token was issued
// for. Only access tokens from the token endpoint are accepted, until they
// expire: an ID token or a minted token is not an access token of this
// provider.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	p.count(func(s *Stats) { s.UserinfoRequests++ })
	token, ok := bearerToken(r)
	if !ok {
		// RFC 6750 section 3.1: the challenge names no error when no token
		// was sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="oidctest"`)
		writeJSON(w, http.StatusUnauthorized, newOAuthError("invalid_request", "bearer access token required"))
		return
	}
	p.mu.Lock()
	grant, found := p.accessTokens[token]
	now := p.now()
	p.mu.Unlock()
	var oerr *oauthError
	switch {
	case !found:
		oerr = newOAuthError("invalid_token", "unknown access token")
	case now.After(grant.expires):
		oerr = newOAuthError("invalid_token", "access token expired")
	}
	if oerr != nil {
		p.t.Logf("oidctest: userinfo refused: %v", oerr)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="oidctest", error=%q, error_description=%q`, oerr.Code, oerr.Description))
		writeJSON(w, http.StatusUnauthorized, oerr)
		return
	}
	writeJSON(w, http.StatusOK, grant.claims)
}

// bearerToken returns the token of an "Authorization: Bearer" header; the
// scheme is case-insensitive (RFC 9110, section 11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
