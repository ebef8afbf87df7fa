package sqlstore

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"question marks stay", false, "a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)"},
		{"numbered in order", true, "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"past nine", true, "(" + params(11) + ")", "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
		{"no placeholders", true, "SELECT 1", "SELECT 1"},
		{"text around them is kept", true, "SELECT 'é', ?", "SELECT 'é', $1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := conn{d: &Dialect{NumberedParams: tc.numbered}}
			if got := c.rebind(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDiscount(t *testing.T) {
	tests := []struct {
		name         string
		subtotal     int64
		percent      int
		amount, want int64
	}{
		{"percent rounds down", 9999, 15, 0, 1499},
		{"whole percent", 10000, 100, 0, 10000},
		{"amount", 10000, 0, 2550, 2550},
		{"amount above the subtotal", 1000, 0, 5000, 1000},
		{"nothing to take off", 0, 50, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := discount(tc.subtotal, tc.percent, tc.amount); got != tc.want {
				t.Errorf("discount(%d, %d%%, %d) = %d, want %d", tc.subtotal, tc.percent, tc.amount, got, tc.want)
			}
		})
	}
}

func TestMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    []int
		wantErr bool
	}{
		{"in number order", []string{"0010_c.sql", "0002_b.sql", "0001_a.sql"}, []int{1, 2, 10}, false},
		{"other files ignored", []string{"0001_a.sql", "README.md"}, []int{1}, false},
		{"no number", []string{"init.sql"}, nil, true},
		{"zero", []string{"0000_init.sql"}, nil, true},
		{"one number twice", []string{"0001_a.sql", "1_b.sql"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			ms, err := migrations(fsys)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestTimeCol(t *testing.T) {
	at := time.Date(2030, 6, 1, 18, 0, 0, 123456000, time.UTC)
	local := at.In(time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name string
		src  any
		want time.Time
	}{
		{"NULL is zero", nil, time.Time{}},
		{"unix microseconds", at.UnixMicro(), at},
		{"timestamp in another zone", local, at},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := time.Now()
			if err := tm(&got).Scan(tc.src); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	var got time.Time
	if err := tm(&got).Scan("yesterday"); err == nil {
		t.Error("scanned a time from text")
	}
}

func TestTimeArgs(t *testing.T) {
	c := conn{d: &Dialect{Time: func(t time.Time) any { return t.UnixMicro() }}}
	at := time.Date(2030, 6, 1, 18, 0, 0, 999, time.UTC) // below a microsecond
	got := c.args([]any{"x", at, time.Time{}, 3})
	want := []any{"x", at.UnixMicro(), nil, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("arg %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
