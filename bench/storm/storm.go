package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usherhq/usher/bench/storm/report"
)

// storm is one run.
type storm struct {
	cfg    config
	env    *env
	start  time.Time
	events []string
	ledger ledger
	admin  *http.Client
	stderr io.Writer

	// Progress, for the bar.
	arrived, admittedFans, ticketsFans atomic.Int64
	maxActiveSeen                      atomic.Int64
}

func newStorm(cfg config, stderr io.Writer) (*storm, error) {
	target, err := url.Parse(cfg.target)
	if err != nil {
		return nil, fmt.Errorf("%w: -target: %v", errUsage, err)
	}
	return &storm{
		cfg: cfg, stderr: stderr,
		env: &env{
			target: target, room: cfg.room,
			slots: make(chan struct{}, cfg.conns), timeout: cfg.timeout,
		},
		admin: &http.Client{Timeout: 10 * time.Second},
	}, nil
}

// play runs the storm to its deadline, lets orders settle, and returns
// the results with the invariants judged.
func (st *storm) play(ctx context.Context) (*report.Results, error) {
	res := &report.Results{
		Target: st.cfg.target, Settings: st.cfg.settings, Machine: machine(),
		Fans: st.cfg.fans, Bots: st.cfg.bots,
	}
	maxActive, err := st.setUpRoom(ctx)
	if err != nil {
		return nil, err
	}
	res.MaxActive = maxActive
	if st.events = st.cfg.events; len(st.events) == 0 {
		if st.events, err = st.onSale(ctx); err != nil {
			return nil, err
		}
	}

	st.start = time.Now()
	st.env.rec = newRecorder(st.start)
	res.Started = st.start
	runCtx, cancel := context.WithDeadline(ctx, st.start.Add(st.cfg.duration))
	defer cancel()

	var side sync.WaitGroup
	sideCtx, stopSide := context.WithCancel(runCtx)
	side.Go(func() { st.sample(sideCtx) })
	side.Go(func() { st.progress(sideCtx) })

	fanAt := arrivals(st.cfg.fans, st.cfg.burst, st.cfg.tail, st.cfg.burstShare, rand.New(rand.NewPCG(st.cfg.seed, 1)))
	botAt := arrivals(st.cfg.bots, st.cfg.burst, st.cfg.tail, st.cfg.burstShare, rand.New(rand.NewPCG(st.cfg.seed, 2)))
	var kinds []string
	if st.cfg.bots > 0 {
		kinds = assignBots(st.cfg.bots, st.cfg.botMix, rand.New(rand.NewPCG(st.cfg.seed, 3)))
	}
	fans := make([]fanResult, st.cfg.fans)
	bots := make([]botResult, st.cfg.bots)
	// Each client starts at its arrival, not before: clients not yet
	// arrived cost nothing.
	type arrival struct {
		at   time.Duration
		play func()
	}
	var due []arrival
	for i, at := range fanAt {
		due = append(due, arrival{at, func() {
			fans[i] = st.fan(runCtx, i, at, rand.New(rand.NewPCG(st.cfg.seed, 1<<32+uint64(i))))
		}})
	}
	for i, at := range botAt {
		due = append(due, arrival{at, func() {
			bots[i] = st.bot(runCtx, i, kinds[i], at, rand.New(rand.NewPCG(st.cfg.seed, 2<<32+uint64(i))))
		}})
	}
	slices.SortStableFunc(due, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	var clients sync.WaitGroup
	for _, a := range due {
		if !sleep(runCtx, time.Until(st.start.Add(a.at))) {
			break
		}
		clients.Go(a.play)
	}
	clients.Wait()
	stopSide()
	side.Wait()
	res.Duration = time.Since(st.start)
	if isTerminal(st.stderr) {
		fmt.Fprintln(st.stderr)
	}

	settleCtx, cancelSettle := context.WithTimeout(ctx, st.cfg.settle+st.cfg.timeout)
	defer cancelSettle()
	st.settleOrders(settleCtx)
	st.env.rec.fill(res)
	tally(res, fans, bots)
	res.MaxActiveSeen = int(st.maxActiveSeen.Load())
	if err := st.judge(settleCtx, res); err != nil {
		return nil, err
	}
	return res, nil
}

// tally counts the fans' and bots' outcomes, and the admissions in line
// order and in admission order.
func tally(res *report.Results, fans []fanResult, bots []botResult) {
	var adm []fanResult
	for _, f := range fans {
		if f.admitted {
			res.FansAdmitted++
			adm = append(adm, f)
		}
		if f.abandoned {
			res.FansAbandoned++
		}
		if f.tickets > 0 {
			res.FansWithTickets++
		}
		if f.challenges > 0 {
			res.FansChallenged++
		}
		if f.challenges > 1 {
			res.FansChallengedMoreThanOnce++
		}
		if f.blocked {
			res.FansBlocked++
		}
	}
	fanTickets := 0
	for _, f := range fans {
		fanTickets += f.tickets
	}
	for _, b := range bots {
		res.BotsAdmitted += b.admitted
		res.BotTickets += b.tickets
		if res.BotKinds == nil {
			res.BotKinds = map[string]report.BotKind{}
		}
		k := res.BotKinds[b.kind]
		k.Bots++
		k.Admitted += b.admitted
		k.Tickets += b.tickets
		res.BotKinds[b.kind] = k
	}
	if n := res.FansAdmitted + res.BotsAdmitted; n > 0 {
		res.BotAdmissionShare = float64(res.BotsAdmitted) / float64(n)
	}
	if n := fanTickets + res.BotTickets; n > 0 {
		res.BotTicketShare = float64(res.BotTickets) / float64(n)
	}

	// Arrival order is the order places were given; admission order the
	// order fans learnt they were in. Ties keep the fans' index order.
	idx := make([]int, len(adm))
	for i := range idx {
		idx[i] = i
	}
	res.Admissions = make([]report.Admission, len(adm))
	slices.SortStableFunc(idx, func(a, b int) int { return adm[a].joinedAt.Compare(adm[b].joinedAt) })
	for r, i := range idx {
		res.Admissions[i].ArrivalRank = r + 1
		res.Admissions[i].Wait = max(adm[i].admittedAt.Sub(adm[i].joinedAt), 0)
	}
	slices.SortStableFunc(idx, func(a, b int) int { return adm[a].admittedAt.Compare(adm[b].admittedAt) })
	for r, i := range idx {
		res.Admissions[i].AdmissionRank = r + 1
	}
	slices.SortFunc(res.Admissions, func(a, b report.Admission) int { return a.ArrivalRank - b.ArrivalRank })
	res.KendallTau = report.KendallTau(res.Admissions)
}

// adminCall sends a request to an admin API with the bearer token and
// decodes a JSON answer into out (when not nil).
func (st *storm) adminCall(ctx context.Context, method, base, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+st.cfg.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := st.admin.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// setUpRoom raises the room's rate and capacity for the storm, at once
// (no ramp), and returns the max_active in force.
func (st *storm) setUpRoom(ctx context.Context) (int, error) {
	if st.cfg.admin == "" {
		return st.cfg.maxActive, nil
	}
	var room struct {
		MaxActive int `json:"max_active"`
	}
	path := "/api/rooms/" + url.PathEscape(st.cfg.room)
	patch := map[string]any{}
	if st.cfg.rate > 0 {
		patch["rate_per_minute"], patch["rate_ramp"] = st.cfg.rate, "0s"
	}
	if st.cfg.maxActive > 0 {
		patch["max_active"] = st.cfg.maxActive
	}
	var err error
	if len(patch) > 0 {
		err = st.adminCall(ctx, "PATCH", st.cfg.admin, path, patch, &room)
	} else {
		err = st.adminCall(ctx, "GET", st.cfg.admin, path, nil, &room)
	}
	if err != nil {
		return 0, fmt.Errorf("set up room %q: %w", st.cfg.room, err)
	}
	return room.MaxActive, nil
}

// onSale is the catalogue's events whose sale has opened.
func (st *storm) onSale(ctx context.Context) ([]string, error) {
	var list []struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		Room       string     `json:"room"`
		OnSaleFrom *time.Time `json:"on_sale_from"`
	}
	c := &http.Client{Timeout: st.cfg.timeout}
	req, err := http.NewRequestWithContext(ctx, "GET", st.env.target.JoinPath("/api/events").String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptJSON)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("read the catalogue: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&list); err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	var out []string
	for _, e := range list {
		if e.Status == "onsale" && e.Room == st.cfg.room && (e.OnSaleFrom == nil || !e.OnSaleFrom.After(time.Now())) {
			out = append(out, e.ID)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the catalogue has no event on sale in room %q", st.cfg.room)
	}
	return out, nil
}

// sample reads the room's stats every second into the series, and keeps
// the most passes seen live.
func (st *storm) sample(ctx context.Context) {
	if st.cfg.admin == "" {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	path := "/api/rooms/" + url.PathEscape(st.cfg.room) + "/stats"
	for {
		var s struct {
			Waiting            int `json:"waiting"`
			Active             int `json:"active"`
			AdmittedLastMinute int `json:"admitted_last_minute"`
			Origin             struct {
				P95ms float64 `json:"p95_ms"`
			} `json:"origin"`
		}
		at := time.Now()
		if st.adminCall(ctx, "GET", st.cfg.admin, path, nil, &s) == nil {
			st.env.rec.stats(at, report.Sample{Waiting: s.Waiting, Active: s.Active, AdmittedPerMinute: s.AdmittedLastMinute, OriginP95ms: s.Origin.P95ms})
			for {
				seen := st.maxActiveSeen.Load()
				if int64(s.Active) <= seen || st.maxActiveSeen.CompareAndSwap(seen, int64(s.Active)) {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// machine names the CPU, cores and OS, for the record.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v) + ", "
				break
			}
		}
	}
	return fmt.Sprintf("%s%d cores, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
