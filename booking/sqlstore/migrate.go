package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migrate brings the database up to date with the migrations in fsys: files
// named like "0001_init.sql" at its root, applied in the order of their
// numbers, each in a transaction of its own together with its row in
// schema_migrations(version). Migrations already recorded are skipped, so
// running it again, or from several processes at once, is safe: the
// dialect's migration lock (PostgreSQL), or the database's single writer
// (SQLite), lets one process migrate at a time.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) (err error) {
	if err := d.validate(); err != nil {
		return err
	}
	files, err := migrations(fsys)
	if err != nil {
		return err
	}
	sc, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer sc.Close()
	c := conn{r: sc, d: &d}
	if d.LockMigrations != "" {
		if _, err := c.exec(ctx, d.LockMigrations); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer func() {
			// The lock is the session's: release it even when ctx has ended,
			// or the pooled connection would keep it.
			if _, uerr := c.exec(context.WithoutCancel(ctx), d.UnlockMigrations); uerr != nil && err == nil {
				err = fmt.Errorf("migrate: unlock: %w", uerr)
			}
		}()
	}
	if _, err := c.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range files {
		if err := apply(ctx, sc, &d, fsys, m); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
}

// migrations lists the migrations of fsys in order, refusing a name without
// a number and two files with one number.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []migration
	for _, name := range names {
		num, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: %s: name must start with a positive number and an underscore", name)
		}
		ms = append(ms, migration{version: v, name: name})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrate: %s and %s have one number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// apply runs one migration unless it is recorded already; the check is inside
// the transaction, so two processes cannot both apply it.
func apply(ctx context.Context, sc *sql.Conn, d *Dialect, fsys fs.FS, m migration) (err error) {
	body, err := fs.ReadFile(fsys, m.name)
	if err != nil {
		return err
	}
	tx, err := sc.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	c := conn{r: tx, d: d}
	var n int
	if err := c.row(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return tx.Rollback()
	}
	// The script runs as it is: it has no placeholders to rebind.
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := c.exec(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.version); err != nil {
		return err
	}
	return tx.Commit()
}
