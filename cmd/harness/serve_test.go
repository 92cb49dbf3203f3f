package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeListsRuns(t *testing.T) {
	store := t.TempDir()
	run := filepath.Join(store, "demo", "20261129T120000Z")
	require.NoError(t, os.MkdirAll(run, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(run, "results.json"), []byte(`{"scenario":"demo","verdict":"invalid"}`), 0o644))

	var out syncBuffer
	root := newRoot(&out, io.Discard)
	root.SetArgs([]string{"serve", "--store", store, "--addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	addr := regexp.MustCompile(`http://([0-9.:]+)/runs/`)
	var base string
	require.Eventually(t, func() bool {
		m := addr.FindStringSubmatch(out.String())
		if m == nil {
			return false
		}
		base = "http://" + m[1]
		return true
	}, time.Minute, 10*time.Millisecond, "serve never printed its address: %q", out.String())

	resp, err := http.Get(base + "/runs/api/runs")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "demo/20261129T120000Z")
	require.Contains(t, string(body), "invalid")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop when its context ended")
	}
}

func TestServeRefusesMissingStore(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	root.SetArgs([]string{"serve", "--store", filepath.Join(t.TempDir(), "nope")})
	err := root.Execute()
	require.ErrorContains(t, err, "not a directory")
}
