package sim

import (
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/connbroker/connbroker/broker/dbtls"
)

// queryHandler answers the few statements clients send after login. One per
// connection; conn is set once the connection phase has finished.
type queryHandler struct {
	s    *Server
	conn *server.Conn
	db   string // the default schema (handshake or COM_INIT_DB)
}

// normalize lowercases a statement, collapses white space and drops a
// trailing semicolon, so "select  1;" and "SELECT 1" match.
func normalize(q string) string {
	q = strings.TrimSpace(q)
	q = strings.TrimSuffix(q, ";")
	return strings.ToLower(strings.Join(strings.Fields(q), " "))
}

// answer returns the result set for a recognised SELECT/SHOW statement.
func (h *queryHandler) answer(q string, binary bool) (*mysql.Result, bool, error) {
	user := ""
	if h.conn != nil {
		user = h.conn.GetUser()
	}
	var names []string
	var row []any
	switch normalize(q) {
	case "select 1":
		names, row = []string{"1"}, []any{int64(1)}
	case "select current_user()", "select current_user":
		names, row = []string{"CURRENT_USER()"}, []any{user + "@%"}
	case "select @@version", "select version()":
		names, row = []string{"@@version"}, []any{h.s.opts.Version}
	case "select current_user(), @@version":
		names, row = []string{"CURRENT_USER()", "@@version"}, []any{user + "@%", h.s.opts.Version}
	case "select @@version_comment", "select @@version_comment limit 1":
		names, row = []string{"@@version_comment"}, []any{"connbroker MySQL 8 protocol test peer"}
	// What SQLAlchemy's MySQL dialect asks when a pool opens its first connection.
	case "select database()":
		names, row = []string{"DATABASE()"}, []any{h.db}
	case "select @@sql_mode", "select @@session.sql_mode":
		names, row = []string{"@@sql_mode"}, []any{"ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"}
	case "show variables like 'sql_mode'":
		names, row = []string{"Variable_name", "Value"}, []any{"sql_mode", "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"}
	case "select @@lower_case_table_names":
		names, row = []string{"@@lower_case_table_names"}, []any{int64(0)}
	case "show variables like 'lower_case_table_names'":
		names, row = []string{"Variable_name", "Value"}, []any{"lower_case_table_names", "0"}
	case "select @@transaction_isolation", "select @@tx_isolation":
		names, row = []string{"@@transaction_isolation"}, []any{"REPEATABLE-READ"}
	case "select @@max_allowed_packet":
		names, row = []string{"@@max_allowed_packet"}, []any{int64(64 << 20)}
	case "show status like 'ssl_version'", "show session status like 'ssl_version'":
		names, row = []string{"Variable_name", "Value"}, []any{"Ssl_version", h.tlsValue(false)}
	case "show status like 'ssl_cipher'", "show session status like 'ssl_cipher'":
		names, row = []string{"Variable_name", "Value"}, []any{"Ssl_cipher", h.tlsValue(true)}
	default:
		names, row = sessionVariables(q)
		if names == nil {
			return nil, false, nil
		}
	}
	for i, v := range row {
		if str, ok := v.(string); ok {
			// []byte{} keeps an empty value from being sent as NULL.
			row[i] = append([]byte{}, str...)
		}
	}
	rs, err := mysql.BuildSimpleResultset(names, [][]any{row}, binary)
	if err != nil {
		return nil, true, err
	}
	return mysql.NewResult(rs), true, nil
}

// tlsValue is Ssl_version or Ssl_cipher of the live connection ("" on plain
// TCP, as MySQL reports).
func (h *queryHandler) tlsValue(cipher bool) string {
	t, ok := isTLS(h.conn)
	if !ok {
		return ""
	}
	st := t.ConnectionState()
	if cipher {
		return tlsCipherName(st.CipherSuite)
	}
	return dbtls.VersionName(st.Version)
}

// variableDefaults are what the peer reports for session variables a driver
// reads after login (Connector/J's one-row "SELECT @@a AS a, @@b AS b ..."),
// as a stock MySQL 8 would.
var variableDefaults = map[string]any{
	"auto_increment_increment": int64(1), "character_set_client": "utf8mb4", "character_set_connection": "utf8mb4",
	"character_set_results": "utf8mb4", "character_set_server": "utf8mb4", "collation_server": "utf8mb4_0900_ai_ci",
	"collation_connection": "utf8mb4_0900_ai_ci", "init_connect": "", "interactive_timeout": int64(28800),
	"language": "", "license": "GPL", "lower_case_table_names": int64(0), "max_allowed_packet": int64(64 << 20),
	"net_write_timeout": int64(60), "performance_schema": int64(0), "query_cache_size": int64(0),
	"query_cache_type": "OFF", "sql_mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
	"system_time_zone": "UTC", "time_zone": "SYSTEM", "transaction_isolation": "REPEATABLE-READ",
	"tx_isolation": "REPEATABLE-READ", "wait_timeout": int64(28800), "transaction_read_only": int64(0),
	"autocommit": int64(1),
}

// sessionVariables answers "[/* comment */] SELECT @@[session.]x [AS y], ..."
// when every item is a known variable; nil names otherwise.
func sessionVariables(q string) ([]string, []any) {
	q = strings.TrimSpace(q)
	if strings.HasPrefix(q, "/*") {
		end := strings.Index(q, "*/")
		if end < 0 {
			return nil, nil
		}
		q = q[end+2:]
	}
	n := normalize(q)
	if !strings.HasPrefix(n, "select @@") {
		return nil, nil
	}
	var names []string
	var row []any
	for _, item := range strings.Split(strings.TrimPrefix(n, "select "), ",") {
		f := strings.Fields(item)
		if len(f) != 1 && (len(f) != 3 || f[1] != "as") {
			return nil, nil
		}
		v := strings.TrimPrefix(strings.TrimPrefix(f[0], "@@"), "session.")
		val, ok := variableDefaults[v]
		if !ok {
			return nil, nil
		}
		name := f[0]
		if len(f) == 3 {
			name = f[2]
		}
		names, row = append(names, name), append(row, val)
	}
	return names, row
}

func notSupported(q string) error {
	return mysql.NewDefaultError(mysql.ER_NOT_SUPPORTED_YET, q)
}

// UseDB accepts every database name.
func (h *queryHandler) UseDB(db string) error { h.db = db; return nil }

// HandleQuery answers COM_QUERY.
func (h *queryHandler) HandleQuery(q string) (*mysql.Result, error) {
	if r, ok, err := h.answer(q, false); ok {
		return r, err
	}
	n := normalize(q)
	if strings.HasPrefix(n, "set ") || strings.HasPrefix(n, "use ") || n == "commit" || n == "rollback" || n == "begin" {
		return nil, nil // OK packet
	}
	return nil, notSupported(q)
}

// HandleFieldList refuses COM_FIELD_LIST (deprecated).
func (h *queryHandler) HandleFieldList(table, _ string) ([]*mysql.Field, error) {
	return nil, notSupported("COM_FIELD_LIST " + table)
}

// HandleStmtPrepare prepares the recognised SELECTs without parameters.
func (h *queryHandler) HandleStmtPrepare(q string) (int, int, any, error) {
	if strings.Contains(q, "?") {
		return 0, 0, nil, notSupported("prepared statements with parameters (use interpolateParams=true)")
	}
	r, ok, err := h.answer(q, true)
	if err != nil {
		return 0, 0, nil, err
	}
	if ok {
		return 0, len(r.Fields), q, nil
	}
	n := normalize(q)
	if strings.HasPrefix(n, "set ") {
		return 0, 0, q, nil
	}
	return 0, 0, nil, notSupported(q)
}

// HandleStmtExecute runs a statement prepared by HandleStmtPrepare.
func (h *queryHandler) HandleStmtExecute(_ any, q string, _ []any) (*mysql.Result, error) {
	r, ok, err := h.answer(q, true)
	if ok || err != nil {
		return r, err
	}
	return nil, nil
}

// HandleStmtClose has nothing to release.
func (h *queryHandler) HandleStmtClose(any) error { return nil }

// HandleOtherCommand answers COM_SET_OPTION (EOF) and refuses the rest.
func (h *queryHandler) HandleOtherCommand(cmd byte, _ []byte) error {
	if cmd == mysql.COM_SET_OPTION {
		return nil
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command")
}
