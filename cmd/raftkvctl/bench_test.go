package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/kvservice/api"
)

func TestAppendCommandIsValidJSON(t *testing.T) {
	for _, tc := range []struct {
		op, key, mode string
		value         []byte
	}{
		{"set", "k", "", []byte("abc")},
		{"get", `we"ird\key`, "stale", nil},
		{"set", "ключ", "", []byte("xyz")},
	} {
		b := appendCommand(nil, tc.op, tc.key, tc.value, tc.mode)
		var req api.CommandRequest
		require.NoError(t, json.Unmarshal(b, &req), "%s", b)
		require.Equal(t, tc.op, req.Operation)
		require.Equal(t, tc.key, req.Key)
		require.Equal(t, tc.mode, req.ReadMode)
		if tc.value != nil {
			require.Equal(t, string(tc.value), *req.Value)
		} else {
			require.Nil(t, req.Value)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, percentile(d, 0.50))
	require.Equal(t, 99*time.Millisecond, percentile(d, 0.99))
	require.Equal(t, 100*time.Millisecond, percentile(d, 1))
	require.Equal(t, time.Millisecond, percentile(d[:1], 0.99))
	require.Zero(t, percentile(nil, 0.5))
}

func TestParsePIDs(t *testing.T) {
	m, err := parsePIDs("node0=12, node1=13")
	require.NoError(t, err)
	require.Equal(t, map[string]int{"node0": 12, "node1": 13}, m)
	for _, bad := range []string{"node0", "node0=x", "node0=-1"} {
		_, err := parsePIDs(bad)
		require.Error(t, err, bad)
	}
}

// TestBenchAgainstANode runs the load loop against a real in-process node
// and checks the report adds up.
func TestBenchAgainstANode(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	raftAddr := l.Addr().String()
	l.Close()
	srv, err := kvservice.Start(context.Background(), kvservice.Config{
		Name: "node0", RaftAddr: raftAddr, APIAddr: "127.0.0.1:0",
		Cluster: []kvservice.Peer{{Name: "node0", RaftAddr: raftAddr}},
		DataDir: filepath.Join(t.TempDir(), "node0"), NoSync: true,
		ElectionTimeout: 200 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	require.Eventually(t, func() bool { return srv.Leader().Self }, time.Minute, 5*time.Millisecond)

	var out bytes.Buffer
	root := newRoot(&out)
	root.SetArgs([]string{"--endpoints", srv.APIAddr(), "-o", "json", "bench",
		"--clients", "1,4", "--duration", "300ms", "--warmup", "50ms", "--value-size", "16", "--read-ratio", "0.25"})
	require.NoError(t, root.Execute())
	var rs []BenchResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &rs), out.String())
	require.Len(t, rs, 2)
	for i, r := range rs {
		require.Equal(t, []int{1, 4}[i], r.Clients)
		require.Positive(t, r.Writes)
		require.Positive(t, r.Reads)
		require.Zero(t, r.Errors, "%v", r.ByCode)
		require.Zero(t, r.LeaderChanges)
		require.Equal(t, "node0", r.Leader)
		require.InDelta(t, float64(r.Writes+r.Reads)/0.3, r.Throughput, 1)
		require.True(t, r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.Max, "%+v", r)
	}
	require.Greater(t, srv.Status().Keys, 0)

	out.Reset()
	root = newRoot(&out)
	root.SetArgs([]string{"--endpoints", srv.APIAddr(), "-o", "markdown", "bench", "--clients", "2", "--duration", "100ms", "--warmup", "0s"})
	require.NoError(t, root.Execute())
	require.Contains(t, out.String(), "| clients |")
	require.Contains(t, out.String(), "\n| 2 |")
}

// TestRawConn: the load client's own connection sends a well-formed
// request, keeps the connection across requests, classifies error answers
// like send does, dials again after the server closed it, and reports a
// dead endpoint as a connection error.
func TestRawConn(t *testing.T) {
	var conns atomic.Int32
	var closeNext atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/command" || r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(body)) {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		if closeNext.Swap(false) {
			w.Header().Set("Connection", "close")
		}
		if bytes.Contains(body, []byte("bad")) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"no_leader","message":"x","definite":true}}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	var rc rawConn
	defer rc.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		require.Equal(t, opResult{ok: true}, rc.post(ctx, srv.URL, appendCommand(nil, "set", "k", []byte("v"), "")))
	}
	require.Equal(t, int32(1), conns.Load(), "the connection was not kept alive")
	require.Equal(t, opResult{code: api.CodeNoLeader}, rc.post(ctx, srv.URL, []byte(`{"operation":"set","key":"bad"}`)))

	closeNext.Store(true)
	require.True(t, rc.post(ctx, srv.URL, []byte(`{}`)).ok)
	require.True(t, rc.post(ctx, srv.URL, []byte(`{}`)).ok, "no new connection after Connection: close")
	require.Equal(t, int32(2), conns.Load())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	require.Equal(t, opResult{code: "connection"}, rc.post(ctx, dead, []byte(`{}`)))
	require.True(t, rc.post(ctx, srv.URL, []byte(`{}`)).ok, "no recovery after a dead endpoint")
}
