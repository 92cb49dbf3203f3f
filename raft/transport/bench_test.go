package transport

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// benchApp is an MsgApp carrying 16 entries of 256 bytes.
func benchApp() raft.Message {
	m := raft.Message{Type: raft.MsgApp, To: 2, From: 1, Term: 12, LogTerm: 12, Index: 100_000, Commit: 99_990}
	for i := range 16 {
		m.Entries = append(m.Entries, raft.Entry{Term: 12, Index: uint64(100_001 + i), Data: bytes.Repeat([]byte{byte(i)}, 256)})
	}
	return m
}

func BenchmarkEncodeMessage(b *testing.B) {
	m := benchApp()
	buf := make([]byte, 0, MessageSize(&m))
	b.SetBytes(int64(MessageSize(&m)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	m := benchApp()
	enc := AppendMessage(nil, &m)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransportThroughput(b *testing.B) {
	app := benchApp()
	for _, bc := range []struct {
		name string
		msg  raft.Message
	}{
		{"heartbeat", raft.Message{Type: raft.MsgHeartbeat, To: 2, From: 1, Term: 12, Commit: 99_990}},
		{"app16x256", app},
	} {
		b.Run(bc.name, func(b *testing.B) { benchThroughput(b, bc.msg) })
	}
}

func benchThroughput(b *testing.B, m raft.Message) {
	var recv atomic.Int64
	progress := make(chan struct{}, 1)
	handler := func(raft.Message) {
		if recv.Add(1)%128 == 0 {
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}
	mk := func(id uint64) *Transport {
		tr, err := New(Config{ID: id, ClusterID: 1, ListenAddr: "127.0.0.1:0", Handler: handler,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tr.Close() })
		return tr
	}
	a, r := mk(1), mk(2)
	a.AddPeer(2, r.Addr())

	// Send in batches of 64, as a leader's Ready would, keeping at most
	// window messages in flight so that the queue never overflows.
	const batch, window = 64, 2048
	msgs := make([]raft.Message, batch)
	for i := range msgs {
		msgs[i] = m
	}
	b.ReportAllocs()
	start := time.Now()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		for int64(sent)-recv.Load() > window {
			<-progress
		}
		k := min(batch, b.N-sent)
		a.Send(msgs[:k])
		sent += k
	}
	for recv.Load() < int64(b.N) {
		select {
		case <-progress:
		case <-time.After(time.Millisecond):
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	s := a.Stats()
	if s.DroppedQueueFull+s.DroppedUnreachable > 0 {
		b.Fatalf("dropped messages: %+v", s)
	}
	b.ReportMetric(float64(s.MessagesSent)/float64(max(s.FramesSent, 1)), "msgs/frame")
}
