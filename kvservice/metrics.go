package kvservice

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

type serverMetrics struct {
	leaderChanges prometheus.Counter
	snapshots     *prometheus.CounterVec
	snapshotSteps *prometheus.HistogramVec
	snapshotBytes prometheus.Gauge
	readIndex     *prometheus.CounterVec
}

// newServerMetrics registers the raft gauges (read from the driver's status
// at scrape time) and the node's counters.
func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftkv_raft_leader_changes_total", Help: "Times the leader known to this node changed.",
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_raft_snapshots_total", Help: "Snapshots taken by this node or restored into it.",
		}, []string{"kind"}),
		snapshotSteps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftkv_raft_snapshot_step_seconds",
			Help:    "Time per step of taking a snapshot: capture (on the raft loop; writes wait), encode, write and compact (in the background).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"step"}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftkv_raft_snapshot_bytes", Help: "Size of the newest snapshot this node took.",
		}),
		readIndex: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_read_index_total", Help: "Read-index requests (linearizable and lease reads) by result.",
		}, []string{"result"}),
	}
	gauge := func(name, help string, f func(st raft.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return f(s.node.Load().Status())
		})
	}
	s.reg.MustRegister(
		m.leaderChanges, m.snapshots, m.snapshotSteps, m.snapshotBytes, m.readIndex,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("raftkv_raft_term", "Current raft term.", func(st raft.Status) float64 { return float64(st.Term) }),
		gauge("raftkv_raft_commit_index", "Raft commit index.", func(st raft.Status) float64 { return float64(st.Commit) }),
		gauge("raftkv_raft_applied_index", "Raft applied index.", func(st raft.Status) float64 { return float64(st.Applied) }),
		gauge("raftkv_raft_last_index", "Index of the last log entry.", func(st raft.Status) float64 { return float64(st.LastIndex) }),
		gauge("raftkv_raft_is_leader", "1 if this node is the leader.", func(st raft.Status) float64 {
			if st.RaftState == raft.StateLeader {
				return 1
			}
			return 0
		}),
		gauge("raftkv_raft_has_leader", "1 if this node knows a leader.", func(st raft.Status) float64 {
			if st.Lead != raft.None {
				return 1
			}
			return 0
		}),
		gauge("raftkv_raft_voters", "Voters in the configuration.", func(st raft.Status) float64 { return float64(len(st.Config.Voters)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "raftkv_read_index_rounds_total",
			Help: "Read-index rounds started by this node; concurrent reads share a round, so raftkv_read_index_total / this is the batching factor.",
		}, func() float64 { return float64(s.node.Load().ReadRounds()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "raftkv_raft_invalid_messages_dropped_total",
			Help: "Messages from peers that the raft core dropped because they broke an invariant no genuine peer breaks (each is logged as a warning).",
		}, func() float64 { return float64(s.node.Load().InvalidMessages()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "raftkv_kv_keys", Help: "Keys in the state machine."}, func() float64 {
			return float64(s.fsm.Len())
		}),
	)
	return m
}

// observeSnapshot records what taking one snapshot cost.
func (m *serverMetrics) observeSnapshot(st node.SnapshotStats) {
	m.snapshotBytes.Set(float64(st.Bytes))
	m.snapshotSteps.WithLabelValues("capture").Observe(st.Capture.Seconds())
	m.snapshotSteps.WithLabelValues("encode").Observe(st.Encode.Seconds())
	m.snapshotSteps.WithLabelValues("write").Observe(st.Write.Seconds())
	m.snapshotSteps.WithLabelValues("compact").Observe(st.Compact.Seconds())
}
