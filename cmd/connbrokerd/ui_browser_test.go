package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/connbroker/connbroker/internal/testbrowser"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestFleetPageInChromium runs connbrokerd for real against a private
// MariaDB, validates through the API and through the page's own button in
// headless Chromium with JavaScript turned off, and checks what the
// browser shows: the endpoint rows and verdicts, the sequence diagram's
// lanes and arrows with the plugin switch and the TLS upgrade, no CSP
// violation, and no password anywhere. Screenshots are kept.
func TestFleetPageInChromium(t *testing.T) {
	testtier.Integration(t, "mariadbd and chromium")
	testbrowser.Path(t) // fail before starting anything when there is no browser
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const wrong = "wrong-password-never-shown-5e2d"
	addr, maddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`metrics: {listen: %q}
endpoints:
  shop:
    host: 127.0.0.1
    port: %d
    user: %s
    database: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
  ledger:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    plugin: client_ed25519
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
  legacy:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, maddr, db.Port, mariadbtest.NativeUser, mariadbtest.Database, file("shop", mariadbtest.NativePassword), db.CAFile,
		db.Port, mariadbtest.Ed25519User, file("ledger", mariadbtest.Ed25519Password), db.CAFile,
		db.Port, mariadbtest.NativeUser, file("legacy", wrong)))
	secrets := []string{mariadbtest.NativePassword, mariadbtest.Ed25519Password, wrong}

	conn := serveDev(t, cfg, addr)
	ctx := t.Context()
	cl := v1.NewBrokerServiceClient(conn)
	// Credentials are issued (the page must never show them) ...
	for _, ep := range []string{"shop", "ledger", "legacy"} {
		if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: ep, Driver: "pymysql"}); err != nil {
			t.Fatalf("params %s: %v", ep, err)
		}
	}
	// ... and one endpoint is validated through the API: a 1045.
	vr, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"legacy"}})
	if err != nil || vr.GetOk() {
		t.Fatalf("validate legacy through the API: ok %v, err %v; want a failed login", vr.GetOk(), err)
	}

	br := testbrowser.Start(t, "ui", 90*time.Second)
	base := "http://" + maddr
	// Validate two endpoints with the page's own button (a plain form POST).
	type diagramFacts struct {
		lanes, rows, arrows, switches, tls, tlsLanes int
		html                                         string
	}
	validateNow := func(ep string) diagramFacts {
		t.Helper()
		br.Do("validate "+ep+" in the browser",
			chromedp.Navigate(base+"/ui/endpoints/"+ep),
			chromedp.WaitVisible(chromedp.ID("validate-now")),
			chromedp.Click(chromedp.ID("validate-now")),
			chromedp.WaitVisible(chromedp.ID("sequence")),
			chromedp.WaitVisible(chromedp.ID("detail-verdict")),
			br.Shot("endpoint-"+ep+".png"),
		)
		count := br.Count
		return diagramFacts{
			html:     br.HTML(),
			lanes:    count("#sequence line.lane"),
			rows:     count("#sequence g.row"),
			arrows:   count("#sequence g.row line.arrow"),
			switches: count(`#sequence g.row.switch[data-kind="auth-switch-request"]`),
			tls:      count(`#sequence g.row.tls`),
			tlsLanes: count("#sequence line.tls-lane"),
		}
	}
	ledger := validateNow("ledger")
	shop := validateNow("shop")
	for name, f := range map[string]diagramFacts{"ledger": ledger, "shop": shop} {
		if f.lanes < 2 || f.rows < 5 || f.arrows < 4 || f.tls < 2 || f.tlsLanes != 2 {
			t.Errorf("%s diagram: %d lanes, %d rows, %d arrows, %d TLS rows, %d TLS lanes; want both lanes, a row per event, arrows, SSLRequest and the TLS handshake, encrypted lanes", name, f.lanes, f.rows, f.arrows, f.tls, f.tlsLanes)
		}
		for _, want := range []string{`<span class="badge ok">logged in</span>`, `id="lane-client"`, `id="lane-server"`, "TLS upgrade", "greeting", "handshake-response"} {
			if !strings.Contains(f.html, want) {
				t.Errorf("%s page lacks %q", name, want)
			}
		}
	}
	// MariaDB greets with mysql_native_password; the ed25519 account makes
	// the server switch plugins.
	if ledger.switches != 1 || !strings.Contains(ledger.html, "plugin switch: client_ed25519") {
		t.Errorf("ledger diagram: %d plugin switches, want 1 marked client_ed25519", ledger.switches)
	}
	if shop.switches != 0 {
		t.Errorf("shop diagram: %d plugin switches, want none (native account)", shop.switches)
	}
	if !strings.Contains(ledger.html, `id="drivers"`) {
		t.Error("ledger page lacks the drivers table")
	}

	br.Do("load the fleet page", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("endpoints")), br.Shot("index.png"))
	index := br.HTML()
	if n := br.Count("#endpoints tr.endpoint"); n != 3 {
		t.Errorf("index has %d endpoint rows, want 3", n)
	}
	br.Do("load the legacy page", chromedp.Navigate(base+"/ui/endpoints/legacy"), chromedp.WaitVisible(chromedp.ID("sequence")), br.Shot("endpoint-legacy.png"))
	legacy := br.HTML()
	for _, ep := range []string{"shop", "ledger", "legacy"} {
		if !strings.Contains(index, `data-endpoint="`+ep+`"`) {
			t.Errorf("index lacks the %s row", ep)
		}
	}
	if got := strings.Count(index, `<span class="badge ok">ok</span>`); got != 2 {
		t.Errorf("index shows %d ok verdicts, want 2 (shop, ledger)", got)
	}
	if !strings.Contains(index, `<span class="badge failed">failed</span> at auth`) {
		t.Error("index does not show legacy's failed login at auth (validated through the API)")
	}
	if !strings.Contains(index, "client_ed25519") || !strings.Contains(index, "verify-identity") || !strings.Contains(index, "disabled") {
		t.Error("index lacks the plugin or TLS columns")
	}
	// The API's answer (a failed login: replayed by the prober) is drawn
	// too: the server's ERR 1045 on the server lane, the finding's fix.
	if !strings.Contains(legacy, "failed</span> at auth") || !strings.Contains(legacy, "asked for by the API") || !strings.Contains(legacy, "ERR 1045") {
		t.Error("legacy page lacks the API verdict, its origin or the server's ERR 1045")
	}
	if n := br.Count(`#sequence g.row.err[data-kind="err"][data-dir="server"]`); n != 1 {
		t.Errorf("legacy diagram: %d server ERR rows, want 1", n)
	}
	if n := br.Count("#findings tbody tr"); n == 0 {
		t.Error("legacy page lists no findings for a 1045")
	}
	if !strings.Contains(index, `<span class="sev-error">`) {
		t.Error("index shows no primary finding for legacy's failed login")
	}
	for _, page := range []string{index, legacy, ledger.html, shop.html} {
		for _, s := range secrets {
			if strings.Contains(page, s) {
				t.Errorf("a page holds a password (%d chars)", len(s))
			}
		}
	}
	for _, p := range br.Problems() {
		t.Errorf("browser console: %s", p)
	}
	for _, name := range []string{"index.png", "endpoint-ledger.png", "endpoint-shop.png", "endpoint-legacy.png"} {
		if st, err := os.Stat(filepath.Join(br.Dir, name)); err != nil || st.Size() < 5000 {
			t.Errorf("screenshot %s missing or empty: %v", name, err)
		}
	}
}
