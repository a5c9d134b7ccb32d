package inventory

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // the embedded backend's pure-Go driver ("sqlite")

	"github.com/connbroker/connbroker/broker/diagnose"
)

// backend is the SQL the store needs, per dialect.
type backend interface {
	name() string
	upsert(ctx context.Context, recs []Record) error
	expire(ctx context.Context, before time.Time) (int64, error)
	count(ctx context.Context) (int64, error)
	evict(ctx context.Context, n int64) (int64, error)
	list(ctx context.Context, endpoint string, since time.Time) ([]Record, error)
	close() error
}

// DefaultTable is the table name of the MySQL backend.
const DefaultTable = "connbroker_inventory"

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValidTable reports whether name may be used as the MySQL table name.
func ValidTable(name string) bool { return tableName.MatchString(name) }

// MySQLSchema is the DDL of the MySQL/MariaDB table: what an operator runs
// when the broker's account may not CREATE it. Columns: id is the SHA-256
// of caller, endpoint and digest; times are Unix microseconds; env is the
// sanitized environment as JSON.
func MySQLSchema(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + ` (
  id CHAR(64) NOT NULL PRIMARY KEY,
  caller VARCHAR(600) NOT NULL,
  endpoint VARCHAR(64) NOT NULL,
  digest CHAR(64) NOT NULL,
  env MEDIUMTEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  count BIGINT NOT NULL,
  KEY ` + table + `_last_seen (last_seen),
  KEY ` + table + `_endpoint (endpoint)
) DEFAULT CHARSET=utf8mb4`
}

const sqliteSchema = `CREATE TABLE IF NOT EXISTS inventory (
  id TEXT NOT NULL PRIMARY KEY,
  caller TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  digest TEXT NOT NULL,
  env TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inventory_last_seen ON inventory (last_seen);
CREATE INDEX IF NOT EXISTS inventory_endpoint ON inventory (endpoint);`

// OpenSQLite opens (creating it when missing, mode 0600) the embedded
// store in the SQLite file at path.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	// WAL: readers (ListInventory) do not wait for the writer; a busy
	// timeout covers a second process (connbroker tools) reading it.
	// Create the file owner-only before SQLite does (with the umask).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open inventory %s: %w", path, err)
	}
	f.Close()
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open inventory %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create inventory schema in %s: %w", path, err)
	}
	s := newStore(&sqlBackend{db: db, dialect: "sqlite", table: "inventory"}, opts)
	if err := s.start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open inventory %s: %w", path, err)
	}
	return s, nil
}

// OpenMySQL opens the shared store in table (DefaultTable when empty) of
// the MySQL/MariaDB database that conn logs in to. It creates the table
// when missing; when the account may not, the error holds the DDL to run
// (MySQLSchema).
func OpenMySQL(ctx context.Context, conn driver.Connector, table string, opts Options) (*Store, error) {
	if table == "" {
		table = DefaultTable
	}
	if !ValidTable(table) {
		return nil, fmt.Errorf("inventory table %q: not a plain table name", table)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetConnMaxLifetime(10 * time.Minute) // fresh credentials (IAM tokens) on reconnect
	if err := ensureMySQLTable(ctx, db, table); err != nil {
		db.Close()
		return nil, err
	}
	s := newStore(&sqlBackend{db: db, dialect: "mysql", table: table}, opts)
	if err := s.start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open inventory table %s: %w", table, err)
	}
	return s, nil
}

func ensureMySQLTable(ctx context.Context, db *sql.DB, table string) error {
	_, err := db.ExecContext(ctx, "SELECT 1 FROM "+table+" LIMIT 0")
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me) && me.Number == 1146: // ER_NO_SUCH_TABLE
	default:
		return fmt.Errorf("read inventory table %s: %w", table, err)
	}
	if _, err := db.ExecContext(ctx, MySQLSchema(table)); err != nil {
		return fmt.Errorf("create inventory table %s (the broker's account may not create tables: run this as an administrator, then restart):\n%s;\n%w", table, MySQLSchema(table), err)
	}
	return nil
}

// sqlBackend is both dialects: they differ in the upsert and the eviction.
type sqlBackend struct {
	db      *sql.DB
	dialect string // "sqlite" or "mysql"
	table   string
}

func (b *sqlBackend) name() string { return b.dialect }
func (b *sqlBackend) close() error { return b.db.Close() }

// storedEnv is the JSON form of a stored environment, with stable names.
type storedEnv struct {
	Driver   string            `json:"driver,omitempty"`
	Packages []storedPackage   `json:"packages,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	CABundle string            `json:"ca_bundle,omitempty"`
	Runtime  string            `json:"runtime,omitempty"`
}

type storedPackage struct {
	Name          string   `json:"name"`
	Version       string   `json:"version,omitempty"`
	ClientLibrary string   `json:"client_library,omitempty"`
	CExtension    bool     `json:"c_extension,omitempty"`
	PluginDir     string   `json:"plugin_dir,omitempty"`
	ClientPlugins []string `json:"client_plugins,omitempty"`
}

func encodeEnv(e diagnose.ClientEnvironment) (string, error) {
	se := storedEnv{Driver: e.Driver, Env: e.Env, CABundle: e.CABundle, Runtime: e.Runtime}
	for _, p := range e.Packages {
		se.Packages = append(se.Packages, storedPackage(p))
	}
	b, err := json.Marshal(se)
	return string(b), err
}

func decodeEnv(s string) (diagnose.ClientEnvironment, error) {
	var se storedEnv
	if err := json.Unmarshal([]byte(s), &se); err != nil {
		return diagnose.ClientEnvironment{}, err
	}
	e := diagnose.ClientEnvironment{Driver: se.Driver, Env: se.Env, CABundle: se.CABundle, Runtime: se.Runtime}
	for _, p := range se.Packages {
		e.Packages = append(e.Packages, diagnose.ClientPackage(p))
	}
	return e, nil
}

func recordID(r Record) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d:%s;%d:%s;%s", len(r.Caller), r.Caller, len(r.Endpoint), r.Endpoint, r.Digest)))
	return hex.EncodeToString(h[:])
}

func (b *sqlBackend) upsert(ctx context.Context, recs []Record) error {
	q := "INSERT INTO " + b.table + " (id, caller, endpoint, digest, env, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
	if b.dialect == "sqlite" {
		q += "ON CONFLICT(id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), count = count + excluded.count"
	} else {
		q += "ON DUPLICATE KEY UPDATE last_seen = GREATEST(last_seen, VALUES(last_seen)), count = count + VALUES(count)"
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range recs {
		env, err := encodeEnv(r.Env)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, recordID(r), r.Caller, r.Endpoint, r.Digest, env, r.FirstSeen.UnixMicro(), r.LastSeen.UnixMicro(), r.Count); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (b *sqlBackend) expire(ctx context.Context, before time.Time) (int64, error) {
	res, err := b.db.ExecContext(ctx, "DELETE FROM "+b.table+" WHERE last_seen < ?", before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (b *sqlBackend) count(ctx context.Context) (int64, error) {
	var n int64
	err := b.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+b.table).Scan(&n)
	return n, err
}

// evict removes the n least recently seen records.
func (b *sqlBackend) evict(ctx context.Context, n int64) (int64, error) {
	q := "DELETE FROM " + b.table + " ORDER BY last_seen, id LIMIT ?" // MySQL: single-table DELETE takes ORDER BY/LIMIT
	if b.dialect == "sqlite" {
		q = "DELETE FROM " + b.table + " WHERE id IN (SELECT id FROM " + b.table + " ORDER BY last_seen, id LIMIT ?)"
	}
	res, err := b.db.ExecContext(ctx, q, n)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (b *sqlBackend) list(ctx context.Context, endpoint string, since time.Time) ([]Record, error) {
	q := "SELECT caller, endpoint, digest, env, first_seen, last_seen, count FROM " + b.table + " WHERE last_seen >= ?"
	args := []any{since.UnixMicro()}
	if endpoint != "" {
		q += " AND endpoint = ?"
		args = append(args, endpoint)
	}
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var (
			r           Record
			env         string
			first, last int64
		)
		if err := rows.Scan(&r.Caller, &r.Endpoint, &r.Digest, &env, &first, &last, &r.Count); err != nil {
			return nil, err
		}
		if r.Env, err = decodeEnv(env); err != nil {
			return nil, fmt.Errorf("record %s/%s: %w", r.Endpoint, r.Digest, err)
		}
		r.FirstSeen, r.LastSeen = time.UnixMicro(first), time.UnixMicro(last)
		out = append(out, r)
	}
	return out, rows.Err()
}
