// Package postgres keeps the booking backend in PostgreSQL, through pgx's
// database/sql driver. Any number of booking processes may share one
// database.
//
// Transactions run at READ COMMITTED. What keeps a place from being sold
// twice is the row lock that every conditional UPDATE of places takes: a
// second writer waits for the first and then evaluates its condition against
// the committed row. Writers that need several places lock them in id order
// first, so they wait for each other instead of deadlocking; zone holds pass
// over locked places (SKIP LOCKED); two holds of one account take an
// advisory lock on (event, account) before counting the account's places.
// Every write transaction gives up waiting for a lock after 5 s with an
// error that wraps sqlstore.ErrBusy and booking.ErrConflict.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/usherhq/usher/booking/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultConns is how many connections a store opens at most, unless the
// URL's pool_max_conns says otherwise. Callers beyond it queue in the pool
// rather than crowd the server.
const DefaultConns = 10

// migrationLock names the lock that processes migrating one schema take:
// the two-key form keeps it apart from the accounts' one-key locks.
const migrationLock = `hashtext('usher booking migrations'), hashtext(current_schema())`

// Dialect is PostgreSQL's: $n placeholders, row locks, advisory locks, and
// a lock timeout of 5 s in write transactions.
var Dialect = sqlstore.Dialect{
	Name:               "postgres",
	NumberedParams:     true,
	LockRows:           " FOR UPDATE",
	LockRowsSkipLocked: " FOR UPDATE SKIP LOCKED",
	BeginWrite:         "SET LOCAL lock_timeout = '5s'",
	LockAccount:        "SELECT pg_advisory_xact_lock(?)",
	Analyze:            "ANALYZE places",
	LockMigrations:     "SELECT pg_advisory_lock(" + migrationLock + ")",
	UnlockMigrations:   "SELECT pg_advisory_unlock(" + migrationLock + ")",
	Time:               func(t time.Time) any { return t },
	Classify:           classify,
}

// Open connects to the database at rawURL (postgres://…; search_path and
// the other run-time parameters pgx knows may be in the query) and brings
// the schema up to date. pool_max_conns in the query bounds the connections
// (default DefaultConns).
func Open(ctx context.Context, rawURL string) (*sqlstore.Store, error) {
	dsn, conns, err := poolSize(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err == nil {
		err = sqlstore.Migrate(ctx, db, Dialect, sub)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s, err := sqlstore.New(sqlstore.Config{Dialect: Dialect, DB: db})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// poolSize takes pool_max_conns out of a URL, which the server would not
// know.
func poolSize(rawURL string) (string, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, errors.New("bad database URL") // the URL may hold a password: do not echo it
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return rawURL, DefaultConns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("pool_max_conns %q: want a positive number", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// classify reads PostgreSQL's SQLSTATE codes.
func classify(err error) sqlstore.Failure {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return sqlstore.FailureOther
	}
	switch e.Code {
	case "23505": // unique_violation
		return sqlstore.FailureUnique
	case "23503": // foreign_key_violation
		return sqlstore.FailureForeignKey
	case "23514", "23502": // check_violation, not_null_violation
		return sqlstore.FailureCheck
	case "55P03": // lock_not_available: lock_timeout
		return sqlstore.FailureBusy
	case "40P01", "40001": // deadlock_detected, serialization_failure
		return sqlstore.FailureRetry
	}
	return sqlstore.FailureOther
}
