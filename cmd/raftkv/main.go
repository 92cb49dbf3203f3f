package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof-addr
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/internal/suggest"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/kvservice/api"
)

type options struct {
	id, host, cluster, dataDir, join, readMode, logLevel string
	port, apiPort                                        int
	electionTimeout, heartbeat, requestTimeout           time.Duration
	snapshotEvery                                        uint64
	snapshotLogRatio                                     float64
	faults, learner, noSync, lazySync                    bool
	storeDir, pprofAddr                                  string
	bugs                                                 []string
	sec                                                  securityFlags
}

// stopSignals are the signals after which the node shuts down, logging
// the one it got.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	// A crash prints every goroutine's stack: the one that panicked is
	// rarely the whole story of a stuck or dying node.
	debug.SetTraceback("all")
	// A node whose stderr is a pipe with no reader left (a `| grep -m1`
	// or `| head` that ended, a log collector that died) would otherwise be
	// killed by SIGPIPE at its next log line, silently, since its log is
	// what broke. Ignored, the write fails instead and the node keeps
	// serving: losing a log is better than losing a replica without a word.
	signal.Ignore(syscall.SIGPIPE)
	if err := newCommand().Execute(); err != nil {
		// Every exit leaves a reason on stderr (the node's log), also when
		// the error came before the logger was set up.
		slog.Error("raftkv exiting", "code", 1, "err", err)
		os.Exit(1)
	}
	slog.Info("raftkv exiting", "code", 0)
}

func newCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "raftkv",
		Short: "Run one node of a raftkv cluster",
		Long: `raftkv runs one node of a Raft-replicated key-value store.

Node names: the i-th entry of --cluster is node<i> (or name=host:port).
Raft IDs are the FNV-1a hash of the name. The data directory keeps the
raft log (raft.db), its snapshots (raft.db.snap/) and the cluster
identity (identity.json); a data
directory from another cluster, a corrupt log, or an identity whose log is
missing or empty is refused (the process exits 1 with the file, the problem
and the recovery). Restart a node
with the flags it was first started with: an initial member with the same
--cluster list, a joined member with --join (its data directory makes it
skip joining). A node whose data directory was lost should be removed
(raftkvctl members remove) and join again with an empty one.

Read modes: linearizable (ReadIndex, the default), lease (leader lease,
correct only under bounded clock drift; this node's core then serves every
non-stale read by lease), stale (local state, may be stale).`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.id, "id", "", "this node's name, e.g. node0 (required)")
	f.StringVar(&o.host, "host", "localhost", "host to listen on and advertise")
	f.IntVar(&o.port, "port", 7000, "raft (peer) port")
	f.IntVar(&o.apiPort, "api-port", 8000, "HTTP API port")
	f.StringVar(&o.cluster, "cluster", "", `initial members: "host:port,..." (i-th is node<i>) or "name=host:port,..."`)
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (default ./data/<id>)")
	f.StringVar(&o.join, "join", "", "join an existing cluster through this member's API, e.g. http://localhost:8000")
	f.BoolVar(&o.learner, "join-as-learner", false, "with --join: stay a non-voting learner")
	f.DurationVar(&o.electionTimeout, "election-timeout", time.Second, "election timeout (randomized in [t, 2t))")
	f.DurationVar(&o.heartbeat, "heartbeat-interval", 100*time.Millisecond, "heartbeat interval (also the raft tick)")
	f.StringVar(&o.readMode, "read-mode", "linearizable", "default read mode: linearizable, lease or stale")
	f.Uint64Var(&o.snapshotEvery, "snapshot-every", 10000, "snapshot the state machine every N applied entries (the i-th of n members waits 1+i/n times as long, so they do not all snapshot at once)")
	f.Float64Var(&o.snapshotLogRatio, "snapshot-log-ratio", 1, "once snapshots exceed 1 MiB, also wait until the commands applied since the last one reach this fraction of its size (0: count entries only)")
	f.DurationVar(&o.requestTimeout, "request-timeout", 5*time.Second, "how long a write or read may wait for raft")
	f.BoolVar(&o.faults, "unsafe-enable-fault-injection", false, "serve the /fault API (testing only: lets any client break this node)")
	f.BoolVar(&o.noSync, "unsafe-no-fsync", false, "skip fsync (testing only: a machine crash may lose acknowledged writes)")
	f.BoolVar(&o.lazySync, "unsafe-lazy-fsync", false, "hold every write the log store does not fsync in memory until its next fsync (testing only: a crash then loses it, as a machine crash would lose the page cache)")
	f.StringSliceVar(&o.bugs, "unsafe-bug", nil, "switch on a planted bug from the catalogue (testing only; needs a binary built with -tags raftkv_bugs; see `harness mutate --list`)")
	f.StringVar(&o.storeDir, "store", "", "also serve the harness runs browser (/runs/) for this store directory")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address, e.g. 127.0.0.1:6060 (for profiling; off by default)")
	o.sec.register(f)
	_ = cmd.MarkFlagRequired("id")
	cmd.SetFlagErrorFunc(suggest.FlagError)
	return cmd
}

func run(ctx context.Context, o options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	ids, err := bugs.Parse(o.bugs)
	if err != nil {
		return fmt.Errorf("--unsafe-bug: %w", err)
	}
	if err := bugs.Enable(ids...); err != nil {
		return fmt.Errorf("--unsafe-bug: %w", err)
	}
	if len(ids) > 0 {
		log.Warn("UNSAFE: planted bugs are switched on; this node is broken on purpose", "bugs", ids)
	}
	mode, err := api.ParseReadMode(o.readMode)
	if err != nil {
		return fmt.Errorf("--read-mode: %w", err)
	}
	self := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	var peers []kvservice.Peer
	if o.cluster != "" {
		if peers, err = kvservice.ParseCluster(o.cluster); err != nil {
			return err
		}
		found := false
		for _, p := range peers {
			if p.Name == o.id {
				found = true
				if p.RaftAddr != self {
					return fmt.Errorf("--cluster lists %s at %s, but --host/--port say %s", o.id, p.RaftAddr, self)
				}
			}
		}
		if !found && o.join == "" {
			return fmt.Errorf("--id %s is not in --cluster %q (entry i is named node<i>)", o.id, o.cluster)
		}
	} else if o.join == "" {
		return errors.New("give --cluster (initial members) or --join (an existing member's API URL)")
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = filepath.Join("data", o.id)
	}
	// Each signal that would end the process stops it through this context
	// instead, so that it logs which one (context.Cause) before exiting.
	// SIGHUP is among them: it comes when the terminal or session that
	// started the node goes away, and by Go's default it ended the node at
	// once with nothing in its log (issue 14).
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	if o.pprofAddr != "" {
		if err := servePprof(ctx, o.pprofAddr, log); err != nil {
			return err
		}
	}
	sec, err := o.sec.load(o.faults)
	if err != nil {
		return err
	}
	srv, err := kvservice.Start(ctx, kvservice.Config{
		PeerTLS:           sec.peerTLS,
		APITLS:            sec.apiTLS,
		APIClientTLS:      sec.apiClientTLS,
		Tokens:            sec.tokens,
		NodeToken:         sec.nodeToken,
		MaxAPIConns:       o.sec.maxAPIConns,
		Name:              o.id,
		RaftAddr:          self,
		APIAddr:           net.JoinHostPort(o.host, strconv.Itoa(o.apiPort)),
		Cluster:           peers,
		Join:              o.join,
		JoinAsLearner:     o.learner,
		DataDir:           dataDir,
		ElectionTimeout:   o.electionTimeout,
		HeartbeatInterval: o.heartbeat,
		ReadMode:          mode,
		SnapshotEvery:     o.snapshotEvery,
		SnapshotLogRatio:  o.snapshotLogRatio,
		EnableFaults:      o.faults,
		StoreDir:          o.storeDir,
		RequestTimeout:    o.requestTimeout,
		NoSync:            o.noSync,
		LazySync:          o.lazySync,
		Logger:            log,
	})
	if err != nil {
		log.Error("refusing to start", "err", err)
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
		return srv.Close()
	case <-srv.Done():
		err := srv.Err()
		log.Error("raft stopped; exiting", "err", err)
		_ = srv.Close()
		if err == nil {
			err = errors.New("raft stopped")
		}
		return err
	}
}

// servePprof serves the profiles that net/http/pprof registers on
// http.DefaultServeMux, on their own listener so the API never exposes them,
// until ctx ends.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server stopped", "err", err)
		}
	}()
	log.Info("serving pprof", "addr", ln.Addr().String())
	return nil
}
