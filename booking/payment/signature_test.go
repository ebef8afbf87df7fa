package payment

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

var (
	sigNow    = time.Unix(1767225600, 0)
	sigSecret = []byte("whsec_current")
	sigOld    = []byte("whsec_previous")
	sigBody   = []byte(`{"id":"evt_1","type":"payment.succeeded"}`)
)

// v1 is a signature value of sigBody at t under secret.
func v1(secret []byte, t time.Time) string {
	h := Sign(secret, t, sigBody)
	return h[len("t=")+len(strconv.FormatInt(t.Unix(), 10))+len(",v1="):]
}

func TestSign(t *testing.T) {
	got := Sign([]byte("secret"), time.Unix(1700000000, 0), []byte("{}"))
	// HMAC-SHA256("secret", "1700000000.{}"), computed with openssl.
	want := "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	ts := strconv.FormatInt(sigNow.Unix(), 10)
	good := Sign(sigSecret, sigNow, sigBody)
	tests := []struct {
		name      string
		secrets   [][]byte
		header    string
		body      []byte
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{"good", [][]byte{sigSecret}, good, sigBody, 0, nil},
		{"tampered body", [][]byte{sigSecret}, good, append(slices.Clone(sigBody), ' '), 0, ErrSignatureMismatch},
		{"wrong secret", [][]byte{sigOld}, good, sigBody, 0, ErrSignatureMismatch},
		{"second secret in the list", [][]byte{sigOld, sigSecret}, good, sigBody, 0, nil},
		{"several v1, the second matches", [][]byte{sigSecret}, "t=" + ts + ",v1=" + v1(sigOld, sigNow) + ",v1=" + v1(sigSecret, sigNow), sigBody, 0, nil},
		{"several v1, none matches", [][]byte{sigSecret}, "t=" + ts + ",v1=" + v1(sigOld, sigNow) + ",v1=" + v1([]byte("x"), sigNow), sigBody, 0, ErrSignatureMismatch},
		{"v1 for another time", [][]byte{sigSecret}, "t=" + ts + ",v1=" + v1(sigSecret, sigNow.Add(-time.Second)), sigBody, 0, ErrSignatureMismatch},
		{"other schemes ignored", [][]byte{sigSecret}, "t=" + ts + ",v0=abc,v1=" + v1(sigSecret, sigNow) + ",x=y", sigBody, 0, nil},
		{"spaces after commas", [][]byte{sigSecret}, "t=" + ts + ", v1=" + v1(sigSecret, sigNow), sigBody, 0, nil},
		{"4 minutes old", [][]byte{sigSecret}, Sign(sigSecret, sigNow.Add(-4*time.Minute), sigBody), sigBody, 0, nil},
		{"5 minutes old", [][]byte{sigSecret}, Sign(sigSecret, sigNow.Add(-5*time.Minute), sigBody), sigBody, 0, nil},
		{"6 minutes old", [][]byte{sigSecret}, Sign(sigSecret, sigNow.Add(-6*time.Minute), sigBody), sigBody, 0, ErrSignatureTimestamp},
		{"6 minutes in the future", [][]byte{sigSecret}, Sign(sigSecret, sigNow.Add(6*time.Minute), sigBody), sigBody, 0, ErrSignatureTimestamp},
		{"6 minutes old, 10 minutes tolerance", [][]byte{sigSecret}, Sign(sigSecret, sigNow.Add(-6*time.Minute), sigBody), sigBody, 10 * time.Minute, nil},
		{"year 1970", [][]byte{sigSecret}, Sign(sigSecret, time.Unix(0, 0), sigBody), sigBody, 0, ErrSignatureTimestamp},
		{"no secrets", nil, good, sigBody, 0, ErrSignatureMismatch},
		{"empty secret", [][]byte{{}}, Sign(nil, sigNow, sigBody), sigBody, 0, ErrSignatureMismatch},
		{"empty header", [][]byte{sigSecret}, "", sigBody, 0, ErrMalformedSignature},
		{"not key=value", [][]byte{sigSecret}, "garbage", sigBody, 0, ErrMalformedSignature},
		{"no t", [][]byte{sigSecret}, "v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"no v1", [][]byte{sigSecret}, "t=" + ts, sigBody, 0, ErrMalformedSignature},
		{"only v0", [][]byte{sigSecret}, "t=" + ts + ",v0=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"two t", [][]byte{sigSecret}, "t=" + ts + ",t=" + ts + ",v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"t not a number", [][]byte{sigSecret}, "t=now,v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"t signed", [][]byte{sigSecret}, "t=+" + ts + ",v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"t negative", [][]byte{sigSecret}, "t=-1,v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"t too long", [][]byte{sigSecret}, "t=99999999999999999999,v1=" + v1(sigSecret, sigNow), sigBody, 0, ErrMalformedSignature},
		{"v1 not hex", [][]byte{sigSecret}, "t=" + ts + ",v1=zz" + v1(sigSecret, sigNow)[2:], sigBody, 0, ErrMalformedSignature},
		{"v1 too short", [][]byte{sigSecret}, "t=" + ts + ",v1=" + v1(sigSecret, sigNow)[:62], sigBody, 0, ErrMalformedSignature},
		{"v1 empty", [][]byte{sigSecret}, "t=" + ts + ",v1=", sigBody, 0, ErrMalformedSignature},
		{"trailing comma", [][]byte{sigSecret}, good + ",", sigBody, 0, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secrets, tt.header, tt.body, sigNow, tt.tolerance)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzVerify checks that Verify never panics, classifies every rejection,
// and never accepts a header without the secret: whatever it accepts under
// one secret it rejects under another, and for another body.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(sigNow.Unix(), 10)
	f.Add(Sign(sigSecret, sigNow, sigBody), sigBody)
	f.Add("t="+ts+",v1="+v1(sigOld, sigNow)+",v1="+v1(sigSecret, sigNow), sigBody)
	f.Add("t="+ts+",v0=x, v1="+v1(sigSecret, sigNow), sigBody)
	f.Add(Sign(nil, sigNow, sigBody), sigBody)
	f.Add("t=,v1=", []byte{})
	f.Add("t=1,t=2", []byte("x"))
	f.Add("===,,,", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		for _, secrets := range [][][]byte{nil, {nil}, {{}}} {
			if Verify(secrets, header, body, sigNow, time.Hour) == nil {
				t.Fatalf("accepted %q without a secret", header)
			}
		}
		err := Verify([][]byte{sigSecret}, header, body, sigNow, DefaultTolerance)
		if err == nil {
			if Verify([][]byte{[]byte("another secret")}, header, body, sigNow, DefaultTolerance) == nil {
				t.Fatalf("accepted %q under two secrets", header)
			}
			if Verify([][]byte{sigSecret}, header, append(slices.Clone(body), 'x'), sigNow, DefaultTolerance) == nil {
				t.Fatalf("accepted %q for two bodies", header)
			}
			return
		}
		if !errors.Is(err, ErrMalformedSignature) && !errors.Is(err, ErrSignatureMismatch) && !errors.Is(err, ErrSignatureTimestamp) {
			t.Fatalf("Verify(%q) = %v: not one of the documented errors", header, err)
		}
	})
}
