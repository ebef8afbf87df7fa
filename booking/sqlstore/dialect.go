package sqlstore

import (
	"errors"
	"time"
)

// Failure is what a database error means to the store.
type Failure int

// Failures a Dialect tells apart.
const (
	// FailureOther is any error the store does not treat specially.
	FailureOther Failure = iota
	// FailureUnique is a unique or primary key violation.
	FailureUnique
	// FailureForeignKey is a reference to a row that does not exist.
	FailureForeignKey
	// FailureCheck is a CHECK or NOT NULL violation.
	FailureCheck
	// FailureBusy is a lock not granted in time (PostgreSQL lock_timeout,
	// SQLite SQLITE_BUSY after busy_timeout).
	FailureBusy
	// FailureRetry is a deadlock or serialization failure: the transaction
	// was rolled back and may simply run again.
	FailureRetry
)

// ErrBusy reports a lock that was not granted in time. It comes wrapped
// together with booking.ErrConflict, so callers that only know the booking
// errors answer "try again".
var ErrBusy = errors.New("database busy: lock not granted in time")

// Dialect is what differs between the databases the store runs on. Every
// query is written once, with ? placeholders, in the SQL that PostgreSQL and
// SQLite share; a Dialect supplies the rest.
type Dialect struct {
	// Name names the database in errors, e.g. "postgres".
	Name string
	// NumberedParams rewrites the ? placeholders as $1, $2, … .
	NumberedParams bool
	// LockRows ends a SELECT whose rows must stay locked until commit, e.g.
	// " FOR UPDATE". Empty where writers are serialised anyway (SQLite).
	LockRows string
	// LockRowsSkipLocked ends a SELECT that picks any free rows and passes
	// over rows other transactions have locked, e.g.
	// " FOR UPDATE SKIP LOCKED". Empty where writers are serialised anyway.
	LockRowsSkipLocked string
	// BeginWrite, when not empty, runs first in every write transaction,
	// e.g. "SET LOCAL lock_timeout = '5s'".
	BeginWrite string
	// LockAccount, when not empty, takes a lock until commit on one int64
	// argument, a hash of (event, account), e.g.
	// "SELECT pg_advisory_xact_lock(?)". Two holds of one account then count
	// the account's places one after the other. Empty where writers are
	// serialised anyway.
	LockAccount string
	// Analyze, when not empty, runs after seats or zone places were added
	// or removed, e.g. "ANALYZE places". Until the planner has statistics
	// of the places table it may read a whole event's places for a hold of
	// two seats; autovacuum would catch up, but only after the on-sale has
	// begun.
	Analyze string
	// LockMigrations and UnlockMigrations, when not empty, run around
	// migrating on one connection, so that processes starting at once
	// migrate one at a time, e.g. "SELECT pg_advisory_lock(…)".
	LockMigrations, UnlockMigrations string
	// Time turns a non-zero time into a query argument (already truncated to
	// microseconds, in UTC). The zero time is always NULL. Reading accepts
	// both time.Time and int64 Unix microseconds.
	Time func(time.Time) any
	// Classify tells what a driver error means. It must see through
	// wrapping (errors.As) and answer FailureOther for anything else.
	Classify func(error) Failure
}

func (d *Dialect) validate() error {
	if d.Name == "" || d.Time == nil || d.Classify == nil {
		return errors.New("sqlstore: dialect needs Name, Time and Classify")
	}
	return nil
}
