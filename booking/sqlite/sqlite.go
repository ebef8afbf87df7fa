// Package sqlite keeps the booking backend in an embedded SQLite database
// (modernc.org/sqlite, no cgo): the demo's default, and enough for a venue
// that runs one booking process.
//
// SQLite lets one writer in at a time. Every write transaction starts with
// BEGIN IMMEDIATE, so it takes the write lock before it reads anything and
// two writers never deadlock upgrading a read lock; within a process, writes
// queue for a single connection, and processes sharing the file wait for
// each other up to the busy timeout (10 s). Reads run on a pool of their own
// and, in WAL mode, never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/usherhq/usher/booking/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Memory is the path of a database that lives in memory only.
const Memory = ":memory:"

// readConns is how many connections serve reads of a file database.
const readConns = 8

// Dialect is SQLite's: ? placeholders, no row locks (writers are
// serialised), times as Unix microseconds.
var Dialect = sqlstore.Dialect{
	Name:     "sqlite",
	Analyze:  "ANALYZE places",
	Time:     func(t time.Time) any { return t.UnixMicro() },
	Classify: classify,
}

// Open opens the database at path, creating it if need be, and brings its
// schema up to date. The file is in WAL mode with foreign keys on.
//
// path ":memory:" (Memory) is a private in-memory database on one
// connection, which every call shares and which is gone when the store is
// closed: for tests and a throwaway demo.
func Open(path string) (*sqlstore.Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: path must be a file name, or %s", path, Memory)
	}
	ctx := context.Background()
	if path == Memory {
		db, err := open(path+"?"+params(false), 1)
		if err != nil {
			return nil, err
		}
		// The database lives as long as its one connection: keep it.
		db.SetMaxIdleConns(1)
		return start(ctx, db, db)
	}
	writer, err := open(path+"?"+params(false), 1)
	if err != nil {
		return nil, err
	}
	reader, err := open(path+"?"+params(true), readConns)
	if err != nil {
		writer.Close()
		return nil, err
	}
	return start(ctx, reader, writer)
}

// params is the DSN query of a connection. Every connection waits up to
// 10 s for a lock and checks foreign keys; the writer puts the file in WAL
// mode (which then stays) and begins its transactions IMMEDIATE; readers
// are kept from writing.
func params(readOnly bool) string {
	p := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	if readOnly {
		return p + "&_pragma=query_only(1)"
	}
	return p + "&_pragma=journal_mode(WAL)&_txlock=immediate"
}

func open(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(conns)
	return db, nil
}

// migrateAttempts is how many times Open tries a migration that met a
// lock.
const migrateAttempts = 5

// start migrates the database and returns the store on it.
func start(ctx context.Context, reader, writer *sql.DB) (*sqlstore.Store, error) {
	closeAll := func() {
		reader.Close()
		if writer != reader {
			writer.Close()
		}
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		closeAll()
		return nil, err
	}
	// Processes that open one file together may meet SQLite's locks where
	// it answers busy at once rather than waiting (turning the file to WAL,
	// or a read that must become a write): the migration is idempotent, so
	// it is tried again a few times.
	for attempt := 1; ; attempt++ {
		err = sqlstore.Migrate(ctx, writer, Dialect, sub)
		if err == nil || classify(err) != sqlstore.FailureBusy || attempt == migrateAttempts {
			break
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s, err := sqlstore.New(sqlstore.Config{Dialect: Dialect, DB: reader, Writer: writer})
	if err != nil {
		closeAll()
		return nil, err
	}
	return s, nil
}

// classify reads SQLite's extended result codes.
func classify(err error) sqlstore.Failure {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.FailureOther
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.FailureUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.FailureForeignKey
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return sqlstore.FailureCheck
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return sqlstore.FailureBusy
	}
	return sqlstore.FailureOther
}
