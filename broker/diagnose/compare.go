package diagnose

import (
	"context"

	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// DriverCase is one driver, set up as the broker's hints set it up, with
// the options it is run with.
type DriverCase struct {
	// Key is the canonical driver name (broker/driver), e.g. "pymysql".
	Key string
	// Driver names the library for people, e.g. "PyMySQL".
	Driver string
	// Options names the variant that matters, e.g. "without cryptography".
	Options string
	// Profile is what the prober plays: derived from the rendered hints.
	Profile handshake.Profile
}

// DriverCases are the drivers Compare runs: every descriptor of
// broker/driver (the SQLAlchemy dialects excepted: they play their DBAPI
// driver) in each of its variants, with the handshake profile derived from
// the hints rendered for in, the endpoint's real host, port, dial address
// and TLS.
func DriverCases(in hints.Input) []DriverCase {
	var out []DriverCase
	for _, d := range driver.All() {
		if d.Wraps != "" {
			continue
		}
		h := d.Render(in)
		for _, v := range d.Variants() {
			out = append(out, DriverCase{Key: d.Name, Driver: d.DisplayName, Options: v.Label, Profile: d.Profile(h, v.Facts)})
		}
	}
	return out
}

// Prediction is how one driver fares against an endpoint.
type Prediction struct {
	// Case is the driver and options.
	Case DriverCase
	// Works is true when the prober, playing the driver, logged in.
	Works bool
	// Result is the prober's result.
	Result handshake.Result
	// Plugin is the last auth plugin used.
	Plugin string
	// TLS is true when the connection was upgraded.
	TLS bool
	// Finding is the first error finding, nil when it works.
	Finding *Finding
	// Transcript is the prober's transcript.
	Transcript *handshake.Transcript
}

// Compare runs base once per case (base.Profile is replaced, and base.TLS,
// the endpoint's own TLS configuration, becomes the case's: see
// handshake.Profile.TargetTLS; base.Addr is where drivers connect, the
// endpoint's dial address when it has one) and diagnoses
// each run with in (its Transcript and Err are replaced). Runs are
// sequential so a server's fast-auth cache and connection limits see what
// one client would do.
func Compare(ctx context.Context, p *handshake.Probe, base handshake.Target, in Input, cases []DriverCase) []Prediction {
	out := make([]Prediction, 0, len(cases))
	for _, c := range cases {
		t := base
		t.Profile = c.Profile
		t.GreetingOnly = false
		// The driver's own TLS, as its options set it up, built on the
		// endpoint's roots and server name.
		if tc, err := c.Profile.TargetTLS(base.TLS); err == nil {
			t.TLS = tc
		}
		tr, err := p.Run(ctx, t)
		d := in
		d.Transcript, d.Err = tr, err
		pr := Prediction{Case: c, Works: err == nil, Result: tr.Outcome.Result, Plugin: tr.Outcome.Plugin, TLS: tr.Outcome.TLS, Transcript: tr}
		if err != nil {
			for _, f := range Diagnose(d) {
				if f.Severity == SeverityError {
					pr.Finding = &f
					break
				}
			}
		}
		out = append(out, pr)
	}
	return out
}
