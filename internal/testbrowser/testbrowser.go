// Package testbrowser starts Debian's headless Chromium for tests, driven
// over the DevTools protocol with chromedp, with page JavaScript turned off
// (the pages under test must work without it), collects the console, and
// keeps screenshots.
//
// A missing browser fails the test (scripts/install-deps.sh installs
// chromium); only under -short (internal/testtier) does Start skip.
package testbrowser

import (
	"context"
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

	"github.com/connbroker/connbroker/internal/testtier"
)

// Browser is one headless Chromium tab.
type Browser struct {
	// Ctx is the tab's chromedp context, bounded by Start's timeout.
	Ctx context.Context
	// Dir is where Shot writes screenshots.
	Dir string

	t       testing.TB
	mu      sync.Mutex
	console []string
}

// ArtifactsDir returns $CONNBROKER_ARTIFACTS/SUB, else .artifacts/SUB at
// the repository root (found from the test's working directory), created.
func ArtifactsDir(t testing.TB, sub string) string {
	t.Helper()
	base := os.Getenv("CONNBROKER_ARTIFACTS")
	if base == "" {
		base = ".artifacts"
		if wd, err := os.Getwd(); err == nil {
			for d := wd; ; d = filepath.Dir(d) {
				if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
					base = filepath.Join(d, ".artifacts")
					break
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
	}
	dir, err := filepath.Abs(filepath.Join(base, sub))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Path finds Chromium on PATH, or fails t.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: pages are tested in a real browser; run scripts/install-deps.sh (apt-get install chromium)")
	return ""
}

// Start starts a browser for t (stopped in t.Cleanup) whose screenshots go
// to ArtifactsDir(t, sub); every action must finish within timeout.
func Start(t testing.TB, sub string, timeout time.Duration) *Browser {
	t.Helper()
	testtier.Integration(t, "chromium")
	chrome := Path(t)
	b := &Browser{Dir: ArtifactsDir(t, sub), t: t}
	t.Logf("screenshots in %s", b.Dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	// The first call starts the browser: no timeout on its context.
	if _, err := chromedp.Call(bctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("start chromium (%s): %v", chrome, err)
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			b.console = append(b.console, string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+e.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	b.Ctx = ctx
	return b
}

// Do runs the actions, failing t with what on error.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Shot is an action that saves a full-page PNG screenshot as Dir/name.
func (b *Browser) Shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.Dir, name), png, 0o644)
	})
}

// HTML returns the current page's markup as the browser holds it.
func (b *Browser) HTML() string {
	b.t.Helper()
	html, err := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatalf("read the page: %v", err)
	}
	return html
}

// Count counts the elements matching the CSS selector sel.
func (b *Browser) Count(sel string) int {
	b.t.Helper()
	nodes, err := chromedp.Run(b.Ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatalf("query %s: %v", sel, err)
	}
	return len(nodes)
}

// Problems returns the console's errors, exceptions and Content Security
// Policy violations so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, c := range b.console {
		if strings.Contains(c, "Content Security Policy") || strings.HasPrefix(c, "exception") || strings.HasPrefix(c, "error") {
			out = append(out, c)
		}
	}
	return out
}
