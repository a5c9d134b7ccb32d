package ui

import (
	"context"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/broker/validate"
)

// LastValidation is what the page knows about an endpoint's most recent
// validation: the verdict every validation reports through the domain's
// observation hook, whoever asked for it (API, CLI, the page).
type LastValidation struct {
	// At is when the validation was reported.
	At time.Time
	// OK is true when the login and the query worked.
	OK bool
	// Finding is the first failed stage ("credential", "dial", "tls",
	// "auth", "query", "resolve", "wait"); empty when OK.
	Finding string
}

// DetailedValidation is the full result of an endpoint's last validation
// run by the page ("validate now") or answered through the API
// (CaptureValidations): the stages, findings and, when the prober
// replayed the login, the handshake transcript. The observation hook
// carries only verdicts.
type DetailedValidation struct {
	// At is when the validation finished.
	At time.Time
	// Via says who asked: ViaPage or ViaAPI.
	Via string
	// Result is the broker's result. It never holds a secret: the
	// credential is not part of it.
	Result validate.Result
}

// Validations keeps, in memory, the last validation of each endpoint. It
// is safe for concurrent use. Feed it by wrapping the daemon's recorder
// with Tee, and (for the page's own validations) with PutDetail. Its
// size is bounded by the number of endpoint names ever validated.
type Validations struct {
	now func() time.Time

	mu       sync.Mutex
	last     map[string]LastValidation
	detailed map[string]DetailedValidation
	pageRuns map[string]time.Time // when the page last started a validation, per endpoint
}

// NewValidations returns an empty store.
func NewValidations() *Validations {
	return &Validations{now: time.Now, last: map[string]LastValidation{}, detailed: map[string]DetailedValidation{}, pageRuns: map[string]time.Time{}}
}

// Last returns the last validation reported for endpoint.
func (v *Validations) Last(endpoint string) (LastValidation, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	l, ok := v.last[endpoint]
	return l, ok
}

// Detail returns the last full result the page recorded for endpoint.
func (v *Validations) Detail(endpoint string) (DetailedValidation, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d, ok := v.detailed[endpoint]
	return d, ok
}

// Who asked for a detailed validation.
const (
	// ViaPage is the page's "validate now" button.
	ViaPage = "this page"
	// ViaAPI is a ValidateConnection call.
	ViaAPI = "the API"
)

// PutDetail records res as its endpoint's last detailed validation, asked
// for via (ViaPage, ViaAPI).
func (v *Validations) PutDetail(res validate.Result, via string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.detailed[res.Endpoint] = DetailedValidation{At: v.now(), Via: via, Result: res}
}

// startPageRun reports whether the page may start a validation of
// endpoint now (at most one per endpoint per every), and if so notes it.
// When not, wait says how long until it may.
func (v *Validations) startPageRun(endpoint string, every time.Duration) (ok bool, wait time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if last, seen := v.pageRuns[endpoint]; seen && now.Sub(last) < every {
		return false, every - now.Sub(last)
	}
	v.pageRuns[endpoint] = now
	return true, 0
}

// record is the hook's Validation event.
func (v *Validations) record(endpoint string, ok bool, finding string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last[endpoint] = LastValidation{At: v.now(), OK: ok, Finding: finding}
}

// Observe implements observe.Sink: it keeps each endpoint's last
// validation verdict from the domain's event stream (subscribe it with
// broker.Service.Subscribe).
func (v *Validations) Observe(_ context.Context, e observe.Event) error {
	if ev, ok := e.(observe.Validation); ok {
		v.record(ev.Endpoint, ev.OK, ev.Finding)
	}
	return nil
}

// Tee returns a recorder that reports every event to next (nil: none)
// and also keeps each endpoint's last validation verdict in v. Install
// it with broker.Service.SetRecorder in place of next.
func (v *Validations) Tee(next observe.Recorder) observe.Recorder {
	if next == nil {
		next = observe.Nop{}
	}
	return tee{Recorder: next, v: v}
}

// tee forwards every observe.Recorder event and keeps validations.
type tee struct {
	observe.Recorder
	v *Validations
}

// Validation implements observe.Recorder.
func (t tee) Validation(endpoint string, ok bool, finding string) {
	t.v.record(endpoint, ok, finding)
	t.Recorder.Validation(endpoint, ok, finding)
}
