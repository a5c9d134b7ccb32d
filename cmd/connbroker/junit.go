package main

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// JUnit XML as read by Jenkins, GitLab, GitHub Actions reporters and
// Buildkite: one <testsuite> for the validation run, one <testcase> per
// endpoint, a <failure> when its login failed. Secrets never appear: the
// validation response carries none.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// printJUnit writes r as a JUnit XML report.
func printJUnit(g *globals, r *v1.ValidateConnectionResponse, started time.Time) error {
	suite := junitSuite{Name: "connbroker validate", Timestamp: started.UTC().Format(time.RFC3339)}
	var total time.Duration
	for _, e := range r.GetResults() {
		var d time.Duration
		var lines []string
		for _, s := range e.GetStages() {
			sd := s.GetDuration().AsDuration()
			d += sd
			mark := "ok"
			if !s.GetOk() {
				mark = "FAILED: " + s.GetError()
			}
			lines = append(lines, fmt.Sprintf("%-10s %8s  %s", s.GetName().Label(), sd.Round(time.Microsecond), mark))
		}
		if e.GetServerVersion() != "" {
			lines = append(lines, "server "+e.GetServerVersion())
		}
		if e.GetCurrentUser() != "" {
			lines = append(lines, "logged in as "+e.GetCurrentUser())
		}
		if t := e.GetTls(); t != nil {
			lines = append(lines, "tls "+t.GetVersion()+" "+t.GetCipher())
		}
		total += d
		c := junitCase{ClassName: "connbroker.validate", Name: e.GetEndpoint(), Time: seconds(d), SystemOut: strings.Join(lines, "\n")}
		if !e.GetOk() {
			suite.Failures++
			f := &junitFailure{Message: e.GetReason(), Type: "validation", Text: strings.Join(lines, "\n")}
			if me := e.GetError(); me != nil {
				f.Type = fmt.Sprintf("MySQL %d (%s)", me.GetNumber(), me.GetSqlState())
				f.Text += fmt.Sprintf("\nMySQL %d (%s): %s", me.GetNumber(), me.GetSqlState(), me.GetMessage())
			}
			c.Failure = f
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	suite.Time = seconds(total)
	doc := junitSuites{Name: "connbroker", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err = fmt.Fprintf(outOf(g), "%s%s\n", xml.Header, b)
	return err
}
