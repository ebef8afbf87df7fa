// Package sqlstore implements booking.Store once, on database/sql, for every
// SQL database a Dialect describes: the business rules live here, so the
// PostgreSQL and SQLite stores cannot drift apart.
//
// Inventory is one row per sellable place. Places are taken with conditional
// UPDATEs whose predicate says what "free" means (available, or held by a
// hold that has expired), so no place is held or sold twice under any
// concurrency, and a lapsed hold stops counting the instant it lapses,
// without any cleanup job. Every method is one transaction.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/usherhq/usher/booking"
)

var _ booking.Store = (*Store)(nil)

// maxAttempts bounds how often a write transaction runs when the database
// rolled it back for a deadlock or a serialization failure.
const maxAttempts = 4

// Config is what New needs.
type Config struct {
	Dialect Dialect
	// DB runs reads, and writes too when Writer is nil.
	DB *sql.DB
	// Writer, when set, runs every write transaction. SQLite serialises
	// writers; queueing them for one connection in the pool is fairer and
	// faster than letting many connections poll for the database lock.
	Writer *sql.DB
}

// Store is booking.Store on a SQL database. It is safe for concurrent use,
// and by several processes sharing the database.
type Store struct {
	d      Dialect
	db     *sql.DB
	writer *sql.DB
}

// New returns a store on an already migrated database. Close closes the
// databases in c.
func New(c Config) (*Store, error) {
	if err := c.Dialect.validate(); err != nil {
		return nil, err
	}
	if c.DB == nil {
		return nil, errors.New("sqlstore: no database")
	}
	w := c.Writer
	if w == nil {
		w = c.DB
	}
	return &Store{d: c.Dialect, db: c.DB, writer: w}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.Name, err)
	}
	return nil
}

// Close closes the databases.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.writer != s.db {
		err = errors.Join(err, s.writer.Close())
	}
	return err
}

// runner is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders in the dialect's spelling,
// turning time.Time arguments into the dialect's time values.
type conn struct {
	r runner
	d *Dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.r.ExecContext(ctx, c.rebind(query), c.args(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.r.QueryContext(ctx, c.rebind(query), c.args(args)...)
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.r.QueryRowContext(ctx, c.rebind(query), c.args(args)...)
}

// lockRows and skipLocked spell the dialect's locking clauses.
func (c conn) lockRows() string   { return c.d.LockRows }
func (c conn) skipLocked() string { return c.d.LockRowsSkipLocked }

func (c conn) args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			a = c.time(t)
		}
		out[i] = a
	}
	return out
}

func (c conn) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.d.Time(t.UTC().Truncate(time.Microsecond))
}

// rebind spells the ? placeholders of query as $1, $2, … when the dialect
// numbers them. No query of the store has a ? inside a string literal.
func (c conn) rebind(query string) string {
	if !c.d.NumberedParams || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// params returns n comma-separated placeholders, for an IN list.
func params(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// write runs fn in a write transaction, again when the database rolled it
// back for a deadlock or serialization failure, and maps database errors to
// booking errors. fn must not keep state between runs.
func (s *Store) write(ctx context.Context, fn func(c conn) error) error {
	var err error
	for range maxAttempts {
		err = s.writeOnce(ctx, fn)
		if err == nil || s.d.Classify(err) != FailureRetry {
			break
		}
	}
	return s.mapErr(err)
}

// writeOptions ask for READ COMMITTED whatever the server's default: the
// store's conditional UPDATEs and row locks are written for it. SQLite has
// one isolation level and ignores this.
var writeOptions = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

func (s *Store) writeOnce(ctx context.Context, fn func(c conn) error) (err error) {
	tx, err := s.writer.BeginTx(ctx, writeOptions)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	c := conn{r: tx, d: &s.d}
	if s.d.BeginWrite != "" {
		if _, err := c.exec(ctx, s.d.BeginWrite); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	if err := fn(c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readOptions give several queries one snapshot: REPEATABLE READ on
// PostgreSQL, a deferred (read) transaction in SQLite's WAL mode.
var readOptions = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}

// read runs fn in a read-only transaction, so that its queries see one
// snapshot.
func (s *Store) read(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, readOptions)
	if err != nil {
		return s.mapErr(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	if err := fn(conn{r: tx, d: &s.d}); err != nil {
		return s.mapErr(err)
	}
	return nil
}

// reader runs single queries outside any transaction.
func (s *Store) reader() conn { return conn{r: s.db, d: &s.d} }

// mapErr gives database failures their booking meaning, keeping the cause.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	switch s.d.Classify(err) {
	case FailureUnique:
		return fmt.Errorf("%w: %w", booking.ErrConflict, err)
	case FailureForeignKey, FailureCheck:
		return fmt.Errorf("%w: %w", booking.ErrInvalid, err)
	case FailureBusy:
		return fmt.Errorf("%w: %w: %w", booking.ErrConflict, ErrBusy, err)
	case FailureRetry:
		return fmt.Errorf("%w: %w", booking.ErrConflict, err)
	}
	return err
}

// notFound turns sql.ErrNoRows into booking.ErrNotFound naming what was
// missing.
func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, booking.ErrNotFound)
	}
	return err
}

// invalid is booking.ErrInvalid with a reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", booking.ErrInvalid, fmt.Sprintf(format, args...))
}

// timeCol scans a nullable time column, stored either as a timestamp or as
// Unix microseconds; NULL is the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("scan time from %T", src)
	}
	return nil
}

// tm scans into t; see timeCol.
func tm(t *time.Time) timeCol { return timeCol{t} }

// nullText scans a nullable text column; NULL is "".
type nullText struct{ s *string }

func (n nullText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.s = ""
	case string:
		*n.s = v
	case []byte:
		*n.s = string(v)
	default:
		return fmt.Errorf("scan text from %T", src)
	}
	return nil
}

// nt scans into s; see nullText.
func nt(s *string) nullText { return nullText{s} }

// orNull stores "" as NULL, for optional references.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// truncate gives a time the precision the databases keep, so that what a
// caller gets back compares equal to what it stored.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
