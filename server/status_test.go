package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/rdshost"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestReasonsAreEnumNames checks that every ErrorInfo reason the broker
// sends is the name of a v1.ErrorReason value, and that every value but
// UNSPECIFIED is sent for some error, so clients can map all of them.
func TestReasonsAreEnumNames(t *testing.T) {
	reasons := []string{ReasonEndpointNotFound, ReasonInvalidArgument, ReasonCredentialUnavailable, ReasonInternal,
		ReasonAuthUndecided, ReasonPermissionDenied, ReasonRateLimited, ReasonUnauthenticated, ReasonAuditUnavailable, ReasonInventoryOff}
	seen := map[string]bool{}
	for _, r := range reasons {
		if _, ok := v1.ErrorReason_value[r]; !ok {
			t.Errorf("reason %q is not a v1.ErrorReason value name", r)
		}
		seen[r] = true
	}
	for name, n := range v1.ErrorReason_value {
		if n != 0 && !seen[name] {
			t.Errorf("v1.ErrorReason %s has no Reason constant: toStatus never sends it", name)
		}
	}
}

// TestEnumsCover checks that each domain-to-enum table reaches every value
// of its proto enum (but UNSPECIFIED, and MYSQL for the non-RDS names), once:
// a value added to the proto without a domain counterpart, or two domain
// values sent as one, fails here.
func TestEnumsCover(t *testing.T) {
	cover := func(name string, got []protoreflect.EnumNumber, desc protoreflect.EnumDescriptor, extra ...protoreflect.EnumNumber) {
		t.Helper()
		seen := map[protoreflect.EnumNumber]bool{}
		for _, n := range append(got, extra...) {
			if n == 0 {
				t.Errorf("%s: a domain value maps to UNSPECIFIED", name)
			}
			if seen[n] {
				t.Errorf("%s: %s is sent for two domain values", name, desc.Values().ByNumber(n).Name())
			}
			seen[n] = true
		}
		for i := range desc.Values().Len() {
			if v := desc.Values().Get(i); v.Number() != 0 && !seen[v.Number()] {
				t.Errorf("%s: %s is never sent", name, v.Name())
			}
		}
	}
	cover("HandshakeResult", numbers(handshakeResults), v1.HandshakeResult(0).Descriptor())
	cover("EventDirection", numbers(eventDirections), v1.EventDirection(0).Descriptor())
	cover("EventKind", numbers(eventKinds), v1.EventKind(0).Descriptor())
	cover("EndpointKind", numbers(endpointKinds), v1.EndpointKind(0).Descriptor(), protoreflect.EnumNumber(v1.EndpointKind_ENDPOINT_KIND_MYSQL))
	cover("AWSPartition", numbers(partitions), v1.AWSPartition(0).Descriptor())
	cover("StageName", numbers(stageNames), v1.StageName(0).Descriptor())
	cover("EvidenceSource", numbers(evidenceSources), v1.EvidenceSource(0).Descriptor())
	cover("AuthMethod", numbers(authMethods), v1.AuthMethod(0).Descriptor())
	cover("TLSMode", numbers(tlsModes), v1.TLSMode(0).Descriptor())
	cover("WatchReason", numbers(watchReasons), v1.WatchReason(0).Descriptor())
}

func numbers[K comparable, E interface {
	Number() protoreflect.EnumNumber
}](m map[K]E) []protoreflect.EnumNumber {
	out := make([]protoreflect.EnumNumber, 0, len(m))
	for _, e := range m {
		out = append(out, e.Number())
	}
	return out
}

// TestEnumsKnowEveryDomainValue reads the constants of the domain types
// that the API sends as enums (broker/handshake Result, Direction, Kind;
// broker/rdshost Kind) from their source, and checks that each has an enum
// value: a constant added to the domain without one would be sent as
// UNSPECIFIED.
func TestEnumsKnowEveryDomainValue(t *testing.T) {
	consts := func(dir, typ string) []string {
		t.Helper()
		fset := token.NewFileSet()
		var out []string
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
						continue
					}
					for _, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							out = append(out, s)
						}
					}
				}
			}
		}
		if len(out) == 0 {
			t.Fatalf("no %s constants found in %s", typ, dir)
		}
		return out
	}
	for _, tc := range []struct {
		dir, typ string
		known    func(string) bool
	}{
		{"../broker/handshake", "Result", func(s string) bool { _, ok := handshakeResults[handshake.Result(s)]; return ok }},
		{"../broker/handshake", "Direction", func(s string) bool { _, ok := eventDirections[handshake.Direction(s)]; return ok }},
		{"../broker/handshake", "Kind", func(s string) bool { _, ok := eventKinds[handshake.Kind(s)]; return ok }},
		{"../broker/rdshost", "Kind", func(s string) bool { _, ok := endpointKinds[rdshost.Kind(s)]; return ok }},
	} {
		for _, c := range consts(tc.dir, tc.typ) {
			if !tc.known(c) {
				t.Errorf("%s %s %q has no enum value in server/enums.go (and broker.proto)", filepath.Base(tc.dir), tc.typ, c)
			}
		}
	}
}

// TestStageNamesKnown finds every validate.Stage literal with a Name in the
// broker's source and checks the name has a StageName.
func TestStageNamesKnown(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("../broker/*.go")
	more, _ := filepath.Glob("../broker/validate/*.go")
	found := 0
	for _, name := range append(files, more...) {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			switch typ := cl.Type.(type) {
			case *ast.Ident:
				if typ.Name != "Stage" {
					return true
				}
			case *ast.SelectorExpr:
				if typ.Sel.Name != "Stage" {
					return true
				}
			default:
				return true
			}
			for _, el := range cl.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if key, isIdent := kv.Key.(*ast.Ident); !ok || !isIdent || key.Name != "Name" {
					continue
				}
				if lit, isLit := kv.Value.(*ast.BasicLit); isLit && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					found++
					if stageNameToProto(s) == v1.StageName_STAGE_NAME_UNSPECIFIED {
						t.Errorf("%s: stage %q has no StageName", fset.Position(lit.Pos()), s)
					}
				}
			}
			return true
		})
	}
	if found < 5 {
		t.Fatalf("found only %d stage literals: the scan is broken", found)
	}
}

// TestEvidenceSourcesKnown finds the evidence sources the domain cites
// (ev("source", ...) in broker/resolve, Evidence{Source: "..."} in broker)
// and checks each has an EvidenceSource.
func TestEvidenceSourcesKnown(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("../broker/*.go")
	more, _ := filepath.Glob("../broker/resolve/*.go")
	found := 0
	check := func(lit ast.Expr) {
		if bl, ok := lit.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			s, _ := strconv.Unquote(bl.Value)
			found++
			if _, ok := evidenceSources[s]; !ok {
				t.Errorf("%s: evidence source %q has no EvidenceSource", fset.Position(bl.Pos()), s)
			}
		}
	}
	for _, name := range append(files, more...) {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "ev" && len(x.Args) > 0 {
					check(x.Args[0])
				}
			case *ast.CompositeLit:
				if id, ok := x.Type.(*ast.Ident); ok && id.Name == "Evidence" {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Source" {
								check(kv.Value)
							}
						}
					}
				}
			}
			return true
		})
	}
	if found < 5 {
		t.Fatalf("found only %d evidence sources: the scan is broken", found)
	}
}
