// Package validate logs in for real with github.com/go-sql-driver/mysql,
// using exactly the parameters the broker issues, runs one query and
// reports the raw outcome: each stage (dial, tls, auth, query) with its
// duration and, on failure, the driver's error with its types intact
// (Stage.Err: *mysql.MySQLError, x509 and tls errors, *net.OpError, ...),
// the server's error packet (MySQLError) and the TLS session.
//
// It does not explain failures: broker/diagnose turns the outcome (with
// the handshake prober's transcript) into findings, and the verdict is the
// primary finding (diagnose.Verdict).
package validate

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
)

// Target is one login to attempt.
type Target struct {
	// Endpoint is the endpoint name (for the result).
	Endpoint string
	// Addr is host:port.
	Addr string
	// User, Database are the login user and schema.
	User, Database string
	// Secret is the password or token.
	Secret credential.Secret
	// IAM is true when Secret is an IAM token.
	IAM bool
	// TLSMode, CAPEM, ServerName are the endpoint's TLS settings.
	TLSMode    config.TLSMode
	CAPEM      []byte
	ServerName string
	// AllowCleartext lets the driver answer mysql_clear_password.
	AllowCleartext bool
	// Plugin is the endpoint's configured plugin. When the TLS mode does
	// not verify the server, a password endpoint allows the server to
	// switch only to this plugin or to a scramble plugin (native,
	// caching_sha2_password's fast path, client_ed25519), and only this
	// plugin's secret-revealing steps (clear text, RSA to the server's key,
	// caching_sha2 full authentication) are taken; see WithheldError.
	Plugin string
	// Timeout bounds the whole attempt.
	Timeout time.Duration
	// Sessions, when set, is the request's TLS session store: the login
	// resumes a session of an earlier login of the same request with the
	// same address and TLS settings, and leaves its own for the later ones
	// (dbtls.Sessions). Nil: a full handshake.
	Sessions *dbtls.Sessions
}

// Stage is one step of the attempt.
type Stage struct {
	// Name is dial, tls, auth or query.
	Name string
	// OK is true when the stage completed.
	OK bool
	// Duration is how long it took.
	Duration time.Duration
	// Error is Err's text (never a secret), or a note on a stage that went
	// on despite a problem (tls preferred without TLS).
	Error string
	// Err is the driver's error for a failed stage, with its types intact;
	// nil when the stage completed.
	Err error
}

// Result is the outcome of one attempt.
type Result struct {
	Endpoint      string
	OK            bool
	Stages        []Stage
	ServerVersion string
	CurrentUser   string
	TLSVersion    string
	TLSCipher     string
	// TLSResumed is true when the login resumed a TLS session of an
	// earlier login of the same request (Target.Sessions) instead of a
	// full handshake; its certificate checks ran on the earlier login and
	// VerifyConnection's ran again on this one.
	TLSResumed bool
	// MySQLError is the server's ERR packet, if the login got one.
	MySQLError *handshake.ServerError
	// Reason is the verdict on a failure: broker.Service sets it to the
	// primary finding's cause and fix (diagnose.Verdict); Validate alone
	// sets the failed stage and its raw error.
	Reason string
	// Transcript is the handshake prober's record of the same login (set
	// by broker.Service, not by Validate).
	Transcript *handshake.Transcript
	// Findings explain the result (set by broker.Service).
	Findings []diagnose.Finding
	// Drivers predict each driver's fate (set by broker.Service when asked).
	Drivers []diagnose.Prediction
	// Environment predicts the caller's installed drivers (set by
	// broker.Service when the request described the caller's process).
	Environment *diagnose.EnvironmentReport
	// Method and Plugin are the resolved auth method and plugin (set by
	// broker.Service; they differ from the config for auth: auto).
	Method config.AuthMethod
	Plugin string
	// Evidence is the resolution's evidence (set by broker.Service).
	Evidence []Evidence
}

// Failed returns the failed stage, if any: the last stage when it did not
// complete.
func (r Result) Failed() (Stage, bool) {
	if n := len(r.Stages); n > 0 && !r.Stages[n-1].OK {
		return r.Stages[n-1], true
	}
	return Stage{}, false
}

// fail marks st failed with err and makes it the result's reason.
func (r *Result) fail(st Stage, err error) Result {
	st.OK, st.Err, st.Error = false, err, err.Error()
	r.Stages = append(r.Stages, st)
	r.Reason = st.Name + ": " + st.Error
	return *r
}

// Evidence is one fact behind an auth method: behind a resolution
// (broker/resolve, broker.Resolution) and behind the method a validation's
// login used (Result.Evidence). It lives here, the lowest package of the
// three, so that all of them share this one type.
type Evidence struct {
	// Source is config, account, hostname, greeting or aws-api.
	Source string
	// Detail is the fact in plain words.
	Detail string
}

// errNoDial is reported when the driver failed before it dialled.
var errNoDial = errors.New("the driver did not dial")

// Validator runs logins with a cap on how many run at once.
type Validator struct {
	sem    chan struct{}
	dialer net.Dialer
}

// New returns a Validator running at most maxConcurrent logins at once.
func New(maxConcurrent int) *Validator {
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	return &Validator{sem: make(chan struct{}, maxConcurrent)}
}

// Acquire takes one of the validator's concurrency slots, so other logins
// (the broker's diagnosis probes) respect the same cap. Call release when
// done. The error is the context's when it ends while waiting.
func (v *Validator) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case v.sem <- struct{}{}:
		return func() { <-v.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// GoConfig returns the go-sql-driver configuration for t: the same
// settings the go-sql-driver hints describe, with the TLS config inline.
func GoConfig(t Target) (*mysql.Config, error) {
	return goConfig(t, t.Sessions.For(t.Addr, t.TLSMode, t.CAPEM, t.ServerName))
}

// goConfig is GoConfig with the login's share of t.Sessions looked up.
func goConfig(t Target, sess *dbtls.Session) (*mysql.Config, error) {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = t.Addr
	cfg.User = t.User
	cfg.Passwd = t.Secret.Reveal()
	cfg.DBName = t.Database
	cfg.AllowCleartextPasswords = t.AllowCleartext
	tc, err := dbtls.Config(t.TLSMode, t.CAPEM, t.ServerName)
	if err != nil {
		return nil, fmt.Errorf("tls config: %w", err)
	}
	if tc != nil {
		tc.ClientSessionCache, tc.CurvePreferences = sess.Cache(), sess.Groups()
	}
	cfg.TLS = tc
	cfg.AllowFallbackToPlaintext = t.TLSMode == config.TLSPreferred
	return cfg, nil
}

// Validate performs one login and query. It never returns an error: every
// failure is described in the Result.
func (v *Validator) Validate(ctx context.Context, t Target) Result {
	res := Result{Endpoint: t.Endpoint}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	select {
	case v.sem <- struct{}{}:
		defer func() { <-v.sem }()
	case <-ctx.Done():
		return res.fail(Stage{Name: "queue"}, fmt.Errorf("wait for a validation slot (too many validations are running): %w", ctx.Err()))
	}
	sess := t.Sessions.For(t.Addr, t.TLSMode, t.CAPEM, t.ServerName)
	cfg, err := goConfig(t, sess)
	if err != nil {
		return res.fail(Stage{Name: "config"}, err)
	}
	var (
		mu                          sync.Mutex
		dialStart, dialEnd, tlsDone time.Time
		dialErr                     error
		tlsState                    *tls.ConnectionState
		tlsErr                      error
	)
	// Without verified TLS the driver talks through a guard that withholds
	// the secret (guard.go); the guard reports the server's TLS session.
	g := newGuard(t, cfg.TLS, func(cs tls.ConnectionState) {
		mu.Lock()
		tlsDone, tlsState = time.Now(), &cs
		mu.Unlock()
	})
	if g != nil && cfg.TLS != nil {
		cfg.TLS = localClientTLS()
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialStart = time.Now()
		mu.Unlock()
		c, err := v.dialer.DialContext(ctx, network, addr)
		mu.Lock()
		dialEnd, dialErr = time.Now(), err
		mu.Unlock()
		if err == nil && g != nil {
			c = g.wrap(ctx, c)
		}
		return c, err
	}
	if cfg.TLS != nil && g == nil {
		prev := cfg.TLS.VerifyConnection
		cfg.TLS.VerifyConnection = func(cs tls.ConnectionState) error {
			var err error
			if prev != nil {
				err = prev(cs)
			}
			mu.Lock()
			tlsDone, tlsState, tlsErr = time.Now(), &cs, err
			mu.Unlock()
			return err
		}
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return res.fail(Stage{Name: "config"}, fmt.Errorf("driver config: %w", err))
	}
	start := time.Now()
	dc, connErr := conn.Connect(ctx)
	if errors.Is(connErr, mysql.ErrMalformPkt) && ctx.Err() == nil {
		// go-sql-driver 1.10 misreads about 1 in 256 MariaDB client_ed25519
		// challenges (it strips a trailing zero byte of the 32-byte nonce)
		// and reports a malformed packet; a second login gets a new nonce.
		// The stages below describe the retry.
		start = time.Now()
		dc, connErr = conn.Connect(ctx)
	}
	connected := time.Now()
	mu.Lock()
	ds, de, td, dErr, ts, tErr := dialStart, dialEnd, tlsDone, dialErr, tlsState, tlsErr
	mu.Unlock()
	var withheld, upTLSErr error
	if g != nil {
		withheld, upTLSErr = g.failures()
	}
	if ds.IsZero() {
		ds, de = start, start
	}
	dial := Stage{Name: "dial", OK: true, Duration: de.Sub(ds)}
	if dErr != nil || de.IsZero() {
		err := firstErr(dErr, connErr)
		if err == nil {
			err = fmt.Errorf("dial %s: %w", t.Addr, errNoDial)
		}
		return res.fail(dial, err)
	}
	res.Stages = append(res.Stages, dial)
	authStart := de
	if cfg.TLS != nil {
		st := Stage{Name: "tls", Duration: time.Since(de)}
		if !td.IsZero() {
			st.Duration = td.Sub(de)
			authStart = td
		}
		switch {
		case ts != nil && tErr == nil:
			st.OK = true
			res.TLSVersion = dbtls.VersionName(ts.Version)
			res.TLSCipher = tls.CipherSuiteName(ts.CipherSuite)
			res.TLSResumed = ts.DidResume
			sess.Learn(*ts)
		case tErr != nil:
			return res.fail(st, fmt.Errorf("verify the server's certificate: %w", tErr))
		case upTLSErr != nil:
			// The guard's own TLS connection to the server failed.
			return res.fail(st, upTLSErr)
		case connErr != nil && (t.TLSMode != config.TLSPreferred || IsTLSFailure(connErr)):
			// The driver stopped before the TLS session was set up.
			res.MySQLError = handshake.DriverServerError(connErr)
			return res.fail(st, connErr)
		default:
			st.OK = true // preferred mode fell back to plain text
			st.Error = "server offered no TLS; continued without it (tls mode preferred)"
		}
		res.Stages = append(res.Stages, st)
	}
	auth := Stage{Name: "auth", OK: true, Duration: connected.Sub(authStart)}
	if withheld != nil {
		if dc != nil {
			_ = dc.Close()
		}
		return res.fail(auth, fmt.Errorf("%w%s", withheld, withheldFix(t)))
	}
	if connErr != nil {
		res.MySQLError = handshake.DriverServerError(connErr)
		return res.fail(auth, connErr)
	}
	res.Stages = append(res.Stages, auth)
	defer dc.Close()
	qs := time.Now()
	q := Stage{Name: "query"}
	err = queryInfo(ctx, dc, &res)
	q.Duration = time.Since(qs)
	if err != nil {
		res.MySQLError = handshake.DriverServerError(err)
		return res.fail(q, err)
	}
	q.OK = true
	res.Stages = append(res.Stages, q)
	res.OK = true
	return res
}

func queryInfo(ctx context.Context, dc driver.Conn, res *Result) error {
	qc, ok := dc.(driver.QueryerContext)
	if !ok {
		return errors.New("driver connection cannot query")
	}
	rows, err := qc.QueryContext(ctx, "SELECT CURRENT_USER(), @@version", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, 2)
	if err := rows.Next(vals); err != nil {
		return fmt.Errorf("read row: %w", err)
	}
	res.CurrentUser, res.ServerVersion = asString(vals[0]), asString(vals[1])
	return nil
}

func asString(v driver.Value) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
