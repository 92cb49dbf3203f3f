package ui

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDescribeUnreachable: the page reads why a member is unreachable in
// words, from the errors a real status fetch returns.
func TestDescribeUnreachable(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	// A listener that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := HTTPPeers{Client: &http.Client{}}
	// Only the silent listener is meant to meet its deadline. The others
	// fail at once, so they get a generous one: a short one could expire
	// first on a busy machine and turn "refused" into "no answer".
	for _, tc := range []struct {
		addr, want string
		timeout    time.Duration
	}{
		{dead, "connection refused: the node is down", time.Minute},
		{silent.Addr().String(), "no answer within 300ms", 300 * time.Millisecond},
		{"", "no API address", time.Minute},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		_, err := p.MemberStatus(ctx, Member{ID: "node1", APIAddr: tc.addr})
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", tc.addr)
		}
		if got := describeUnreachable(err, 300*time.Millisecond); !strings.Contains(got, tc.want) || strings.Contains(got, "dial tcp") {
			t.Errorf("%s: %q, want %q", tc.addr, got, tc.want)
		}
	}
}
