// Package ui serves the read-only fleet page at /ui/ on the metrics
// listener: the endpoints a caller may use with their last validation,
// each endpoint's handshake transcript drawn as a sequence diagram, its
// findings, the inventory of the apps that use it and a preflight form.
//
// The pages are rendered on the server with html/template; the style sheet
// is embedded; nothing is loaded from anywhere else and no JavaScript is
// needed. Access follows the API's identity rules: with caller identities
// in use (tls.client_ca, unix.path) a page shows only the endpoints the
// client certificate's identity may get under the policy, and a request
// without a verified certificate gets nothing; without identities (--dev)
// only loopback clients are served. No page ever holds a credential: the
// handler never asks the broker for one.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/validate"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Fleet is what the page needs from the broker (a *broker.Service).
type Fleet interface {
	// Config is the current configuration.
	Config() *config.Config
	// VisibleEndpoints are the endpoints the caller in ctx may get.
	VisibleEndpoints(ctx context.Context) []*config.Endpoint
	// Validate logs in to endpoints for the caller in ctx.
	Validate(ctx context.Context, req broker.ValidateRequest) ([]validate.Result, error)
}

var _ Fleet = (*broker.Service)(nil)

// InventoryRow is one application environment seen using an endpoint.
type InventoryRow struct {
	// Caller is the caller identity that asked for the endpoint.
	Caller string
	// Driver and Version are the app's driver, e.g. "PyMySQL" "1.0.2".
	Driver, Version string
	// ClientLibrary is the native library a driver links, if any.
	ClientLibrary string
	// FirstSeen and LastSeen bound the reports; Count counts them.
	FirstSeen, LastSeen time.Time
	Count               int64
}

// InventoryLister lists the apps seen per endpoint (the broker's
// inventory). The caller in ctx has already been allowed the endpoint.
type InventoryLister interface {
	// ListInventory returns the environments seen using endpoint, most
	// recently seen first; none (and no error) when no app was seen.
	ListInventory(ctx context.Context, endpoint string) ([]InventoryRow, error)
}

// PreflightRow is one app's predicted fate after a change: the CLI's
// `connbroker preflight` columns.
type PreflightRow struct {
	// Caller is the caller identity; App names the environment (driver,
	// version, options).
	Caller, App string
	// Before and After are the outcomes now and after the change:
	// "works", "breaks" or "works while the auth cache is warm".
	Before, After string
	// Fix says what the app must change; empty when nothing.
	Fix string
}

// Preflighter predicts what a change does to the apps of an endpoint.
// The caller in ctx has already been allowed the endpoint.
type Preflighter interface {
	// Preflight returns one row per app in the endpoint's inventory for
	// changes ("KIND=VALUE", as `connbroker preflight --change`). An
	// unknown change kind is an error; no apps seen is no rows.
	Preflight(ctx context.Context, endpoint string, changes []string) ([]PreflightRow, error)
}

// Options configure New.
type Options struct {
	// Fleet is the broker. Required.
	Fleet Fleet
	// Validations holds the last validations. Required: feed it by
	// installing Validations.Tee as the broker's recorder.
	Validations *Validations
	// Inventory lists apps per endpoint; nil renders "inventory is off".
	Inventory InventoryLister
	// Preflight runs the preflight form; nil renders "preflight is off".
	Preflight Preflighter
	// Log receives request problems; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// MaxChanges is the most change fields one preflight form takes.
const MaxChanges = 8

// ValidateEvery is the shortest interval between two "validate now" runs
// of one endpoint from the page: each is a real login plus one probe per
// driver profile, and the page has no per-caller rate limit of its own.
const ValidateEvery = 5 * time.Second

// Handler serves /ui/. Create it with New.
type Handler struct {
	o     Options
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the fleet page handler; mount it at "/ui/" (it also
// redirects "/ui").
func New(o Options) (*Handler, error) {
	if o.Fleet == nil || o.Validations == nil {
		return nil, errors.New("ui: Options.Fleet and Options.Validations are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{"when": h.when}
	for _, p := range []string{"index", "endpoint", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s template: %w", p, err)
		}
		h.pages[p] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /ui/{$}", h.index)
	h.mux.HandleFunc("GET /ui/endpoints/{name}", h.endpoint)
	// A POST that starts a login: only from a page of this origin.
	h.mux.Handle("POST /ui/endpoints/{name}/validate", http.NewCrossOriginProtection().Handler(http.HandlerFunc(h.validateNow)))
	h.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "no such page")
	})
	return h, nil
}

// ServeHTTP sets the security headers, identifies the caller as the API
// does, and serves the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	ctx, err := h.identify(r)
	if err != nil {
		hd.Set("Cache-Control", "no-store")
		h.o.Log.WarnContext(r.Context(), "ui: request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		hd.Set("Cache-Control", "no-store") // pages hold fleet data
	}
	h.mux.ServeHTTP(w, r.WithContext(ctx))
}

// identify applies the API's caller rules to an HTTP request and returns
// the context carrying the caller identity.
func (h *Handler) identify(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	cfg := h.o.Fleet.Config()
	if !cfg.IdentitiesInUse() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, errors.New("callers are not identified (no tls.client_ca, no unix.path): the fleet page serves loopback clients only")
		}
		return ctx, nil
	}
	if cfg.TLS.ClientCA == "" {
		// uid identities exist only on the Unix socket, not over HTTP.
		return nil, errors.New("callers are identified on the unix socket only; the fleet page identifies its viewers by client certificate: configure tls.client_ca (mTLS)")
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, errors.New("present a client certificate from tls.client_ca: the page shows only what your identity may get")
	}
	id, err := caller.FromCertificate(r.TLS.VerifiedChains[0][0])
	if err != nil {
		return nil, fmt.Errorf("no caller identity in the client certificate: %w", err)
	}
	return caller.NewContext(ctx, id), nil
}

// visible returns the endpoint name if the caller may get it.
func (h *Handler) visible(ctx context.Context, name string) *config.Endpoint {
	for _, e := range h.o.Fleet.VisibleEndpoints(ctx) {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// endpointRow is one row of the endpoint list.
type endpointRow struct {
	Name, Auth, Plugin, TLSMode, Addr string
	Last                              *LastValidation
	Primary                           *diagnose.Finding
	// Apps counts the inventory's environments (-1: could not be read).
	Apps int
}

func (h *Handler) row(e *config.Endpoint) endpointRow {
	r := endpointRow{Name: e.Name, Auth: string(e.Auth), Plugin: e.Plugin, TLSMode: string(e.TLS.Mode), Addr: e.Addr()}
	if l, ok := h.o.Validations.Last(e.Name); ok {
		r.Last = &l
		if d, ok := h.o.Validations.Detail(e.Name); ok && !d.At.Before(l.At) {
			if d.Result.Plugin != "" {
				r.Plugin = d.Result.Plugin
			}
			if f, ok := diagnose.Primary(d.Result.Findings); ok {
				r.Primary = &f
			}
		}
	}
	return r
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	var rows []endpointRow
	for _, e := range h.o.Fleet.VisibleEndpoints(r.Context()) {
		row := h.row(e)
		if h.o.Inventory != nil {
			apps, err := h.o.Inventory.ListInventory(r.Context(), e.Name)
			row.Apps = len(apps)
			if err != nil {
				h.o.Log.WarnContext(r.Context(), "ui: list inventory", "endpoint", e.Name, "err", err)
				row.Apps = -1
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	h.render(w, r, http.StatusOK, "index", map[string]any{
		"Title": "Fleet", "Caller": callerName(r.Context()), "Endpoints": rows,
		"InventoryOn": h.o.Inventory != nil, "PreflightOn": h.o.Preflight != nil,
	})
}

// endpointPage is the endpoint page's data.
type endpointPage struct {
	Title, Caller string
	Row           endpointRow
	Detail        *DetailedValidation
	Diagram       *Diagram
	Validated     bool // the page was reached right after "validate now"

	InventoryOn  bool
	Inventory    []InventoryRow
	InventoryErr string

	PreflightOn  bool
	Changes      []string // the form's values, MaxChanges long
	Asked        bool     // the form was submitted
	Preflight    []PreflightRow
	PreflightErr string
	Breaks       int
}

func (h *Handler) endpoint(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ep := h.visible(ctx, r.PathValue("name"))
	if ep == nil {
		// Unknown and not allowed look the same: names are not enumerable.
		h.fail(w, r, http.StatusNotFound, "no such endpoint, or your identity may not get it")
		return
	}
	p := endpointPage{Title: ep.Name, Caller: callerName(ctx), Row: h.row(ep), Validated: r.URL.Query().Get("validated") != "",
		InventoryOn: h.o.Inventory != nil, PreflightOn: h.o.Preflight != nil}
	if d, ok := h.o.Validations.Detail(ep.Name); ok {
		p.Detail = &d
		p.Diagram = NewDiagram(d.Result.Transcript)
	}
	if h.o.Inventory != nil {
		rows, err := h.o.Inventory.ListInventory(ctx, ep.Name)
		if err != nil {
			h.o.Log.WarnContext(ctx, "ui: list inventory", "endpoint", ep.Name, "err", err)
			p.InventoryErr = err.Error()
		}
		p.Inventory = rows
	}
	var changes []string
	for _, c := range r.URL.Query()["change"] {
		if c = strings.TrimSpace(c); c != "" {
			changes = append(changes, c)
		}
	}
	if len(changes) > MaxChanges {
		changes = changes[:MaxChanges]
	}
	p.Changes = make([]string, MaxChanges/2)
	copy(p.Changes, changes)
	if len(changes) > len(p.Changes) {
		p.Changes = changes
	}
	if r.URL.Query().Has("change") {
		p.Asked = true
		switch {
		case h.o.Preflight == nil:
			p.PreflightErr = "preflight is off in this broker"
		case len(changes) == 0:
			p.PreflightErr = "name at least one change, e.g. plugin=caching_sha2_password or require-tls"
		default:
			rows, err := h.o.Preflight.Preflight(ctx, ep.Name, changes)
			if err != nil {
				p.PreflightErr = err.Error()
			}
			p.Preflight = rows
			for _, row := range rows {
				if row.After != "works" { // works only while the cache is warm breaks at the next restart
					p.Breaks++
				}
			}
		}
	}
	h.render(w, r, http.StatusOK, "endpoint", p)
}

// validateNow logs in to the endpoint for the caller (the policy applies
// in the broker, as for the API), keeps the full result and redirects to
// the endpoint page (POST/redirect/GET).
func (h *Handler) validateNow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	if h.visible(ctx, name) == nil {
		h.fail(w, r, http.StatusNotFound, "no such endpoint, or your identity may not get it")
		return
	}
	if ok, wait := h.o.Validations.startPageRun(name, ValidateEvery); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		h.fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("this endpoint was validated from the page less than %s ago: try again in %s", ValidateEvery, wait.Round(time.Second)))
		return
	}
	h.o.Log.InfoContext(ctx, "ui: validate now", "endpoint", name, "caller", callerName(ctx), "remote", r.RemoteAddr)
	// compare_drivers makes the prober replay the login, so a login that
	// worked has a transcript to draw too, and the drivers table.
	res, err := h.o.Fleet.Validate(ctx, broker.ValidateRequest{Endpoints: []string{name}, CompareDrivers: true})
	if err != nil || len(res) != 1 {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, broker.ErrPermissionDenied), errors.Is(err, broker.ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, broker.ErrInvalidArgument):
			code = http.StatusBadRequest
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			code = http.StatusGatewayTimeout
		}
		h.o.Log.WarnContext(ctx, "ui: validate now", "endpoint", name, "err", err)
		h.fail(w, r, code, "validation did not run: "+errText(err))
		return
	}
	h.o.Validations.PutDetail(res[0], ViaPage)
	http.Redirect(w, r, "/ui/endpoints/"+url.PathEscape(name)+"?validated=1", http.StatusSeeOther)
}

func errText(err error) string {
	if err == nil {
		return "no result"
	}
	return err.Error()
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h.render(w, r, code, "error", map[string]any{"Title": http.StatusText(code), "Caller": callerName(r.Context()), "Code": code, "Message": msg})
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, page string, data any) {
	var b strings.Builder
	if err := h.pages[page].ExecuteTemplate(&b, "layout.html", data); err != nil {
		h.o.Log.ErrorContext(r.Context(), "ui: render", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// when formats a time for the page: UTC and how long ago.
func (h *Handler) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	ago := h.o.Now().Sub(t).Round(time.Second)
	if ago < 0 {
		ago = 0
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago.String() + " ago)"
}

func callerName(ctx context.Context) string {
	if id, ok := caller.FromContext(ctx); ok {
		return id.Name
	}
	return ""
}
