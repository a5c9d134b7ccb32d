package ui

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/validate"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// CaptureValidations returns a gRPC unary interceptor that keeps the full
// result of every ValidateConnection answered through the API (stages,
// findings, the transcript when the prober replayed the login) in v, so
// the endpoint page can draw it. It only reads the response the caller
// was already given (the policy applied), and the response holds no
// credential. Install it after the server's own interceptors.
func CaptureValidations(v *Validations) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil || info.FullMethod != v1.BrokerService_ValidateConnection_FullMethodName {
			return resp, err
		}
		if vr, ok := resp.(*v1.ValidateConnectionResponse); ok {
			for _, r := range vr.GetResults() {
				v.PutDetail(ResultFromProto(r), ViaAPI)
			}
		}
		return resp, err
	}
}

// enumWord turns an API enum value into the domain's word:
// EVENT_KIND_AUTH_SWITCH_REQUEST with prefix EVENT_KIND_ is
// "auth-switch-request" (the domain's strings are the enum names in lower
// case with dashes; server/enums.go holds the forward maps).
func enumWord(name, prefix string) string {
	name = strings.TrimPrefix(name, prefix)
	if name == "UNSPECIFIED" {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// ResultFromProto is the part of an API validation result the page shows,
// as a domain result.
func ResultFromProto(r *v1.EndpointValidation) validate.Result {
	out := validate.Result{
		Endpoint: r.GetEndpoint(), OK: r.GetOk(), ServerVersion: r.GetServerVersion(), CurrentUser: r.GetCurrentUser(),
		TLSVersion: r.GetTls().GetVersion(), TLSCipher: r.GetTls().GetCipher(), Reason: r.GetReason(),
		Transcript: TranscriptFromProto(r.GetTranscript()), Findings: findingsFromProto(r.GetFindings()),
	}
	if e := r.GetError(); e != nil {
		out.MySQLError = &handshake.ServerError{Code: uint16(e.GetNumber()), SQLState: e.GetSqlState(), Message: e.GetMessage()}
	}
	for _, st := range r.GetStages() {
		out.Stages = append(out.Stages, validate.Stage{Name: enumWord(st.GetName().String(), "STAGE_NAME_"), OK: st.GetOk(), Duration: st.GetDuration().AsDuration(), Error: st.GetError()})
	}
	for _, d := range r.GetDrivers() {
		p := diagnose.Prediction{Case: diagnose.DriverCase{Driver: d.GetDriver(), Options: d.GetOptions()}, Works: d.GetWorks(),
			Result: handshake.Result(enumWord(d.GetResult().String(), "HANDSHAKE_RESULT_")), Plugin: d.GetAuthPlugin(), TLS: d.GetTls()}
		if f := findingsFromProto([]*v1.Finding{d.GetFinding()}); d.GetFinding() != nil && len(f) == 1 {
			p.Finding = &f[0]
		}
		out.Drivers = append(out.Drivers, p)
	}
	return out
}

func findingsFromProto(fs []*v1.Finding) []diagnose.Finding {
	var out []diagnose.Finding
	for _, f := range fs {
		if f == nil {
			continue
		}
		out = append(out, diagnose.Finding{Code: f.GetCode(), Severity: diagnose.Severity(enumWord(f.GetSeverity().String(), "FINDING_SEVERITY_")), Cause: f.GetCause(), Fix: f.GetFix()})
	}
	return out
}

// TranscriptFromProto is the API's transcript as the domain's, for the
// sequence diagram; nil for nil.
func TranscriptFromProto(t *v1.Transcript) *handshake.Transcript {
	if t == nil {
		return nil
	}
	out := &handshake.Transcript{Addr: t.GetAddr(), User: t.GetUser(), Profile: t.GetProfile(),
		Outcome: handshake.Outcome{Result: handshake.Result(enumWord(t.GetResult().String(), "HANDSHAKE_RESULT_")), Plugin: t.GetAuthPlugin(), TLS: t.GetTls()}}
	for _, e := range t.GetEvents() {
		out.Events = append(out.Events, handshake.Event{At: e.GetAt().AsDuration(), Dir: handshake.Direction(enumWord(e.GetDirection().String(), "EVENT_DIRECTION_")),
			Kind: handshake.Kind(enumWord(e.GetKind().String(), "EVENT_KIND_")), Summary: e.GetSummary(), Fields: e.GetFields()})
	}
	return out
}
