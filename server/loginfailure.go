package server

import (
	"context"
	"fmt"

	"github.com/connbroker/connbroker/broker/config"
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

// auditLoginFailure writes one event per ReportLoginFailure call: who
// reported which endpoint, the error number and what the broker did.
func auditLoginFailure(ctx context.Context, a *Auditor, cfg *config.Config, method string, r *v1.ReportLoginFailureRequest, resp any, err error) {
	e := baseEvent(ctx, method, err)
	if e.Event == "" {
		e.Event = AuditLoginFailureReported
	}
	e.Endpoint = r.GetEndpoint()
	if ep := cfg.Endpoints[e.Endpoint]; ep != nil {
		e.DBUser = ep.User
	}
	if err == nil {
		out := resp.(*v1.ReportLoginFailureResponse)
		e.Reason = fmt.Sprintf("mysql_errno %d from driver %q; reread=%t changed=%t", r.GetMysqlErrno(), r.GetDriver(), out.GetReread(), out.GetChanged())
	}
	a.Write(e)
}
