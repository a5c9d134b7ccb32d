package handshake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Direction says who produced an event.
type Direction string

// Directions of transcript events.
const (
	FromServer Direction = "server"
	FromClient Direction = "client"
	Local      Direction = "local"
)

// Kind classifies transcript events; values are stable for diagnosis.
type Kind string

// Event kinds.
const (
	KindDial              Kind = "dial"
	KindGreeting          Kind = "greeting"
	KindSSLRequest        Kind = "ssl-request"
	KindTLS               Kind = "tls"
	KindTLSFallback       Kind = "tls-fallback"
	KindTLSPreferred      Kind = "tls-preferred"
	KindHandshakeResponse Kind = "handshake-response"
	KindAuthSwitchRequest Kind = "auth-switch-request"
	KindAuthResponse      Kind = "auth-response"
	KindFastAuthSuccess   Kind = "fast-auth-success"
	KindFullAuthRequired  Kind = "full-auth-required"
	KindRSAKeyRequest     Kind = "rsa-key-request"
	KindRSAKeyReceived    Kind = "rsa-key-received"
	KindAuthMoreData      Kind = "auth-more-data"
	KindWarning           Kind = "warning"
	KindOK                Kind = "ok"
	KindERR               Kind = "err"
	KindStop              Kind = "stop"
	KindError             Kind = "error"
	KindQuit              Kind = "quit"
	KindOutcome           Kind = "outcome"
)

// Event is one step of the connection phase. Fields never hold the secret
// nor anything derived from it.
type Event struct {
	// At is the time since the probe started.
	At time.Duration
	// Dir is who produced the event.
	Dir Direction
	// Kind classifies the event.
	Kind Kind
	// Summary is one readable line.
	Summary string
	// Fields hold the event's details, e.g. "plugin", "code", "sqlstate".
	Fields map[string]string
}

// Result is the overall result of a probe.
type Result string

// Results.
const (
	ResultOK          Result = "ok"           // the server sent OK
	ResultServerError Result = "server-error" // the server sent ERR
	ResultStopped     Result = "stopped"      // the profiled driver could not go on
	ResultFailed      Result = "failed"       // network, protocol or TLS failure
	ResultGreeted     Result = "greeted"      // Target.GreetingOnly: greeting (and TLS) done, no login
)

// Outcome sums up a probe.
type Outcome struct {
	// Result is the overall result.
	Result Result
	// Plugin is the last auth plugin in use.
	Plugin string
	// TLS is true when the connection was upgraded to TLS.
	TLS bool
	// Server is the ERR the server sent, for ResultServerError.
	Server *ServerError
	// Stop is why the driver would stop, for ResultStopped.
	Stop *StopReason
	// Err is the failure, for ResultFailed and ResultStopped.
	Err error
}

// Transcript is what a Probe saw and did.
type Transcript struct {
	// Addr is the target address.
	Addr string
	// User is the login name.
	User string
	// Profile is the name of the emulated driver.
	Profile string
	// Greeting is the parsed greeting, if one arrived.
	Greeting *Greeting
	// Events are in order.
	Events []Event
	// Outcome sums up the probe.
	Outcome Outcome

	start time.Time
	now   func() time.Time
}

func (t *Transcript) add(dir Direction, kind Kind, summary string, fields map[string]string) {
	t.Events = append(t.Events, Event{At: t.now().Sub(t.start), Dir: dir, Kind: kind, Summary: summary, Fields: fields})
}

// Kinds lists the event kinds in order, handy for tests and summaries.
func (t *Transcript) Kinds() []Kind {
	out := make([]Kind, len(t.Events))
	for i, e := range t.Events {
		out[i] = e.Kind
	}
	return out
}

// Find returns the first event of kind k.
func (t *Transcript) Find(k Kind) (Event, bool) {
	for _, e := range t.Events {
		if e.Kind == k {
			return e, true
		}
	}
	return Event{}, false
}

// String renders one line per event:
//
//	+1.2ms server greeting       MySQL 8.0.36 plugin=caching_sha2_password ... [key=value ...]
func (t *Transcript) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "probe %s user=%s as %s\n", t.Addr, t.User, t.Profile)
	for _, e := range t.Events {
		fmt.Fprintf(&b, "%+9.3fms %-6s %-20s %s", float64(e.At.Microseconds())/1000, e.Dir, e.Kind, e.Summary)
		if len(e.Fields) > 0 {
			b.WriteString(" [")
			for i, k := range slices.Sorted(maps.Keys(e.Fields)) {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%s=%q", k, e.Fields[k])
			}
			b.WriteByte(']')
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Stop reason codes, stable for diagnosis.
const (
	StopUnsupportedPlugin           = "unsupported-plugin"
	StopPluginDependencyMissing     = "plugin-dependency-missing"
	StopClearTextOptInMissing       = "cleartext-optin-missing"
	StopClearTextWithoutTLS         = "cleartext-without-tls"
	StopRSAUnavailable              = "rsa-unavailable"
	StopRSAKeyRetrievalDisabled     = "rsa-key-retrieval-disabled"
	StopFullAuthClearTextWithoutTLS = "full-auth-cleartext-without-tls"
	StopServerLacksTLS              = "server-lacks-tls"
)

// StopReason says why the emulated driver could not continue.
type StopReason struct {
	// Code is one of the Stop* constants.
	Code string
	// Plugin is the plugin involved, if any.
	Plugin string
	// Detail says what happened, in plain words.
	Detail string
	// Fix is the driver-specific remedy from the Profile, if known.
	Fix string
}
