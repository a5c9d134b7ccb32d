package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Audit event names.
const (
	AuditCredentialIssued = "credential_issued"
	AuditValidation       = "validation"
	AuditDenied           = "denied"
	AuditIssueFailed      = "issue_failed"
	AuditProbe            = "probe"
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
	// Event is credential_issued, validation, probe, denied or
	// issue_failed.
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

// Auditor writes audit events as JSON lines. It is safe for concurrent use;
// a nil *Auditor writes nothing.
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

// issue writes the event of a credential about to be sent. It returns
// errAuditFailed when the write fails and the auditor fails closed.
func (a *Auditor) issue(e AuditEvent) error {
	if err := a.Write(e); err != nil && a.deny {
		return errAuditFailed
	}
	return nil
}

// baseEvent fills in who called, from where, and how the call ended.
func baseEvent(ctx context.Context, method string, err error) AuditEvent {
	e := AuditEvent{Method: method, CallerKind: "none", Outcome: OutcomeOK}
	if id, ok := caller.FromContext(ctx); ok {
		e.Caller, e.CallerKind = id.Name, string(id.Kind)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		e.Peer = p.Addr.String()
	}
	st := status.Convert(err)
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
	return e
}

// auditUnary writes one event per GetConnectionParams call and one per
// endpoint of a ValidateConnection call (or one for its refusal).
func auditUnary(a *Auditor, cfg func() *config.Config) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		markAudited(ctx)
		resp, err := handler(ctx, req)
		if a == nil {
			return resp, err
		}
		switch r := req.(type) {
		case *v1.GetConnectionParamsRequest:
			e := baseEvent(ctx, info.FullMethod, err)
			e.Endpoint = r.GetEndpoint()
			if ep := cfg().Endpoints[e.Endpoint]; ep != nil {
				e.DBUser = ep.User
			}
			if err == nil {
				p := resp.(*v1.GetConnectionParamsResponse).GetParams()
				e.Event, e.DBUser = AuditCredentialIssued, p.GetUser()
				fillCredential(&e, p.GetCredential())
				if aerr := a.issue(e); aerr != nil {
					return nil, toStatus(aerr) // fail closed: the credential is not sent
				}
				return resp, nil
			}
			if e.Event == "" {
				e.Event = AuditIssueFailed
			}
			a.Write(e)
		case *v1.ValidateConnectionRequest:
			auditValidation(ctx, a, cfg(), info.FullMethod, r, resp, err)
		case *v1.ReportLoginFailureRequest:
			auditLoginFailure(ctx, a, cfg(), info.FullMethod, r, resp, err)
		case *v1.ProbeEndpointRequest:
			e := baseEvent(ctx, info.FullMethod, err)
			if e.Event == "" {
				e.Event = AuditProbe
			}
			e.Endpoint = r.GetEndpoint()
			a.Write(e)
		}
		return resp, err
	}
}

func fillCredential(e *AuditEvent, c *v1.Credential) {
	switch c.GetKind() {
	case v1.CredentialKind_CREDENTIAL_KIND_IAM_TOKEN:
		e.CredentialKind = "iam_token"
	case v1.CredentialKind_CREDENTIAL_KIND_PASSWORD:
		e.CredentialKind = "password"
	}
	if c.GetExpiresAt() != nil {
		t := c.GetExpiresAt().AsTime().UTC()
		e.ExpiresAt = &t
	}
}

func auditValidation(ctx context.Context, a *Auditor, cfg *config.Config, method string, req *v1.ValidateConnectionRequest, resp any, err error) {
	if err != nil {
		e := baseEvent(ctx, method, err)
		if e.Event == "" {
			e.Event = AuditValidation
		}
		if st, ok := status.FromError(err); ok {
			e.Endpoint = endpointOf(st)
		}
		a.Write(e)
		return
	}
	for _, r := range resp.(*v1.ValidateConnectionResponse).GetResults() {
		e := baseEvent(ctx, method, nil)
		e.Event, e.Endpoint = AuditValidation, r.GetEndpoint()
		if ep := cfg.Endpoints[e.Endpoint]; ep != nil {
			e.DBUser = ep.User
		}
		if !r.GetOk() {
			e.Outcome, e.Reason = OutcomeFailed, r.GetReason()
		}
		a.Write(e)
	}
}

// endpointOf returns the endpoint named in a status's ErrorInfo.
func endpointOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetMetadata() map[string]string }); ok {
			if ep := info.GetMetadata()["endpoint"]; ep != "" {
				return ep
			}
		}
	}
	return ""
}

// auditedKey marks a context whose call reached auditUnary or auditStream.
type auditedKey struct{}

func markAudited(ctx context.Context) {
	if p, ok := ctx.Value(auditedKey{}).(*bool); ok {
		*p = true
	}
}

// auditUnauthenticatedUnary runs before the caller is identified, so a
// call refused there (a client certificate without a usable identity:
// UNAUTHENTICATED) is audited as denied. Calls that reach auditUnary are
// audited there, not twice.
func auditUnauthenticatedUnary(a *Auditor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if a == nil {
			return handler(ctx, req)
		}
		audited := new(bool)
		resp, err := handler(context.WithValue(ctx, auditedKey{}, audited), req)
		if err != nil && !*audited {
			e := baseEvent(ctx, info.FullMethod, err)
			if e.Event == "" {
				e.Event = AuditDenied
			}
			if r, ok := req.(interface{ GetEndpoint() string }); ok {
				e.Endpoint = r.GetEndpoint()
			}
			a.Write(e)
		}
		return resp, err
	}
}

// auditUnauthenticatedStream is auditUnauthenticatedUnary for streams.
func auditUnauthenticatedStream(a *Auditor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if a == nil {
			return handler(srv, ss)
		}
		audited := new(bool)
		err := handler(srv, &ctxStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), auditedKey{}, audited)})
		if err != nil && !*audited {
			e := baseEvent(ss.Context(), info.FullMethod, err)
			if e.Event == "" {
				e.Event = AuditDenied
			}
			a.Write(e)
		}
		return err
	}
}
