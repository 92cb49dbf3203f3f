package target

import (
	"context"
	"slices"
	"testing"
	"time"
)

// stub is a target with one capability.
type stub struct{ dialer bool }

func (stub) Name() string                             { return "stub" }
func (stub) Caps() []string                           { return []string{CapSessions} }
func (stub) ReadModes() []string                      { return []string{"linearizable"} }
func (stub) Args(Node, []Node, Config) []string       { return nil }
func (stub) Healthy(context.Context, Node) error      { return nil }
func (stub) Ready(context.Context, Node) error        { return nil }
func (stub) Leader(context.Context, []Node) string    { return "" }
func (stub) Dial(Node, time.Duration) (Client, error) { return nil, nil }

// stubDialer is a stub that says whether its dialer alone sends.
type stubDialer struct{ stub }

func (s stubDialer) DialerSends() bool { return s.dialer }

// TestWithCaps: a backend's capabilities are added to the target's own,
// once each, and nothing else of the target changes; Unwrap gives the
// target back, so its optional interfaces stay reachable.
func TestWithCaps(t *testing.T) {
	w := WithCaps(stub{}, CapNodeNetwork, CapSessions)
	if got := w.Caps(); !slices.Equal(got, []string{CapSessions, CapNodeNetwork}) {
		t.Errorf("caps %v", got)
	}
	if !Has(w, CapNodeNetwork) || Has(w, CapClock) || Has(stub{}, CapNodeNetwork) {
		t.Errorf("Has: wrapped %v, plain %v", w.Caps(), stub{}.Caps())
	}
	if w.Name() != "stub" || !slices.Equal(w.ReadModes(), []string{"linearizable"}) {
		t.Errorf("the wrapped target changed: %s %v", w.Name(), w.ReadModes())
	}
	if Unwrap(w) != (stub{}) || Unwrap(stub{}) != (stub{}) {
		t.Errorf("Unwrap: %v", Unwrap(w))
	}
	// Wrapping twice keeps one layer.
	if ww := WithCaps(w, CapClock); Unwrap(ww) != (stub{}) || !Has(ww, CapNodeNetwork) || !Has(ww, CapClock) {
		t.Errorf("twice: %v", ww.Caps())
	}
	if WithCaps(nil, CapClock) != nil {
		t.Error("WithCaps(nil) is not nil")
	}
}

func TestDialerSends(t *testing.T) {
	if DialerSends(stub{}) || DialerSends(stubDialer{}) {
		t.Error("a target that does not say so is not a DialerSender")
	}
	if !DialerSends(stubDialer{stub{dialer: true}}) || !DialerSends(WithCaps(stubDialer{stub{dialer: true}}, CapNodeNetwork)) {
		t.Error("a DialerSender, wrapped or not")
	}
}
