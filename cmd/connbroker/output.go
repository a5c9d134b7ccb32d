package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

const redacted = "[REDACTED]"

var jsonOpts = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}

func printJSON(g *globals, m proto.Message) error {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = fmt.Fprintln(outOf(g), string(b))
	return err
}

func printParams(g *globals, p *v1.ConnectionParams, showSecret bool) error {
	p = proto.Clone(p).(*v1.ConnectionParams)
	if !showSecret && p.GetCredential() != nil {
		p.Credential.Secret = redacted
	}
	if g.output == "json" {
		return printJSON(g, p)
	}
	w := tabwriter.NewWriter(outOf(g), 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("endpoint", p.GetEndpoint())
	row("address", fmt.Sprintf("%s:%d", p.GetHost(), p.GetPort()))
	row("user", p.GetUser())
	row("database", p.GetDatabase())
	c := p.GetCredential()
	row("credential", fmt.Sprintf("%s (%s)", strings.TrimPrefix(c.GetKind().String(), "CREDENTIAL_KIND_"), c.GetSource()))
	row("secret", c.GetSecret())
	if c.GetExpiresAt() != nil {
		row("expires_at", c.GetExpiresAt().AsTime().Format("2006-01-02T15:04:05Z07:00"))
		row("refresh_after", c.GetRefreshAfter().AsTime().Format("2006-01-02T15:04:05Z07:00"))
	}
	row("auth_plugin", p.GetResolution().GetPlugin())
	t := p.GetTls()
	row("tls", fmt.Sprintf("%s (server name %q, CA: %s)", strings.TrimPrefix(t.GetMode().String(), "TLS_MODE_"), t.GetServerName(), caSummary(t.GetCaPem())))
	for _, e := range p.GetResolution().GetEvidence() {
		row("evidence", e.GetSource().Label()+": "+e.GetDetail())
	}
	if h := p.GetHints(); h != nil {
		row("driver", h.GetDriver()+" (>= "+h.GetMinVersion()+")")
		for _, o := range h.GetOptions() {
			row("  option "+o.GetName(), fmt.Sprint(o.Any()))
		}
		row("  secret goes in", h.GetSecretOption())
		if h.GetDsn() != "" {
			row("  dsn", h.GetDsn())
		}
		for _, e := range h.GetEnv() {
			row("  env", e.GetName()+"="+e.GetValue()+"  # "+e.GetReason())
		}
		if len(h.GetPackages()) > 0 {
			row("  packages", strings.Join(h.GetPackages(), " "))
		}
		for _, wn := range h.GetWarnings() {
			row("  warning", wn)
		}
	}
	return w.Flush()
}

func caSummary(pem string) string {
	if pem == "" {
		return "system trust store"
	}
	return fmt.Sprintf("%d certificate(s) in tls.ca_pem", strings.Count(pem, "BEGIN CERTIFICATE"))
}

// printTable prints r as JSON with -o json; otherwise a table on g's
// output: the tab-separated header, then the rows fill writes, aligned.
func printTable(g *globals, r proto.Message, header string, fill func(w io.Writer)) error {
	if g.output == "json" {
		return printJSON(g, r)
	}
	w := tabwriter.NewWriter(outOf(g), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	fill(w)
	return w.Flush()
}

func printValidation(g *globals, r *v1.ValidateConnectionResponse) error {
	if err := printTable(g, r, "ENDPOINT\tRESULT\tUSER\tTLS\tSTAGES\tREASON", func(w io.Writer) { validationRows(w, r) }); err != nil || g.output == "json" {
		return err
	}
	printValidationFindings(outOf(g), r)
	return nil
}

func validationRows(w io.Writer, r *v1.ValidateConnectionResponse) {
	for _, e := range r.GetResults() {
		res := "OK"
		if !e.GetOk() {
			res = "FAIL"
		}
		tlsInfo := "-"
		if t := e.GetTls(); t != nil {
			tlsInfo = t.GetVersion()
		}
		var st []string
		for _, s := range e.GetStages() {
			mark := ""
			if !s.GetOk() {
				mark = "!"
			}
			st = append(st, fmt.Sprintf("%s%s %s", s.GetName().Label(), mark, s.GetDuration().AsDuration().Round(100_000)))
		}
		reason := e.GetReason()
		if me := e.GetError(); me != nil {
			reason = fmt.Sprintf("%s [MySQL %d (%s): %s]", reason, me.GetNumber(), me.GetSqlState(), me.GetMessage())
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.GetEndpoint(), res, dash(e.GetCurrentUser()), tlsInfo, strings.Join(st, ", "), reason)
	}
}

func printEndpoints(g *globals, r *v1.ListEndpointsResponse) error {
	return printTable(g, r, "NAME\tADDRESS\tUSER\tDATABASE\tAUTH\tTLS\tSOURCE", func(w io.Writer) {
		for _, e := range r.GetEndpoints() {
			fmt.Fprintf(w, "%s\t%s:%d\t%s\t%s\t%s\t%s\t%s\n", e.GetName(), e.GetHost(), e.GetPort(), e.GetUser(), dash(e.GetDatabase()),
				strings.ToLower(strings.TrimPrefix(e.GetAuthMethod().String(), "AUTH_METHOD_")),
				strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.GetTlsMode().String(), "TLS_MODE_"), "_", "-")), dash(e.GetSource()))
		}
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func outOf(g *globals) io.Writer { return g.out }
