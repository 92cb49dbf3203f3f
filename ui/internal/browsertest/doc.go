// Package browsertest drives a headless chromium from Go tests with
// chromedp (v0.23) for the UI's browser tests: one browser per test binary
// (started by the first test that asks, stopped by Main), one tab per
// test, actions with deadlines, waits on JavaScript predicates (never
// sleeps), and screenshots of the viewport saved under $RAFTKV_ARTIFACTS (default
// <tmp>/raftkv-ui-artifacts) whose paths are logged.
//
// Contract: without a browser ($RAFTKV_CHROMIUM, or chromium,
// chromium-browser or google-chrome in PATH) New fails the test when
// CI=true and skips it otherwise, saying what is missing and how to install
// it (ui/install-chromium.sh).
package browsertest
