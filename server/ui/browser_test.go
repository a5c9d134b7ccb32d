package ui_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/connbroker/connbroker/internal/testbrowser"
	"github.com/connbroker/connbroker/internal/testtier"
	"github.com/connbroker/connbroker/server/ui"
)

// TestPreflightFormInChromium fills the preflight form in headless
// Chromium with JavaScript off and submits it: the plain GET form reaches
// the Preflighter with the typed changes and the browser shows the CLI's
// table; the inventory table is drawn beside it. The inventory and
// preflight back ends are hand-written fakes (their real stores are built
// elsewhere); the page, the broker and the browser are real.
func TestPreflightFormInChromium(t *testing.T) {
	testtier.Integration(t, "chromium")
	seen := time.Now().Add(-time.Minute)
	inv := &inventory{rows: []ui.InventoryRow{
		{Caller: "spiffe://prod/ns/shop/sa/api", Driver: "PyMySQL", Version: "1.0.2", FirstSeen: seen, LastSeen: seen, Count: 12},
		{Caller: "spiffe://prod/ns/shop/sa/batch", Driver: "mysqlclient", Version: "2.2.4", ClientLibrary: "MariaDB Connector/C 3.3.14", FirstSeen: seen, LastSeen: seen, Count: 3},
	}}
	pf := &preflight{rows: []ui.PreflightRow{
		{Caller: "spiffe://prod/ns/shop/sa/api", App: "PyMySQL 1.0.2 without cryptography", Before: "works", After: "breaks", Fix: "pip install cryptography (caching_sha2_password full authentication over plain TCP needs RSA)"},
		{Caller: "spiffe://prod/ns/shop/sa/batch", App: "mysqlclient 2.2.4 (MariaDB Connector/C 3.3.14)", Before: "works", After: "works"},
	}}
	f := newFleet(t, "", ui.Options{Inventory: inv, Preflight: pf})
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	br := testbrowser.Start(t, "ui", 60*time.Second)
	br.Do("fill and submit the preflight form",
		chromedp.Navigate(srv.URL+"/ui/endpoints/orders"),
		chromedp.WaitVisible(chromedp.ID("inventory-table")),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="change 0"]`), "plugin=caching_sha2_password"),
		chromedp.SendKeys(chromedp.CSS(`input[aria-label="change 1"]`), "require-tls"),
		chromedp.Click(chromedp.ID("run-preflight")),
		chromedp.WaitVisible(chromedp.ID("preflight-table")),
		br.Shot("preflight.png"),
	)
	if got := strings.Join(pf.changes, " "); got != "plugin=caching_sha2_password require-tls" {
		t.Errorf("the form sent changes %q", got)
	}
	html := br.HTML()
	for _, want := range []string{"<th>CALLER</th><th>APP</th><th>BEFORE</th><th>AFTER</th><th>FIX</th>", "1 app(s) would break", "pip install cryptography", "MariaDB Connector/C 3.3.14"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := br.Count("#preflight-table tbody tr"); n != 2 {
		t.Errorf("%d preflight rows, want 2", n)
	}
	if n := br.Count("#preflight-table tr.after-breaks"); n != 1 {
		t.Errorf("%d rows marked breaks, want 1", n)
	}
	if n := br.Count("#inventory-table tbody tr"); n != 2 {
		t.Errorf("%d inventory rows, want 2", n)
	}
	if strings.Contains(html, secret) {
		t.Error("the page holds the password")
	}
	for _, p := range br.Problems() {
		t.Errorf("browser console: %s", p)
	}
}
