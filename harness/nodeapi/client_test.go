package nodeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestErrorClassification(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/definite":
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":{"code":"no_leader","message":"none","definite":true},"leader":""}`))
		case "/maybe":
			w.WriteHeader(504)
			_, _ = w.Write([]byte(`{"error":{"code":"timeout","message":"slow","definite":false},"leader":"node1"}`))
		case "/html":
			w.WriteHeader(502)
			_, _ = w.Write([]byte(`<html>bad gateway</html>`))
		case "/status":
			_, _ = w.Write([]byte(`{"id":"node0","role":"leader","applied":7,"state_hash":"ab","members":[{"id":"node0"},{"id":"node1"}]}`))
		case "/slow":
			<-r.Context().Done() // never answers: only the client's timeout ends it
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	// Answers are classified with a generous timeout: a short one could
	// expire on a busy machine before an answer is read and turn a
	// definite error into a timeout. Only /slow, which never answers,
	// meets the short one.
	c := New(srv.URL, time.Minute)
	impatient := New(srv.URL, 100*time.Millisecond)
	ctx := context.Background()

	err := c.call(ctx, http.MethodGet, "/definite", nil, nil)
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "no_leader" || apiErr.Status != 503 || !IsDefinite(err) {
		t.Errorf("definite: %#v", err)
	}
	err = c.call(ctx, http.MethodGet, "/maybe", nil, nil)
	if !errors.As(err, &apiErr) || apiErr.Leader != "node1" || IsDefinite(err) {
		t.Errorf("indeterminate: %#v", err)
	}
	if err := c.call(ctx, http.MethodGet, "/html", nil, nil); err == nil || IsDefinite(err) {
		t.Errorf("a non-API 502 must be indeterminate: %v", err)
	}
	if err := c.call(ctx, http.MethodGet, "/nope", nil, nil); !IsDefinite(err) {
		t.Errorf("a 404 (e.g. fault API disabled) is definite: %v", err)
	}
	if err := impatient.call(ctx, http.MethodGet, "/slow", nil, nil); err == nil || IsDefinite(err) {
		t.Errorf("a timeout must be indeterminate: %v", err)
	}
	if IsDefinite(nil) {
		t.Error("nil is not a definite error")
	}
	st, err := c.Status(ctx)
	if err != nil || st.Applied != 7 || st.StateHash != "ab" || len(st.Members) != 2 || st.Members[1] != "node1" {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestSecuredNode reaches an HTTPS node with its CA and a bearer token; the
// same client without the token, or without the CA, is refused.
func TestSecuredNode(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"no token","definite":true}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"node0","applied":3}`))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	addr := strings.TrimPrefix(srv.URL, "https://")
	ctx := context.Background()

	c := NewWith(addr, time.Second, Options{TLS: &tls.Config{RootCAs: roots}, Token: token})
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("URL %s: a TLS client without a scheme speaks https", c.URL())
	}
	if st, err := c.Status(ctx); err != nil || st.Applied != 3 {
		t.Fatalf("status %+v, %v", st, err)
	}
	var apiErr *Error
	noToken := NewWith(addr, time.Second, Options{TLS: &tls.Config{RootCAs: roots}})
	if _, err := noToken.Status(ctx); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("without the token: %v, want a 401", err)
	}
	if _, err := NewWith(addr, time.Second, Options{TLS: &tls.Config{}, Token: token}).Status(ctx); err == nil {
		t.Fatal("a node whose certificate the client cannot verify answered")
	}
	if _, err := New(addr, time.Second).Status(ctx); err == nil {
		t.Fatal("plain http to a TLS server answered")
	}
}
