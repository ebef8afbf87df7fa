package server

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var secrets = map[string]string{"USHER_WEBHOOK_SECRET": "0123456789abcdef-secret"}

// TestShippedConfig: configs/booking.yaml loads as it is, and documents
// every key there is.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "booking.yaml")
	cfg, err := LoadConfig(path, env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Holds.TTL.String() != "10m0s" || cfg.Payments.Provider != "simulated" {
		t.Errorf("defaults: %+v", cfg)
	}
	doc, _ := os.ReadFile(path)
	var keys func(reflect.Type)
	keys = func(ty reflect.Type) {
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(string(doc), name+":") {
				t.Errorf("configs/booking.yaml does not document %q", name)
			}
			if ft := f.Type; ft.Kind() == reflect.Struct && ft.PkgPath() == ty.PkgPath() {
				keys(ft)
			}
		}
	}
	keys(reflect.TypeFor[Config]())
}

func TestConfigProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "b.yaml")
	src := "listen: nowhere\ndatabase: {url: 'mysql://x'}\nholds: {ttl: 30s}\npayments: {provider: stripe, checkout_path: /api/pay}\nmail: {from: nobody}\ntickets: {key_files: []}\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(file, env(nil))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"line 1: listen: must be host:port",
		"line 2: database.url: must be sqlite:PATH or postgres://",
		"line 3: holds.ttl: must be between 1m and 1h",
		"line 4: payments.provider: must be simulated",
		"line 4: payments.checkout_path: must start with /",
		"line 5: mail.from: must be an e-mail address",
		"tickets.key_files: is required",
		"passes: needs jwks_url",
		"USHER_WEBHOOK_SECRET: is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	// The environment's overrides are reported under their own names.
	_, err = LoadConfig(filepath.Join("..", "..", "configs", "booking.yaml"), env(map[string]string{"USHER_WEBHOOK_SECRET": "0123456789abcdef-secret", "USHER_DATABASE_URL": "oracle://x"}))
	if err == nil || !strings.Contains(err.Error(), "USHER_DATABASE_URL: must be sqlite:PATH") {
		t.Errorf("a bad USHER_DATABASE_URL: %v", err)
	}
}
