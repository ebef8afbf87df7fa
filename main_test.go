package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), nil, env(nil), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "usage: usher") {
		t.Errorf("no command: %v, %q", err, errOut.String())
	}
	if err := run(t.Context(), []string{"nonsense"}, env(nil), &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown command "nonsense"`) {
		t.Errorf("unknown command: %v", err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"version"}, env(nil), &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "usher ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}

func TestKeygenAndCheck(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), &out, &errOut); err == nil {
		t.Error("keygen overwrote an existing key")
	}

	cfg := filepath.Join("configs", "gateway.yaml")
	out.Reset()
	err := run(t.Context(), []string{"gateway", "-check", "-config", cfg}, env(map[string]string{"USHER_KEY_FILES": key}), &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "is valid: 1 room(s)") {
		t.Errorf("check of configs/gateway.yaml: %v %q", err, out.String())
	}
	err = run(t.Context(), []string{"gateway", "-check", "-config", cfg}, env(map[string]string{"USHER_KEY_FILES": filepath.Join(dir, "missing.pem")}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("a missing key file must be named: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("origin: {url: 'http://o:1'}\nrooms:\n  - id: x\n    pathz: [/]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"gateway", "-check", "-config", bad}, env(map[string]string{"USHER_KEY_FILES": key}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `line 4: rooms[0].pathz: unknown key "pathz" (did you mean "paths"?)`) {
		t.Errorf("bad config: %v", err)
	}
}

// TestDemo runs `usher demo` and goes through its waiting room as a fan
// whose browser polls: queue page first, then the event page, by itself.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan demoAddrs, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	sw := &syncWriter{w: &out}
	go func() {
		done <- runDemo(ctx, []string{"-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-crowd", "3"}, env(nil), sw, io.Discard, ready)
	}()
	var d demoAddrs
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	}
	base := "http://" + d.addr
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string, accept string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/", "text/html"); code != 200 || !strings.Contains(body, "outside every room") {
		t.Fatalf("landing page: %d", code)
	}
	// The crowd joins as the demo starts; wait until it is in line.
	deadline := time.Now().Add(20 * time.Second)
	for d.g.Controller().Room("demo").View().Joined < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get("/events/", "text/html")
	if code != 200 || !strings.Contains(body, "in line") {
		t.Fatalf("first visit: %d, want the queue page", code)
	}
	for {
		_, s := get("/_usher/status?room=demo", "application/json")
		var st struct {
			Admitted    bool  `json:"admitted"`
			PollAfterMS int64 `json:"poll_after_ms"`
		}
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			t.Fatalf("status %q: %v", s, err)
		}
		if st.Admitted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not admitted in time: %s", s)
		}
		time.Sleep(time.Duration(st.PollAfterMS) * time.Millisecond)
	}
	if code, body := get("/events/1", "text/html"); code != 200 || !strings.Contains(body, "You are in") {
		t.Fatalf("after admission: %d %.200s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !strings.Contains(out.String(), "/events/") {
		t.Errorf("the demo did not print the URL to open: %q", out.String())
	}
}

// syncWriter lets the demo print while the test reads what it printed.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestGatewayReloadsOnSIGHUP runs `usher gateway`, rewrites its file and
// sends SIGHUP: a good file adds a room, a bad one is refused and the rooms
// stay.
func TestGatewayReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	file := filepath.Join(dir, "gateway.yaml")
	write := func(rooms string) {
		t.Helper()
		cfg := "listen: " + freeAddr(t) + "\nadmin_listen: " + admin + "\norigin: {url: 'http://127.0.0.1:1'}\ntokens: {key_files: [" + key + "]}\nrooms:\n" + rooms
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	room := func(id string) string {
		return "  - {id: " + id + ", paths: ['/" + id + "/*'], rate_per_minute: 10, max_active: 10}\n"
	}
	write(room("one"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	logw := &syncWriter{w: &logs}
	go func() {
		done <- run(ctx, []string{"gateway", "-config", file}, env(map[string]string{"USHER_ADMIN_TOKEN": "tok"}), io.Discard, logw)
	}()
	rooms := func() string {
		req, _ := http.NewRequest("GET", "http://"+admin+"/api/rooms", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var rs []struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&rs)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return strings.Join(ids, ",")
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (rooms %q)", what, rooms())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("the gateway", func() bool { return rooms() == "one" })

	write(room("one") + room("two")) // listen changes too: needs a restart, the rooms do not
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil("the reload", func() bool { return rooms() == "one,two" })

	if err := os.WriteFile(file, []byte("rooms: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// A refused file changes nothing, and the log says why.
	waitUntil("the refusal", func() bool {
		logw.mu.Lock()
		defer logw.mu.Unlock()
		return strings.Contains(logs.String(), "configuration not reloaded") && strings.Contains(logs.String(), "line 1")
	})
	if got := rooms(); got != "one,two" {
		t.Errorf("after a bad file the rooms are %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("gateway: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
