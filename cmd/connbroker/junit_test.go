package main

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	cmdline "github.com/connbroker/connbroker/internal/cli"
)

// TestValidateJUnit runs the deploy gate against a real MariaDB through a
// real broker and reads the report back as JUnit XML.
func TestValidateJUnit(t *testing.T) {
	br, _ := startStack(t)
	code, out, errOut := cli("--broker="+br.Addr, "validate", "--all", "-o", "junit")
	if code != cmdline.Failed {
		t.Fatalf("exit %d, want %d: %s", code, cmdline.Failed, errOut)
	}
	if !strings.HasPrefix(out, xml.Header) {
		t.Errorf("no XML header:\n%s", out)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Class   string `xml:"classname,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	type tc struct{ Name, Class, FailureType string }
	var got []tc
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			ft := ""
			if c.Failure != nil {
				ft = c.Failure.Type
				if !strings.HasPrefix(c.Failure.Message, "access-denied: ") {
					t.Errorf("failure message %q is not the verdict (the primary finding)", c.Failure.Message)
				}
			}
			got = append(got, tc{c.Name, c.Class, ft})
		}
	}
	want := []tc{
		{"broken", "connbroker.validate", "MySQL 1045 (28000)"},
		{"local-native", "connbroker.validate", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("test cases (-want +got):\n%s", diff)
	}
	if doc.Tests != 2 || doc.Failures != 1 {
		t.Errorf("tests=%d failures=%d, want 2 and 1", doc.Tests, doc.Failures)
	}
	if strings.Contains(out, "wrong-password-xyz") {
		t.Error("report contains the password")
	}

	code, _, errOut = cli("--broker="+br.Addr, "validate", "local-native", "-o", "junit")
	if code != cmdline.OK {
		t.Errorf("one good endpoint: exit %d: %s", code, errOut)
	}
	code, _, errOut = cli("--broker="+br.Addr, "params", "local-native", "-o", "junit")
	if code != cmdline.Usage || !strings.Contains(errOut, "use table or json") {
		t.Errorf("params -o junit: exit %d, stderr %q; want usage error", code, errOut)
	}
}
