package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFailoverAndErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/cluster/leader" {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":"no_leader","message":"none","definite":true},"leader":"node1"}`)
			return
		}
		fmt.Fprint(w, `{"ok":true,"operation":"set","key":"k","value":"v","node":"node0","index":3}`)
	}))
	defer srv.Close()
	c, err := New([]string{dead, srv.URL}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Put(context.Background(), "k", "v")
	if err != nil || r.Index != 3 || *r.Value != "v" {
		t.Fatalf("put with a dead first endpoint: %+v %v", r, err)
	}
	// The live endpoint is remembered.
	if _, err := c.Put(context.Background(), "k", "v"); err != nil || hits != 2 {
		t.Fatalf("second put: %v (hits %d)", err, hits)
	}
	_, err = c.TransferLeader(context.Background(), "")
	var e *Error
	if !errors.As(err, &e) || e.Code != "no_leader" || !e.Definite || e.Leader != "node1" || e.Status != 503 {
		t.Fatalf("error answer: %#v", err)
	}
	if _, err := New(nil, 0); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("no endpoints: %v", err)
	}
	only, _ := New([]string{dead}, time.Second)
	if _, err := only.Put(context.Background(), "k", "v"); err == nil || !isDialError(errors.Unwrap(err)) {
		t.Fatalf("all endpoints dead: %v", err)
	}
}
