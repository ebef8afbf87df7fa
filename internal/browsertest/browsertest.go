// Package browsertest runs tests in a real browser: Debian's chromium,
// headless, driven through chromedp, with a fresh profile each time. A test
// skips when chromium is missing, unless USHER_REQUIRE_BROWSER is set (as
// `make test` does, after installing it), in which case it fails. Screenshots
// go to the folder USHER_ARTIFACTS names, when it is set.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is one headless chromium with its own profile, closed at the end
// of the test.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// New starts a browser whose window is width × height CSS pixels.
func New(t testing.TB, width, height int) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("USHER_REQUIRE_BROWSER") != "" {
			t.Fatalf("chromium is required (apt-get install chromium): %v", err)
		}
		t.Skip("chromium is not installed; make test installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a deadline.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A headless window has a minimum width; the viewport sets the page's.
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	return &Browser{t: t, ctx: ctx}
}

// Context is the browser's context, for chromedp actions.
func (b *Browser) Context() context.Context { return b.ctx }

// Screenshot saves a full-page PNG named name in USHER_ARTIFACTS, if set, and
// returns the image.
func (b *Browser) Screenshot(name string) []byte {
	b.t.Helper()
	// Bounded: a page that navigates meanwhile can leave the call waiting
	// for ever.
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	// A page between two loads has no size yet ("Cannot take screenshot
	// with 0 width"): try again until it has one, within the bound.
	for err != nil && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if dir := os.Getenv("USHER_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", path)
	}
	return png
}
