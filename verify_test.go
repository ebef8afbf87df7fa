package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usherhq/usher/lottery"
)

// publishedDraw is what a room publishes after drawing n entrants, with
// arrival 4 unrecorded and two arrivals after the draw.
func publishedDraw(t *testing.T, n int) (draw []byte, list []byte, order lottery.Order) {
	t.Helper()
	seed := lottery.NewSeed()
	var es []lottery.Entrant
	for i := 1; i <= n; i++ {
		if i != 4 {
			es = append(es, lottery.Entrant{Seq: int64(i), ID: fmt.Sprintf("ticket%02d", i)})
		}
	}
	order = lottery.Draw(seed, int64(n), es)
	var buf bytes.Buffer
	if err := lottery.Write(&buf, order.List); err != nil {
		t.Fatal(err)
	}
	draw, err := json.Marshal(drawJSON{Room: "demo", Commitment: lottery.Commit(seed), Drawn: true, Seed: hex.EncodeToString(seed),
		LastSeq: int64(n), Entrants: order.Entrants, Digest: hex.EncodeToString(order.Digest[:]), EntrantsURL: "/_usher/lottery/entrants?room=demo"})
	if err != nil {
		t.Fatal(err)
	}
	return draw, buf.Bytes(), order
}

func verify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"verify-lottery"}, args...), os.Getenv, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestVerifyLottery(t *testing.T) {
	draw, list, order := publishedDraw(t, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_usher/lottery", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(draw) })
	mux.HandleFunc("GET /_usher/lottery/entrants", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(list) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	out, err := verify(t, "-url", srv.URL, "-room", "demo", "-entry", "7", "-all")
	if err != nil {
		t.Fatalf("verify an honest draw: %v\n%s", err, out)
	}
	for _, want := range []string{
		"the seed matches the commitment",
		"9 entrants, arrivals 1 to 10; the list matches the digest",
		fmt.Sprintf("entry 7: place %d of 10\n", order.Place(7)),
		fmt.Sprintf("\n%d 7 ticket07\n", order.Place(7)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out, _ := verify(t, "-url", srv.URL, "-room", "demo", "-entry", "4"); !strings.Contains(out, "entry 4 is not in the list: place 10, after the 9 entrants") {
		t.Errorf("an arrival without an entry:\n%s", out)
	}
	if out, _ := verify(t, "-url", srv.URL, "-room", "demo", "-entry", "12"); !strings.Contains(out, "entry 12 came after the draw: place 12") {
		t.Errorf("an arrival after the draw:\n%s", out)
	}

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	drawFile, listFile := write("draw.json", draw), write("entrants.txt", list)
	if out, err := verify(t, "-draw", drawFile, "-entrants", listFile); err != nil {
		t.Errorf("verify from files: %v\n%s", err, out)
	}
	// A list with an entrant dropped, a seed that is not the committed
	// one, a commitment that changed since the fan saw it.
	dropped := write("dropped.txt", bytes.Replace(list, []byte("2 ticket02\n"), nil, 1))
	if _, err := verify(t, "-draw", drawFile, "-entrants", dropped); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a list missing an entrant: %v", err)
	}
	var d drawJSON
	_ = json.Unmarshal(draw, &d)
	d.Seed = hex.EncodeToString(lottery.NewSeed())
	other, _ := json.Marshal(d)
	if _, err := verify(t, "-draw", write("other.json", other), "-entrants", listFile); err == nil || !strings.Contains(err.Error(), "commitment") {
		t.Errorf("a seed not committed to: %v", err)
	}
	if _, err := verify(t, "-draw", drawFile, "-entrants", listFile, "-commitment", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "as you saw") {
		t.Errorf("a commitment that changed: %v", err)
	}
	if _, err := verify(t, "-draw", drawFile); err == nil {
		t.Error("no list: no error")
	}
}
