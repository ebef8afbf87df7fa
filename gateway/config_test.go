package gateway

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

// TestConfigFiles walks testdata: every good file loads; every bad file is
// refused with exactly the problems its "# want:" lines list, in order.
func TestConfigFiles(t *testing.T) {
	good, _ := filepath.Glob("testdata/good/*.yaml")
	for _, path := range good {
		t.Run(path, func(t *testing.T) {
			if _, err := LoadConfig(path, noEnv); err != nil {
				t.Errorf("LoadConfig: %v", err)
			}
		})
	}
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, path := range bad {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				}
			}
			_, err = LoadConfig(path, noEnv)
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(strings.TrimSpace(err.Error()), "\n")[1:] // after "config FILE:"
			if len(lines) != len(want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), err)
			}
			for i := range want {
				if !strings.HasPrefix(lines[i], want[i]) {
					t.Errorf("problem %d:\n got  %s\n want %s…", i+1, lines[i], want[i])
				}
			}
		})
	}
}

func TestConfigEnvironment(t *testing.T) {
	src := []byte("origin: {url: 'http://o:80'}\nredis: {url: 'redis://file:6379'}\ntokens: {key_files: [file.pem]}\n")
	env := map[string]string{"USHER_REDIS_URL": "redis://env:6379/1", "USHER_KEY_FILES": "a.pem, b.pem", "USHER_ADMIN_TOKEN": "tok"}
	cfg, err := ParseConfig(src, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.URL != "redis://env:6379/1" || !reflect.DeepEqual(cfg.Tokens.KeyFiles, []string{"a.pem", "b.pem"}) || cfg.Admin.envToken != "tok" {
		t.Errorf("environment not applied: %+v %+v %q", cfg.Redis, cfg.Tokens.KeyFiles, cfg.Admin.envToken)
	}
	env["USHER_REDIS_URL"] = "http://wrong"
	_, err = ParseConfig(src, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "USHER_REDIS_URL: must be redis://") || strings.Contains(err.Error(), "line") {
		t.Errorf("a bad USHER_REDIS_URL must be named as such, without a line: %v", err)
	}
}

// TestShippedConfigs: the files in configs/ load as they are, and
// gateway.yaml documents every key there is.
func TestShippedConfigs(t *testing.T) {
	for _, name := range []string{"gateway.yaml", "demo.yaml"} {
		if _, err := LoadConfig(filepath.Join("..", "configs", name), noEnv); err != nil {
			t.Errorf("configs/%s: %v", name, err)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "configs", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range yamlKeys(reflect.TypeFor[Config]()) {
		if !strings.Contains(string(doc), key+":") {
			t.Errorf("configs/gateway.yaml does not document %q", key)
		}
	}
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			keys = append(keys, yamlKeys(ft)...)
		}
	}
	return keys
}
