package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/observe"
)

// Audit event names.
const (
	AuditCredentialIssued = "credential_issued"
	AuditValidation       = "validation"
	AuditDenied           = "denied"
	AuditIssueFailed      = "issue_failed"
	AuditProbe            = "probe"
	AuditPreflight        = "preflight"
)

// Audit outcomes.
const (
	OutcomeOK          = "ok"
	OutcomeDenied      = "denied"
	OutcomeRateLimited = "rate_limited"
	OutcomeFailed      = "failed"
)

// AuditEvent is one line of the audit trail. It never holds a secret.
type AuditEvent struct {
	// Time is when the call finished, UTC.
	Time time.Time `json:"time"`
	// Event is credential_issued, validation, probe, denied,
	// issue_failed or login_failure_reported.
	Event string `json:"event"`
	// Caller is the caller identity; empty when the caller has none.
	Caller string `json:"caller"`
	// CallerKind is uri, dns, or none.
	CallerKind string `json:"caller_kind"`
	// Peer is the caller's network address.
	Peer string `json:"peer,omitempty"`
	// Method is the full gRPC method name.
	Method string `json:"method"`
	// Endpoint is the endpoint name asked for.
	Endpoint string `json:"endpoint,omitempty"`
	// DBUser is the database user of the endpoint.
	DBUser string `json:"db_user,omitempty"`
	// CredentialKind is iam_token or password, for issued credentials.
	CredentialKind string `json:"credential_kind,omitempty"`
	// ExpiresAt is when an issued credential expires, if it does.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Outcome is ok, denied, rate_limited or failed.
	Outcome string `json:"outcome"`
	// Code is the gRPC status code of the call.
	Code string `json:"code"`
	// Reason explains a failure or denial in plain words.
	Reason string `json:"reason,omitempty"`
}

// Auditor writes audit events as JSON lines. It is an observe.Sink of the
// broker's event stream (Extras.Audit subscribes it). It is safe for
// concurrent use; a nil *Auditor writes nothing.
type Auditor struct {
	mu     sync.Mutex
	w      io.Writer
	log    *slog.Logger
	now    func() time.Time
	path   string   // the audit file, for Reopen; "" for a plain writer
	file   *os.File // the open audit file
	deny   bool     // audit.on_error: deny
	errors interface{ Inc() }
}

// NewAuditor returns an Auditor writing to w; write errors are logged to
// log.
func NewAuditor(w io.Writer, log *slog.Logger) *Auditor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Auditor{w: w, log: log, now: time.Now}
}

// FailClosed makes credential issuance fail (UNAVAILABLE) when its audit
// event cannot be written (audit.on_error: deny). It returns a.
func (a *Auditor) FailClosed(deny bool) *Auditor {
	if a != nil {
		a.deny = deny
	}
	return a
}

// CountErrors counts every failed write in c (the metric
// connbroker_audit_write_errors_total). It returns a.
func (a *Auditor) CountErrors(c interface{ Inc() }) *Auditor {
	if a != nil {
		a.errors = c
	}
	return a
}

// errAuditFailed means an audit event could not be written and
// audit.on_error is deny, so the credential was not sent. Retry later.
var errAuditFailed = errors.New("the audit trail cannot be written, so no credential is issued (audit.on_error: deny); retry later")

// OpenAudit opens the audit output of a configuration: nil for none,
// stdout for "stdout", else the file (appended to, created 0600). Close the
// returned closer at exit.
func OpenAudit(c config.Audit, stdout io.Writer, log *slog.Logger) (*Auditor, io.Closer, error) {
	switch c.Output {
	case "":
		return nil, io.NopCloser(nil), nil
	case config.AuditStdout:
		return NewAuditor(stdout, log), io.NopCloser(nil), nil
	}
	f, err := openAuditFile(c.Output)
	if err != nil {
		return nil, nil, err
	}
	a := NewAuditor(f, log)
	a.path, a.file = c.Output, f
	return a, a, nil
}

func openAuditFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit output: %w", err)
	}
	return f, nil
}

// Reopen closes and reopens the audit file (after logrotate moved it); a
// no-op for stdout. On error the old file stays in use.
func (a *Auditor) Reopen() error {
	if a == nil || a.path == "" {
		return nil
	}
	f, err := openAuditFile(a.path)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.file
	a.file, a.w = f, f
	a.mu.Unlock()
	return old.Close()
}

// Close closes the audit file, if any.
func (a *Auditor) Close() error {
	if a == nil || a.file == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.file.Close()
}

// Write records e, filling in Time. A line is written whole or not at
// all: after a short write to the audit file (disk full) the file is cut
// back to where the line began. A failure is logged and counted; the
// error is returned for callers that fail closed.
func (a *Auditor) Write(e AuditEvent) error {
	if a == nil {
		return nil
	}
	e.Time = a.now().UTC()
	line, err := json.Marshal(e)
	if err == nil {
		line = append(line, '\n')
		a.mu.Lock()
		err = a.writeLine(line)
		a.mu.Unlock()
	}
	if err != nil {
		if a.errors != nil {
			a.errors.Inc()
		}
		a.log.Error("write audit event", "err", err, "event", e.Event, "endpoint", e.Endpoint, "on_error_deny", a.deny)
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// writeLine writes line with one write call; on the audit file, a partial
// write is undone. Called with a.mu held.
func (a *Auditor) writeLine(line []byte) error {
	if a.file == nil {
		n, err := a.w.Write(line)
		if err == nil && n < len(line) {
			err = io.ErrShortWrite
		}
		return err
	}
	start, err := a.file.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	n, err := a.file.Write(line)
	if err != nil && n > 0 {
		if terr := a.file.Truncate(start); terr != nil {
			return errors.Join(err, fmt.Errorf("cut the partial line: %w", terr))
		}
	}
	return err
}

// Observe implements observe.Sink: it writes one line per event of a
// call (credential issued, issue failed, validation, probe, denial, rate
// limit, login-failure report) with the caller and peer the transport put
// in ctx. It returns errAuditFailed only for a CredentialIssued it could
// not write while failing closed (audit.on_error: deny): the domain then
// does not hand the credential out.
func (a *Auditor) Observe(ctx context.Context, ev observe.Event) error {
	if a == nil {
		return nil
	}
	e, ok := auditEvent(ctx, ev)
	if !ok {
		return nil
	}
	err := a.Write(e)
	if _, issued := ev.(observe.CredentialIssued); issued && err != nil && a.deny {
		return errAuditFailed
	}
	return nil
}

// auditEvent turns a domain event into its audit line; ok is false for
// events the audit trail does not record (metrics-only: token cache
// activity, reloads).
func auditEvent(ctx context.Context, ev observe.Event) (e AuditEvent, ok bool) {
	e = AuditEvent{CallerKind: "none", Outcome: OutcomeOK, Code: codes.OK.String()}
	if id, ok := caller.FromContext(ctx); ok {
		e.Caller, e.CallerKind = id.Name, string(id.Kind)
	}
	if o, ok := observe.OriginFrom(ctx); ok {
		e.Method, e.Peer = o.Method, o.PeerString()
	}
	switch v := ev.(type) {
	case observe.CredentialIssued:
		e.Event, e.Endpoint, e.DBUser = AuditCredentialIssued, v.Endpoint, v.DBUser
		switch v.Kind {
		case credential.KindIAMToken.String():
			e.CredentialKind = "iam_token"
		case credential.KindPassword.String():
			e.CredentialKind = "password"
		}
		if !v.ExpiresAt.IsZero() {
			t := v.ExpiresAt.UTC()
			e.ExpiresAt = &t
		}
	case observe.IssueFailed:
		e.Event, e.Endpoint, e.DBUser = AuditIssueFailed, v.Endpoint, v.DBUser
		failure(&e, v.Err)
	case observe.Validation:
		e.Event, e.Endpoint, e.DBUser = AuditValidation, v.Endpoint, v.DBUser
		if !v.OK {
			e.Outcome, e.Reason = OutcomeFailed, v.Reason
		}
	case observe.ValidationRefused:
		e.Event, e.Endpoint = AuditValidation, v.Endpoint
		failure(&e, v.Err)
	case observe.Probe:
		e.Event, e.Endpoint = AuditProbe, v.Endpoint
		failure(&e, v.Err)
	case observe.Preflight:
		e.Event, e.Endpoint = AuditPreflight, v.Endpoint
		if v.Err == nil {
			e.Reason = fmt.Sprintf("changes %s: status %s, %d apps, any_breaks=%t", strings.Join(v.Changes, ", "), v.Status, v.Apps, v.AnyBreaks)
		}
		failure(&e, v.Err)
	case observe.Denied:
		e.Event, e.Endpoint, e.DBUser = AuditDenied, v.Endpoint, v.DBUser
		failure(&e, v.Err)
	case observe.RateLimited:
		e.Event, e.Endpoint, e.DBUser = AuditDenied, v.Endpoint, v.DBUser
		failure(&e, v.Err)
	case observe.LoginFailureReported:
		e.Event, e.Endpoint, e.DBUser = AuditLoginFailureReported, v.Endpoint, v.DBUser
		if v.Err == nil {
			e.Reason = fmt.Sprintf("mysql_errno %d from driver %q; reread=%t changed=%t", v.Errno, v.Driver, v.Reread, v.Changed)
		}
		failure(&e, v.Err)
	default:
		return AuditEvent{}, false
	}
	return e, true
}

// failure fills in the code, outcome and safe reason of err (nil: none),
// as the caller sees them (toStatus); a denial or a rate limit is written
// as a denied event whatever the call.
func failure(e *AuditEvent, err error) {
	if err == nil {
		return
	}
	st := status.Convert(toStatus(err))
	e.Code = st.Code().String()
	switch st.Code() {
	case codes.OK:
	case codes.PermissionDenied, codes.Unauthenticated:
		e.Event, e.Outcome, e.Reason = AuditDenied, OutcomeDenied, st.Message()
	case codes.ResourceExhausted:
		e.Event, e.Outcome, e.Reason = AuditDenied, OutcomeRateLimited, st.Message()
	default:
		e.Outcome, e.Reason = OutcomeFailed, st.Message()
	}
}

// originUnary puts the call's origin (method, peer address) into the
// context, for the events the domain emits (package observe).
func originUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(withOrigin(ctx, info.FullMethod), req)
	}
}

// originStream is originUnary for streams.
func originStream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &ctxStream{ServerStream: ss, ctx: withOrigin(ss.Context(), info.FullMethod)})
	}
}

func withOrigin(ctx context.Context, method string) context.Context {
	o := observe.Origin{Method: method}
	if p, ok := peer.FromContext(ctx); ok {
		o.Peer = p.Addr
	}
	return observe.WithOrigin(ctx, o)
}

// endpointOfRequest is the endpoint a request names, "" if none.
func endpointOfRequest(req any) string {
	if r, ok := req.(interface{ GetEndpoint() string }); ok {
		return r.GetEndpoint()
	}
	return ""
}
