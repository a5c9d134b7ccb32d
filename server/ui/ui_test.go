package ui_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/internal/testpki"
	"github.com/connbroker/connbroker/server"
	"github.com/connbroker/connbroker/server/ui"
)

// secret is the file password of every endpoint here; no page may hold it.
const secret = "fleet-page-password-never-rendered-9c1e"

// closedPort returns a loopback port nothing listens on: logins fail at dial.
func closedPort(t *testing.T) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	lis.Close()
	return port
}

// fleet is a real broker service over two password endpoints, the page
// handler over it, and the recorder that feeds the page.
type fleet struct {
	svc  *broker.Service
	h    *ui.Handler
	last *ui.Validations
	ca   *testpki.CA
	dir  string
}

func newFleet(t *testing.T, head string, o ui.Options) fleet {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "fleet CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	head = strings.NewReplacer("CERT", srv.Cert, "KEY", srv.Key, "CLIENTCA", ca.WriteCA(t, dir, "clients")).Replace(head)
	port := closedPort(t)
	cfg, err := config.Parse("fleet", []byte(head+fmt.Sprintf(`
endpoints:
  orders:
    host: 127.0.0.1
    port: %d
    user: app_orders
    auth: password
    password: {file: %s}
    plugin: mysql_native_password
    tls: {mode: disabled}
  billing:
    host: 127.0.0.1
    port: %d
    user: app_billing
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, port, pw, port, pw)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := broker.New(cfg, &credential.Router{Password: credential.NewPasswords(func(string) (string, bool) { return "", false })}, log)
	last := ui.NewValidations()
	svc.SetRecorder(last.Tee(observe.Nop{}))
	o.Fleet, o.Validations, o.Log = svc, last, log
	h, err := ui.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return fleet{svc: svc, h: h, last: last, ca: ca, dir: dir}
}

// get serves one request in process from remote.
func get(h http.Handler, method, target, remote string, hdr map[string]string) (*http.Response, string) {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

const loopback = "127.0.0.1:40000"

func TestDevModeServesLoopbackOnly(t *testing.T) {
	f := newFleet(t, "", ui.Options{})
	for _, tt := range []struct {
		remote string
		code   int
	}{
		{loopback, http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"10.1.2.3:40000", http.StatusForbidden},
		{"192.168.0.7:40000", http.StatusForbidden},
	} {
		t.Run(tt.remote, func(t *testing.T) {
			for _, path := range []string{"/ui/", "/ui/endpoints/orders", "/ui/static/style.css"} {
				res, body := get(f.h, "GET", path, tt.remote, nil)
				if res.StatusCode != tt.code {
					t.Errorf("GET %s from %s: %d, want %d\n%.300s", path, tt.remote, res.StatusCode, tt.code, body)
				}
				if tt.code == http.StatusForbidden && strings.Contains(body, "orders") {
					t.Errorf("refused page names an endpoint: %s", body)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFleet(t, "", ui.Options{})
	for _, path := range []string{"/ui/", "/ui/endpoints/orders", "/ui/endpoints/nope", "/ui/static/style.css"} {
		res, _ := get(f.h, "GET", path, loopback, nil)
		h := res.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
		page := !strings.HasPrefix(path, "/ui/static/")
		if got := h.Get("Cache-Control") == "no-store"; got != page {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
	res, body := get(f.h, "GET", "/ui/", loopback, nil)
	for _, ext := range []string{"http://", "https://", "<script", "style=\""} {
		if strings.Contains(body, ext) {
			t.Errorf("index holds %q (external asset, script or inline style):\n%s", ext, body)
		}
	}
	if res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
	}
}

func TestValidateNowRefusesCrossOrigin(t *testing.T) {
	f := newFleet(t, "", ui.Options{})
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		res, body := get(f.h, "POST", "http://127.0.0.1:9100/ui/endpoints/orders/validate", loopback, hdr)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin POST %v: %d, want 403\n%.300s", hdr, res.StatusCode, body)
		}
	}
	if _, ok := f.last.Last("orders"); ok {
		t.Error("a refused POST validated the endpoint")
	}
	// GET on the action is not a way around it.
	if res, _ := get(f.h, "GET", "/ui/endpoints/orders/validate", loopback, nil); res.StatusCode == http.StatusOK || res.StatusCode == http.StatusSeeOther {
		t.Errorf("GET validate: %d", res.StatusCode)
	}
}

// TestValidateNowAndNoSecret validates through the page (same origin) after
// credentials were issued, and checks the pages show the verdict and the
// findings and never the password.
func TestValidateNowAndNoSecret(t *testing.T) {
	f := newFleet(t, "", ui.Options{})
	ctx := context.Background()
	p, err := f.svc.Params(ctx, "orders", "pymysql")
	if err != nil {
		t.Fatal(err)
	}
	if p.Credential.Secret.Reveal() != secret {
		t.Fatal("the broker did not issue the file password")
	}
	// An API validation reports its verdict through the hook.
	if _, err := f.svc.Validate(ctx, broker.ValidateRequest{Endpoints: []string{"billing"}}); err != nil {
		t.Fatal(err)
	}
	res, body := get(f.h, "POST", "http://127.0.0.1:9100/ui/endpoints/orders/validate", loopback, map[string]string{"Origin": "http://127.0.0.1:9100", "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/endpoints/orders?validated=1" {
		t.Fatalf("POST validate: %d %q\n%.500s", res.StatusCode, res.Header.Get("Location"), body)
	}
	// A second run within ValidateEvery is refused: the page is no way
	// to hammer a database.
	if res, _ := get(f.h, "POST", "http://127.0.0.1:9100/ui/endpoints/orders/validate", loopback, map[string]string{"Sec-Fetch-Site": "same-origin"}); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("second validate now: %d, Retry-After %q; want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	_, index := get(f.h, "GET", "/ui/", loopback, nil)
	_, page := get(f.h, "GET", "/ui/endpoints/orders?validated=1", loopback, nil)
	_, billing := get(f.h, "GET", "/ui/endpoints/billing", loopback, nil)
	for name, html := range map[string]string{"index": index, "orders": page, "billing": billing} {
		if strings.Contains(html, secret) {
			t.Errorf("%s page holds the password", name)
		}
	}
	for _, want := range []string{`data-endpoint="orders"`, `data-endpoint="billing"`, "failed</span> at dial", "mysql_native_password", "disabled", "inventory-off"} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	for _, want := range []string{"Findings", `id="findings"`, "Fix", `id="reason"`, "dial", `id="inventory-off"`, `id="preflight-off"`, `id="validated"`, "asked for by this page"} {
		if !strings.Contains(page, want) {
			t.Errorf("orders page lacks %q", want)
		}
	}
	if !strings.Contains(billing, `id="no-transcript"`) || !strings.Contains(billing, "failed</span> at dial") {
		t.Errorf("billing page (validated through the API) lacks its verdict or the no-transcript note:\n%s", billing)
	}
	if res, _ := get(f.h, "GET", "/ui/endpoints/nope", loopback, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", res.StatusCode)
	}
	if res, _ := get(f.h, "GET", "/ui/nothing/here", loopback, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", res.StatusCode)
	}
	if res, _ := get(f.h, "GET", "/ui", loopback, nil); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %q, want a redirect to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestMTLSIdentityRules: with tls.client_ca the page needs a client
// certificate and lists only the endpoints its identity may get.
func TestMTLSIdentityRules(t *testing.T) {
	f := newFleet(t, `tls: {cert: CERT, key: KEY, client_ca: CLIENTCA}
policy:
  - caller: spiffe://test/ns/orders/sa/api
    endpoints: [orders]
`, ui.Options{})
	srv := httptest.NewUnstartedServer(f.h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{f.ca.TLSCert(t, testpki.LoopbackServer())}, ClientCAs: f.ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(l *testpki.Leaf) *http.Client {
		tc := &tls.Config{RootCAs: f.ca.Pool(), MinVersion: tls.VersionTLS12}
		if l != nil {
			tc.Certificates = []tls.Certificate{f.ca.TLSCert(t, *l)}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	fetch := func(c *http.Client, path string) (int, string) {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	orders := client(&testpki.Leaf{URIs: []string{"spiffe://test/ns/orders/sa/api"}})
	code, body := fetch(orders, "/ui/")
	if code != http.StatusOK || !strings.Contains(body, `data-endpoint="orders"`) || strings.Contains(body, "billing") {
		t.Errorf("orders identity: %d, want only orders listed:\n%s", code, body)
	}
	if !strings.Contains(body, "spiffe://test/ns/orders/sa/api") {
		t.Error("the page does not say who the caller is")
	}
	if code, _ := fetch(orders, "/ui/endpoints/billing"); code != http.StatusNotFound {
		t.Errorf("orders identity, billing page: %d, want 404", code)
	}
	if code, body := fetch(orders, "/ui/endpoints/orders"); code != http.StatusOK || !strings.Contains(body, `<h1 id="endpoint-name">orders</h1>`) {
		t.Errorf("orders identity, orders page: %d\n%s", code, body)
	}
	other := client(&testpki.Leaf{URIs: []string{"spiffe://test/ns/other/sa/x"}})
	if code, body := fetch(other, "/ui/"); code != http.StatusOK || !strings.Contains(body, `id="no-endpoints"`) || strings.Contains(body, "orders") {
		t.Errorf("identity without rules: %d, want no endpoint listed:\n%s", code, body)
	}
	if code, body := fetch(client(nil), "/ui/"); code != http.StatusForbidden || strings.Contains(body, "orders") {
		t.Errorf("no client certificate: %d, want 403 without names:\n%s", code, body)
	}
}

// Hand-written fakes for the inventory and preflight seams.
type inventory struct {
	rows []ui.InventoryRow
	got  string
}

func (i *inventory) ListInventory(_ context.Context, ep string) ([]ui.InventoryRow, error) {
	i.got = ep
	return i.rows, nil
}

type preflight struct {
	rows    []ui.PreflightRow
	changes []string
}

func (p *preflight) Preflight(_ context.Context, _ string, changes []string) ([]ui.PreflightRow, error) {
	p.changes = changes
	for _, c := range changes {
		if strings.HasPrefix(c, "colour") {
			return nil, errors.New(`unknown change kind "colour": use plugin, auth, require-tls, proxy-iam, ca or driver`)
		}
	}
	return p.rows, nil
}

func TestInventoryAndPreflight(t *testing.T) {
	seen := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	inv := &inventory{rows: []ui.InventoryRow{{Caller: "spiffe://prod/api", Driver: "PyMySQL", Version: "1.0.2", FirstSeen: seen, LastSeen: seen, Count: 42}}}
	pf := &preflight{rows: []ui.PreflightRow{
		{Caller: "spiffe://prod/api", App: "PyMySQL 1.0.2 without cryptography", Before: "works", After: "breaks", Fix: "pip install cryptography"},
		{Caller: "spiffe://prod/batch", App: "mysqlclient 2.2.4", Before: "works", After: "works"},
	}}
	f := newFleet(t, "", ui.Options{Inventory: inv, Preflight: pf})
	_, page := get(f.h, "GET", "/ui/endpoints/orders", loopback, nil)
	for _, want := range []string{`id="inventory-table"`, "PyMySQL", "1.0.2", "42", `name="change"`, "require-tls"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if inv.got != "orders" {
		t.Errorf("inventory asked for %q", inv.got)
	}
	_, index := get(f.h, "GET", "/ui/", loopback, nil)
	if !strings.Contains(index, "<th>Apps seen</th>") || !strings.Contains(index, `<a href="/ui/endpoints/orders#inventory">1</a>`) {
		t.Errorf("index lacks the apps column or orders' count:\n%s", index)
	}
	q := url.Values{"change": {"plugin=caching_sha2_password", "", "require-tls"}}
	_, page = get(f.h, "GET", "/ui/endpoints/orders?"+q.Encode(), loopback, nil)
	if fmt.Sprint(pf.changes) != "[plugin=caching_sha2_password require-tls]" {
		t.Errorf("preflight got changes %q", pf.changes)
	}
	for _, want := range []string{`id="preflight-table"`, "<th>CALLER</th><th>APP</th><th>BEFORE</th><th>AFTER</th><th>FIX</th>", "pip install cryptography", "1 app(s) would break", `value="plugin=caching_sha2_password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("preflight result lacks %q", want)
		}
	}
	_, page = get(f.h, "GET", "/ui/endpoints/orders?change=colour%3Dblue", loopback, nil)
	if !strings.Contains(page, `id="preflight-error"`) || !strings.Contains(page, "unknown change kind") || strings.Contains(page, "would break") {
		t.Errorf("bad change kind: no clear error, or a verdict anyway")
	}
	pf.rows = nil // an endpoint without inventory: "no apps seen", never "nothing breaks"
	_, page = get(f.h, "GET", "/ui/endpoints/orders?change=require-tls", loopback, nil)
	if !strings.Contains(page, `id="preflight-no-apps"`) || strings.Contains(page, "no app seen would break") {
		t.Errorf("empty preflight: want \"no apps seen\"")
	}
	inv.rows = nil
	_, page = get(f.h, "GET", "/ui/endpoints/orders", loopback, nil)
	if !strings.Contains(page, `id="no-apps"`) {
		t.Error("empty inventory: want \"No apps seen\"")
	}
}

func TestDiagram(t *testing.T) {
	tr := &handshake.Transcript{Addr: "127.0.0.1:3306", User: "app", Profile: "go-sql-driver", Events: []handshake.Event{
		{Dir: handshake.Local, Kind: handshake.KindDial, Summary: "connected to 127.0.0.1:3306"},
		{Dir: handshake.FromServer, Kind: handshake.KindGreeting, Summary: "MariaDB 10.11.6, plugin mysql_native_password"},
		{Dir: handshake.FromClient, Kind: handshake.KindSSLRequest, Summary: "SSLRequest"},
		{Dir: handshake.Local, Kind: handshake.KindTLS, Summary: "TLS 1.3 TLS_AES_128_GCM_SHA256"},
		{Dir: handshake.FromClient, Kind: handshake.KindHandshakeResponse, Summary: "HandshakeResponse41"},
		{Dir: handshake.FromServer, Kind: handshake.KindAuthSwitchRequest, Summary: "AuthSwitchRequest: mysql_native_password -> client_ed25519", Fields: map[string]string{"plugin": "client_ed25519"}},
		{Dir: handshake.FromClient, Kind: handshake.KindAuthResponse, Summary: "AuthSwitchResponse"},
		{Dir: handshake.FromServer, Kind: handshake.KindOK, Summary: "OK: logged in"},
	}, Outcome: handshake.Outcome{Result: handshake.ResultOK}}
	d := ui.NewDiagram(tr)
	if len(d.Rows) != len(tr.Events) {
		t.Fatalf("%d rows for %d events", len(d.Rows), len(tr.Events))
	}
	type want struct {
		arrow  bool
		x1, x2 int
		class  string
		mark   string
	}
	wants := []want{
		{false, 0, 0, "note", ""},
		{true, d.ServerX, d.ClientX, "packet", ""},
		{true, d.ClientX, d.ServerX, "tls", "TLS upgrade"},
		{false, 0, 0, "tls", "TLS on"},
		{true, d.ClientX, d.ServerX, "packet", ""},
		{true, d.ServerX, d.ClientX, "switch", "plugin switch: client_ed25519"},
		{true, d.ClientX, d.ServerX, "packet", ""},
		{true, d.ServerX, d.ClientX, "ok", ""},
	}
	for i, w := range wants {
		r := d.Rows[i]
		if r.Arrow != w.arrow || r.X1 != w.x1 || r.X2 != w.x2 || r.Class != w.class || r.Mark != w.mark {
			t.Errorf("row %d (%s): arrow %v %d->%d class %q mark %q; want %+v", i, r.Kind, r.Arrow, r.X1, r.X2, r.Class, r.Mark, w)
		}
		if i > 0 && r.Y <= d.Rows[i-1].Y {
			t.Errorf("row %d not below row %d", i, i-1)
		}
	}
	if d.TLSFromY != d.Rows[3].Y {
		t.Errorf("TLS lanes start at %d, want the TLS row %d", d.TLSFromY, d.Rows[3].Y)
	}
	if ui.NewDiagram(nil) != nil {
		t.Error("a nil transcript drew a diagram")
	}
}

// TestTranscriptFromProto: a transcript sent by the API comes back as the
// domain's, every event kind, direction and result included.
func TestTranscriptFromProto(t *testing.T) {
	tr := &handshake.Transcript{Addr: "db:3306", User: "app", Profile: "PyMySQL", Outcome: handshake.Outcome{Result: handshake.ResultServerError, Plugin: "mysql_native_password"}}
	kinds := []handshake.Kind{handshake.KindDial, handshake.KindGreeting, handshake.KindSSLRequest, handshake.KindTLS, handshake.KindTLSFallback,
		handshake.KindTLSPreferred, handshake.KindHandshakeResponse, handshake.KindAuthSwitchRequest, handshake.KindAuthResponse,
		handshake.KindFastAuthSuccess, handshake.KindFullAuthRequired, handshake.KindRSAKeyRequest, handshake.KindRSAKeyReceived,
		handshake.KindAuthMoreData, handshake.KindWarning, handshake.KindOK, handshake.KindERR, handshake.KindStop, handshake.KindError,
		handshake.KindQuit, handshake.KindOutcome}
	dirs := []handshake.Direction{handshake.FromServer, handshake.FromClient, handshake.Local}
	for i, k := range kinds {
		tr.Events = append(tr.Events, handshake.Event{At: time.Duration(i) * time.Millisecond, Dir: dirs[i%3], Kind: k, Summary: "step " + string(k), Fields: map[string]string{"plugin": "p"}})
	}
	got := ui.TranscriptFromProto(server.TranscriptToProto(tr))
	if diff := cmp.Diff(tr, got, cmpopts.IgnoreUnexported(handshake.Transcript{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, r := range []handshake.Result{handshake.ResultOK, handshake.ResultStopped, handshake.ResultFailed, handshake.ResultGreeted} {
		tr.Outcome.Result = r
		if got := ui.TranscriptFromProto(server.TranscriptToProto(tr)).Outcome.Result; got != r {
			t.Errorf("result %q came back as %q", r, got)
		}
	}
	if ui.TranscriptFromProto(nil) != nil {
		t.Error("nil transcript")
	}
}
