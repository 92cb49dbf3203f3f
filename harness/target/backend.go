package target

import "slices"

// WithCaps returns t offering the capabilities extra besides its own:
// what a backend does itself for any store it runs. The docker backend
// makes network faults in the OS (iptables in each container's network
// namespace), so on it every target takes the partitions and packet
// faults (CapNodeNetwork) whether or not its nodes have a fault API.
//
// The rules that refuse a fault a target cannot take (nemesis.CheckTarget)
// and the final heal then see the target as it runs on that backend; the
// rest of t (its name, flags, probes, client) is unchanged. Unwrap gives t
// back, for t's optional interfaces.
func WithCaps(t Target, extra ...string) Target {
	if t == nil {
		return nil
	}
	caps := slices.Clone(t.Caps())
	for _, c := range extra {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return &withCaps{Target: Unwrap(t), caps: caps}
}

type withCaps struct {
	Target
	caps []string
}

func (w *withCaps) Caps() []string { return slices.Clone(w.caps) }

// Unwrap returns the target WithCaps wrapped (t itself otherwise).
func Unwrap(t Target) Target {
	if w, ok := t.(*withCaps); ok {
		return w.Target
	}
	return t
}

// DialerSender is an optional interface of a Target whose nodes send each
// other messages only over connections they opened themselves: a
// connection carries its dialer's messages, and nothing but their
// answers back. raftkv is one (its peer transport, and the API forwarding
// of a follower to the leader). For such a target a one-way cut X -/-> P
// can be made by killing the TCP connections X opens to P.
//
// A target without it may use a connection both ways — etcd's members
// read each other's messages from streams they opened to the sender — so
// killing connections by who opened them would not silence one direction
// only. For it the docker backend drops every byte X sends to P instead,
// on any connection, letting through only the segments without payload
// (handshakes, acknowledgements, closes), so that P's bytes still reach
// X and are acknowledged.
type DialerSender interface {
	// DialerSends reports whether peer messages travel only from a
	// connection's dialer.
	DialerSends() bool
}

// DialerSends reports whether t (unwrapped) is a DialerSender that says
// its messages travel only from a connection's dialer.
func DialerSends(t Target) bool {
	d, ok := Unwrap(t).(DialerSender)
	return ok && d.DialerSends()
}
