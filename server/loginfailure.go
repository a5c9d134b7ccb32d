package server

import (
	"context"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// AuditLoginFailureReported is the audit event of a ReportLoginFailure call.
const AuditLoginFailureReported = "login_failure_reported"

// ReportLoginFailure implements the RPC.
func (s *Server) ReportLoginFailure(ctx context.Context, req *v1.ReportLoginFailureRequest) (*v1.ReportLoginFailureResponse, error) {
	r, err := s.svc.ReportLoginFailure(ctx, req.GetEndpoint(), req.GetDriver(), req.GetMysqlErrno())
	if err != nil {
		return nil, s.fail(ctx, "ReportLoginFailure", err)
	}
	return &v1.ReportLoginFailureResponse{Reread: r.Reread, Changed: r.Changed}, nil
}
