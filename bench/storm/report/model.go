// Package report holds what a storm run measured, and writes it as a text
// summary, JSON and a self-contained HTML page.
package report

import "time"

// Results is one storm run: what was played, what was seen over time, and
// the verdicts. Its JSON form is the storm's -json output; tools read it.
type Results struct {
	// Target is the gateway the storm ran against.
	Target string `json:"target"`
	// Started is when the first arrival was sent; Duration how long the run
	// took until the last client finished or gave up.
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Settings are the run's flags, as given.
	Settings map[string]string `json:"settings"`
	// Machine says where it ran (CPU model, cores, OS), for the record.
	Machine string `json:"machine"`

	// Fans and Bots are how many of each arrived.
	Fans int `json:"fans"`
	Bots int `json:"bots"`

	// Series is the run over time, one sample a second.
	Series []Sample `json:"series"`
	// Latency summarises request latencies by kind: "join", "status",
	// "proxied" (requests with a pass), "origin" (as the gateway's
	// upstream histogram reports it, when read); and [ConnWait], how long
	// requests waited before they were sent.
	Latency map[string]Summary `json:"latency"`
	// JoinsPerSecond is joins answered (a place given) over the busiest
	// second and on average.
	JoinsPerSecondPeak float64 `json:"joins_per_second_peak"`
	JoinsPerSecondMean float64 `json:"joins_per_second_mean"`

	// Admissions lists, for each fan admitted, its place in arrival order
	// (1 = arrived first among fans), its admission order (1 = admitted
	// first among fans), and its wait from arrival to admission.
	Admissions []Admission `json:"admissions"`
	// KendallTau is the rank correlation between fans' arrival order and
	// admission order: 1 is perfectly fair FIFO.
	KendallTau float64 `json:"kendall_tau"`

	// Fan and bot outcomes.
	FansAdmitted               int `json:"fans_admitted"`
	FansAbandoned              int `json:"fans_abandoned"`
	FansWithTickets            int `json:"fans_with_tickets"`
	FansChallenged             int `json:"fans_challenged"`
	FansChallengedMoreThanOnce int `json:"fans_challenged_more_than_once"`
	FansBlocked                int `json:"fans_blocked"`
	BotRequests                int `json:"bot_requests"`
	// BotRequestsStopped counts bot requests answered with a refusal, a
	// challenge left unsolved, or a queue page instead of the origin.
	BotRequestsStopped int `json:"bot_requests_stopped"`
	// BotKinds breaks the bots' requests and outcomes down by behaviour.
	BotKinds     map[string]BotKind `json:"bot_kinds"`
	BotsAdmitted int                `json:"bots_admitted"`
	BotTickets   int                `json:"bot_tickets"`
	// Shares: of admissions and of tickets, the part that went to bots.
	BotAdmissionShare float64 `json:"bot_admission_share"`
	BotTicketShare    float64 `json:"bot_ticket_share"`

	// The invariants, from the booking backend's and the gateway's own
	// figures after the run.
	Capacity              int `json:"capacity"`
	TicketsSold           int `json:"tickets_sold"`
	Oversold              int `json:"oversold"`
	DoubleCharges         int `json:"double_charges"`
	PaidWithoutTickets    int `json:"paid_without_tickets"`
	TicketsWithoutPayment int `json:"tickets_without_payment"`
	MaxActive             int `json:"max_active"`
	MaxActiveSeen         int `json:"max_active_seen"`

	// Violations names each broken invariant; a run with any exits non-zero.
	Violations []string `json:"violations"`
}

// ConnWait is the Latency entry of the time requests waited for one of
// the storm's own connections (its -conns) before they were sent. Request
// latencies start once a request has one; when this wait is the longer,
// the storm was its own bottleneck, and every client, fan or bot, sent
// requests at the pace of that queue rather than its own.
const ConnWait = "conn_wait"

// Sample is the run at one second.
type Sample struct {
	// At is the time since the run started.
	At time.Duration `json:"at_ns"`
	// Waiting and Active are the room's figures as the gateway's stats
	// report them at that second.
	Waiting int `json:"waiting"`
	Active  int `json:"active"`
	// AdmittedPerMinute is the room's admissions over the last minute.
	AdmittedPerMinute int `json:"admitted_per_minute"`
	// Joins, StatusPolls and Proxied count the requests of each kind
	// answered during that second; BotsStopped the bot requests stopped.
	Joins       int `json:"joins"`
	StatusPolls int `json:"status_polls"`
	Proxied     int `json:"proxied"`
	BotsStopped int `json:"bots_stopped"`
	// Latencies of that second's requests, in milliseconds.
	JoinP50ms   float64 `json:"join_p50_ms"`
	JoinP99ms   float64 `json:"join_p99_ms"`
	StatusP50ms float64 `json:"status_p50_ms"`
	StatusP99ms float64 `json:"status_p99_ms"`
	OriginP95ms float64 `json:"origin_p95_ms"`
}

// BotKind is what the bots of one behaviour did and got.
type BotKind struct {
	Bots     int `json:"bots"`
	Requests int `json:"requests"`
	Stopped  int `json:"stopped"`
	Admitted int `json:"admitted"`
	Tickets  int `json:"tickets"`
}

// Summary is a latency distribution.
type Summary struct {
	Count int     `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
}

// Admission is one fan's way through the line.
type Admission struct {
	ArrivalRank   int           `json:"arrival_rank"`
	AdmissionRank int           `json:"admission_rank"`
	Wait          time.Duration `json:"wait_ns"`
}
