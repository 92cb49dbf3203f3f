package kvservice

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkClusterWrite measures writes through the whole stack: an HTTP
// set to the leader of an in-process 3-node cluster (bbolt in b.TempDir(),
// the TCP raft transport, the driver, the core), with `clients` closed-loop
// clients over keep-alive connections. ns/op is the inverse of the
// throughput; the writes/s metric says it directly. fsync=false shows the
// CPU part (profile it with -cpuprofile).
func BenchmarkClusterWrite(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, clients := range []int{1, 32} {
			b.Run(fmt.Sprintf("fsync=%v/clients=%d", sync, clients), func(b *testing.B) {
				benchmarkClusterWrite(b, clients, !sync)
			})
		}
	}
}

func benchListen(b *testing.B, n int) []string {
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func benchmarkClusterWrite(b *testing.B, clients int, noSync bool) {
	addrs := benchListen(b, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{Name: fmt.Sprint("node", i), RaftAddr: a})
	}
	var servers []*Server
	for _, p := range peers {
		cfg := Config{Name: p.Name, RaftAddr: p.RaftAddr, APIAddr: "127.0.0.1:0", Cluster: peers,
			DataDir: b.TempDir(), ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
			NoSync: noSync, Logger: quiet()}
		s, err := Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		servers = append(servers, s)
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	var leader *Server
	deadline := time.Now().Add(20 * time.Second)
	for leader == nil && time.Now().Before(deadline) {
		for _, s := range servers {
			if l := s.Leader(); l.Self {
				leader = s
			}
		}
		if leader == nil {
			time.Sleep(10 * time.Millisecond) // polling for the first election
		}
	}
	if leader == nil {
		b.Fatal("no leader")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 4}}
	url := "http://" + leader.APIAddr() + "/command"
	value := bytes.Repeat([]byte("v"), 256)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body = append(body[:0], `{"operation":"set","key":"k-`...)
				body = strconv.AppendInt(body, int64(c), 10)
				body = append(body, '-')
				body = strconv.AppendInt(body, i, 10)
				body = append(body, `","value":"`...)
				body = append(body, value...)
				body = append(body, `"}`...)
				resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d writes failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
