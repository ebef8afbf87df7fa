package admissionlog_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admissionlog"
)

var t0 = time.Date(2030, 6, 1, 9, 0, 0, 0, time.UTC)

func rec(from, to int64, at time.Duration) admissionlog.Record {
	return admissionlog.Record{From: from, To: to, At: t0.Add(at), PolicyVersion: 2, RatePerMinute: 60, MaxActive: 100}
}

func TestLineRoundTrip(t *testing.T) {
	r := admissionlog.Record{From: 11, To: 20, At: t0.Add(1500 * time.Millisecond), PolicyVersion: 3, RatePerMinute: 1.5, MaxActive: 7}
	if got, want := r.Line(), "11 20 1906534801500 3 1.5 7"; got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
	back, err := admissionlog.Parse(r.Line())
	if err != nil || back.Line() != r.Line() || !back.At.Equal(r.At) {
		t.Fatalf("parse: %+v, %v", back, err)
	}
	for _, bad := range []string{"", "1 2 3", "0 2 3 4 5 6", "5 4 3 4 5 6", "1 2 x 4 5 6", "01 2 3 4 5 6", "1 2 3 4 -5 6"} {
		if _, err := admissionlog.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
}

func TestBuild(t *testing.T) {
	records := admissionlog.Sort([]admissionlog.Record{rec(3, 5, 2*time.Second), rec(1, 2, time.Second), rec(1, 2, time.Second), rec(6, 6, 3*time.Second)})
	c := admissionlog.Build("sale", records, t0.Add(time.Hour))
	if len(c.Records) != 3 || c.Through != 6 || c.Gaps != 0 {
		t.Fatalf("chain %+v", c)
	}
	heads := admissionlog.Replay("sale", c.Records)
	if heads[len(heads)-1] != c.Head {
		t.Error("replaying the records does not give the head")
	}
	if admissionlog.Build("other", records, t0.Add(time.Hour)).Head == c.Head {
		t.Error("two rooms' logs share a head")
	}
	// Any change to a record changes the head.
	changed := append([]admissionlog.Record(nil), records...)
	changed[1].RatePerMinute = 600
	if admissionlog.Build("sale", changed, t0.Add(time.Hour)).Head == c.Head {
		t.Error("a changed rate kept the head")
	}

	// A gap: places 7 to 9 have no record. A young gap ends the chain, in
	// case its record is on its way; an old one stays, counted.
	gapped := append(append([]admissionlog.Record(nil), records...), rec(10, 12, 10*time.Second))
	young := admissionlog.Build("sale", gapped, t0.Add(5*time.Second))
	if young.Through != 6 || young.Head != c.Head {
		t.Errorf("a young gap: through %d", young.Through)
	}
	old := admissionlog.Build("sale", gapped, t0.Add(time.Minute))
	if old.Through != 12 || old.Gaps != 3 || len(old.Records) != 4 {
		t.Errorf("an old gap: %+v", old)
	}
}

func TestPublishedLog(t *testing.T) {
	records := []admissionlog.Record{rec(1, 2, time.Second), rec(3, 5, 2*time.Second)}
	var buf bytes.Buffer
	if err := admissionlog.Write(&buf, records); err != nil {
		t.Fatal(err)
	}
	back, err := admissionlog.Read(&buf)
	if err != nil || len(back) != 2 || back[1].Line() != records[1].Line() {
		t.Fatalf("read back %v, %v", back, err)
	}
	if _, err := admissionlog.Read(strings.NewReader("1 2 3 4 5 6\nnonsense\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad line: %v", err)
	}
}
