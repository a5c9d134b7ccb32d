package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// artifactsDir is where browser screenshots are kept:
// $CONNBROKER_ARTIFACTS/ui, or .artifacts/ui at the repository root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CONNBROKER_ARTIFACTS")
	if base == "" {
		base = filepath.Join("..", "..", ".artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(base, "ui"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromiumPath finds Debian's Chromium; a missing browser fails the test
// (outside -short): scripts/install-deps.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: the fleet page is tested in a real browser; run scripts/install-deps.sh (apt-get install chromium)")
	return ""
}

// TestFleetPageInChromium runs connbrokerd for real against a private
// MariaDB, validates through the API and through the page's own button in
// headless Chromium with JavaScript turned off, and checks what the
// browser shows: the endpoint rows and verdicts, the sequence diagram's
// lanes and arrows with the plugin switch and the TLS upgrade, no CSP
// violation, and no password anywhere. Screenshots are kept.
func TestFleetPageInChromium(t *testing.T) {
	testtier.Integration(t, "mariadbd and chromium")
	chrome := chromiumPath(t)
	shots := artifactsDir(t)
	t.Logf("screenshots in %s", shots)
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

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut string
	go func() {
		code, _, e := daemon(ctx, "--dev", "--config", cfg, "--listen", addr)
		errOut = e
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving: %v\n%s", err, errOut)
		}
	}
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

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The page must work without JavaScript: the browser runs with it off.
	// (The first call starts the browser: no timeout on its context.)
	if _, err := chromedp.Call(bctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("start chromium (%s): %v", chrome, err)
	}
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			console = append(console, string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
		case *runtime.EventExceptionThrown:
			console = append(console, "exception: "+e.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	bctx, tcancel := context.WithTimeout(bctx, 90*time.Second)
	defer tcancel()
	base := "http://" + maddr
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}
	outer := func() string {
		t.Helper()
		html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return html
	}

	// Validate two endpoints with the page's own button (a plain form POST).
	type diagramFacts struct {
		lanes, rows, arrows, switches, tls, tlsLanes int
		html                                         string
	}
	validateNow := func(ep string) diagramFacts {
		t.Helper()
		err := chromedp.Do(bctx,
			chromedp.Navigate(base+"/ui/endpoints/"+ep),
			chromedp.WaitVisible(chromedp.ID("validate-now")),
			chromedp.Click(chromedp.ID("validate-now")),
			chromedp.WaitVisible(chromedp.ID("sequence")),
			chromedp.WaitVisible(chromedp.ID("detail-verdict")),
			shot("endpoint-"+ep+".png"),
		)
		if err != nil {
			t.Fatalf("validate %s in the browser: %v", ep, err)
		}
		count := func(sel string) int { return countNodes(t, bctx, sel) }
		return diagramFacts{
			html:     outer(),
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

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("endpoints")), shot("index.png")); err != nil {
		t.Fatalf("load the fleet page: %v", err)
	}
	index := outer()
	if n := countNodes(t, bctx, "#endpoints tr.endpoint"); n != 3 {
		t.Errorf("index has %d endpoint rows, want 3", n)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/ui/endpoints/legacy"), chromedp.WaitVisible(chromedp.ID("sequence")), shot("endpoint-legacy.png")); err != nil {
		t.Fatalf("load the legacy page: %v", err)
	}
	legacy := outer()
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
	if n := countNodes(t, bctx, `#sequence g.row.err[data-kind="err"][data-dir="server"]`); n != 1 {
		t.Errorf("legacy diagram: %d server ERR rows, want 1", n)
	}
	if n := countNodes(t, bctx, "#findings tbody tr"); n == 0 {
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
	mu.Lock()
	defer mu.Unlock()
	for _, c := range console {
		if strings.Contains(c, "Content Security Policy") || strings.HasPrefix(c, "exception") || strings.HasPrefix(c, "error") {
			t.Errorf("browser console: %s", c)
		}
	}
	for _, name := range []string{"index.png", "endpoint-ledger.png", "endpoint-shop.png", "endpoint-legacy.png"} {
		if st, err := os.Stat(filepath.Join(shots, name)); err != nil || st.Size() < 5000 {
			t.Errorf("screenshot %s missing or empty: %v", name, err)
		}
	}
}

// countNodes counts the elements matching the CSS selector sel in the
// current page.
func countNodes(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("query %s: %v", sel, err)
	}
	return len(nodes)
}
