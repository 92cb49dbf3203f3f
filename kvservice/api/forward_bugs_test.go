//go:build raftkv_bugs

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/kvservice/fsm"
)

// A follower forwards a write with a session; the leader applies it, but
// its answer is a timeout (the entry committed just too late), and another
// client's write lands meanwhile. With the bug the follower retries
// without the session and the write is applied a second time, over the
// other client's.
func TestBugForwardRetryNoSession(t *testing.T) {
	t.Cleanup(func() { _ = bugs.Enable() })
	for _, on := range []bool{false, true} {
		var ids []bugs.ID
		name := "off"
		if on {
			ids, name = []bugs.ID{bugs.ForwardRetryNoSession}, "on"
		}
		if err := bugs.Enable(ids...); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			leader := newFake("node1")
			leaderAPI := New(Config{Backend: leader, Logger: quietLogger(), RequestTimeout: time.Second}).Handler()
			var (
				mu     sync.Mutex
				bodies []CommandRequest
			)
			ls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req CommandRequest
				_ = json.Unmarshal(body, &req)
				mu.Lock()
				bodies = append(bodies, req)
				first := len(bodies) == 1
				mu.Unlock()
				r.Body = io.NopCloser(bytes.NewReader(body))
				if !first {
					leaderAPI.ServeHTTP(w, r)
					return
				}
				// Applied, but answered as a timeout; then another
				// client writes the key.
				leaderAPI.ServeHTTP(httptest.NewRecorder(), r)
				if _, err := leader.Propose(context.Background(), fsm.Command{Op: fsm.OpSet, Key: "k", Value: "theirs", ClientID: "c2", RequestID: 1}); err != nil {
					t.Error(err)
				}
				e := Errorf(CodeTimeout, "no result within 1s")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(e.Status)
				_ = json.NewEncoder(w).Encode(ErrorBody{Error: e})
			}))
			t.Cleanup(ls.Close)
			follower := newFake("node0")
			follower.leader = LeaderInfo{Name: "node1", APIAddr: strings.TrimPrefix(ls.URL, "http://")}
			fs := newServer(t, follower, nil)

			a := do(t, "POST", fs.URL+"/command", `{"operation":"set","key":"k","value":"mine","client_id":"c1","request_id":7}`)
			mu.Lock()
			got := append([]CommandRequest(nil), bodies...)
			mu.Unlock()
			v, _, _ := leader.f.Get("k")
			if !on {
				if a.status != http.StatusGatewayTimeout || a.errField("definite") != false || len(got) != 1 || v != "theirs" {
					t.Fatalf("answer %d %s, %d forwards, k=%q", a.status, a.raw, len(got), v)
				}
				return
			}
			if a.status != http.StatusOK || len(got) != 2 {
				t.Fatalf("answer %d %s, %d forwards", a.status, a.raw, len(got))
			}
			if got[1].ClientID != "" || got[1].RequestID != 0 || got[1].Key != "k" || got[1].Value == nil || *got[1].Value != "mine" {
				t.Fatalf("retry %+v, want the command without its session", got[1])
			}
			if v != "mine" {
				t.Fatalf("k = %q: the retry was not applied again", v)
			}
		})
	}
}
