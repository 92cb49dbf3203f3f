package kvservice

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/raftkv/raftkv/internal/devcerts"
	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
	"github.com/raftkv/raftkv/raft/lazystore"
	"github.com/raftkv/raftkv/raft/node"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/nodesource"
)

// PromoteLag is how close (in entries) a learner's match index must be to
// the leader's last index before the leader promotes it to voter.
const PromoteLag = 100

// PromoteEvery is how often a leader looks for a learner to promote: one
// promotion at a time, each conf change applied before the next is tried.
const PromoteEvery = 500 * time.Millisecond

// Config configures a node server.
type Config struct {
	// Name is this member's name (node0, ...).
	Name string
	// RaftAddr is the host:port the raft transport listens on and the
	// address peers dial.
	RaftAddr string
	// APIAddr is the host:port the HTTP API listens on and the address
	// other nodes forward to. Port 0 picks a free port (tests).
	APIAddr string
	// Cluster is the initial membership; it must contain Name unless the
	// node joins.
	Cluster []Peer
	// Join is the base URL of a member's API (http://host:port) to join
	// through when the data directory is empty.
	Join string
	// JoinAsLearner asks to stay a learner (never promoted).
	JoinAsLearner bool
	// DataDir holds raft.db, its snapshot files (raft.db.snap/) and
	// identity.json.
	DataDir string
	// ElectionTimeout and HeartbeatInterval (defaults 1s and 100ms); the
	// raft tick is the heartbeat interval.
	ElectionTimeout, HeartbeatInterval time.Duration
	// ReadMode is the default read mode; lease also configures the raft
	// core for lease-based read index (see the package documentation).
	ReadMode api.ReadMode
	// SnapshotEvery: snapshot every this many applied entries (default
	// 10000); a quarter of it is kept in the log for slow followers. The
	// members stagger their snapshots (node.Config.StaggerSnapshots): the
	// i-th of n waits 1+i/n times as long.
	SnapshotEvery uint64
	// SnapshotLogRatio: once snapshots exceed 1 MiB, also wait until the
	// commands applied since the last one add up to this fraction of its
	// size (0: count entries only; raftkv's flag defaults to 1). See
	// node.Config.SnapshotLogRatio.
	SnapshotLogRatio float64
	// EnableFaults exposes the unsafe /fault routes.
	EnableFaults bool
	// RequestTimeout bounds a proposal or read (default 5s).
	RequestTimeout time.Duration
	// NoSync skips fsync (tests only: a machine crash may lose data).
	NoSync bool
	// LazySync holds every log-store write that is not fsynced in memory
	// until the next fsynced one (tests only: raft/lazystore wraps the
	// bbolt store), so that a crash (SIGKILL) loses it as a machine crash
	// loses the page cache.
	LazySync bool
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Exit ends the process at a failpoint (default os.Exit).
	Exit func(code int)
	// StoreDir, when set, adds the harness runs browser (/runs/) to the
	// UI, reading run directories from it.
	StoreDir string

	// PeerTLS, if set, makes the raft transport mutual TLS: this node's
	// certificate and the CA pool (RootCAs) peers must chain to. A peer's
	// certificate must name the member it claims to be (common name or
	// DNS SAN equal to the member's name).
	PeerTLS *tls.Config
	// APITLS, if set, serves the API over TLS with this server config
	// (ClientCAs and ClientAuth to require client certificates).
	APITLS *tls.Config
	// APIClientTLS is what this node uses when it calls another member's
	// API (forwarding, joining): RootCAs, and a client certificate when the
	// API requires one. Needed with APITLS.
	APIClientTLS *tls.Config
	// Tokens, if set, is required on the API (see api.Tokens).
	Tokens *api.Tokens
	// NodeToken is the token this node sends on its own calls to other
	// members' APIs (join, address updates, forwarded requests); it needs
	// the admin role. Required with Tokens.
	NodeToken string
	// MaxAPIConns caps the API's open connections (default 1024); further
	// clients wait in the kernel's accept queue.
	MaxAPIConns int
	// APIReadTimeout bounds the time to read a whole request, body
	// included (default 30s): a client that announces more body than it
	// sends is cut off then.
	APIReadTimeout time.Duration

	// memberExistsWait replaces MemberExistsWait (tests).
	memberExistsWait time.Duration
}

// API server bounds: a client must send its headers within
// apiReadHeaderTimeout and its whole request within apiReadTimeout, and an
// idle keep-alive connection is closed after apiIdleTimeout.
const (
	apiReadHeaderTimeout = 10 * time.Second
	apiReadTimeout       = 30 * time.Second
	apiIdleTimeout       = 2 * time.Minute
	apiMaxHeaderBytes    = 64 << 10
	defaultMaxAPIConns   = 1024
)

// apiScheme is http or https, as the API is served.
func (c *Config) apiScheme() string {
	if c.APITLS != nil {
		return "https"
	}
	return "http"
}

// Server is a running raftkv node.
type Server struct {
	cfg       Config
	log       *slog.Logger
	id        uint64
	clusterID uint64
	readMode  api.ReadMode

	store  raft.LogStore // the bbolt store, or lazystore over it (LazySync)
	fsm    *fsm.FSM
	tr     *transport.Transport
	node   atomic.Pointer[node.Node]
	clock  *node.FaultClock
	reg    *prometheus.Registry
	api    *api.API
	http   *http.Server
	live   *ui.Live
	apiLn  net.Listener
	client *http.Client

	apiAddr  string
	raftAddr string

	// static is what the configuration (or the join answer) says about
	// members, used until the replicated members table knows better.
	staticMu sync.Mutex
	static   map[uint64]fsm.Member

	peerMu sync.Mutex

	// droppedFrom: the removed senders whose messages were dropped (each
	// is logged once).
	droppedFrom sync.Map

	startCommit uint64

	fpMu sync.Mutex
	fp   *api.Failpoint

	// netMu guards netRules, the network fault rules as the fault API set
	// them (by member name), kept to resolve again when a name gains a
	// raft ID (a member that joined again while the fault held).
	netMu    sync.Mutex
	netRules []api.NetworkRule

	metrics *serverMetrics

	stop     chan struct{}
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	unsubscr func()
}

// Start opens the data directory, joins the cluster if asked, and starts
// raft, the transport and the API. It refuses (ErrWrongCluster,
// ErrCorruptData) a data directory it cannot trust, and (ErrMemberExists) a
// join under the name of a member that was not removed first.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := fillDefaults(&cfg); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Name),
		readMode: cfg.ReadMode,
		fsm:      fsm.New(),
		clock:    node.NewFaultClock(node.RealClock()),
		reg:      prometheus.NewRegistry(),
		client:   forwardClient(cfg.APIClientTLS),
		static:   map[uint64]fsm.Member{},
		stop:     make(chan struct{}),
		raftAddr: cfg.RaftAddr,
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	ident, haveIdent, err := readIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(cfg.DataDir, "raft.db")
	var bootstrap []uint64
	joining := false
	switch {
	case haveIdent:
		if ident.Node != cfg.Name {
			return nil, fmt.Errorf("%w: %s was written for node %q, not %q", ErrWrongCluster, cfg.DataDir, ident.Node, cfg.Name)
		}
		s.id = ident.RaftID
		s.clusterID, _ = parseClusterID(ident.ClusterID)
		if cfg.Join == "" {
			if want := ClusterID(cfg.Cluster); want != s.clusterID {
				return nil, fmt.Errorf("%w: %s belongs to cluster %s, but --cluster describes cluster %s (start it with the --cluster list it was created with, or use an empty data directory)",
					ErrWrongCluster, cfg.DataDir, ident.ClusterID, formatClusterID(want))
			}
			bootstrap = peerIDs(cfg.Cluster)
		}
	default:
		if st, err := os.Stat(dbPath); err == nil && st.Size() > 0 {
			return nil, fmt.Errorf("%w: %s has a raft log but no %s", ErrCorruptData, cfg.DataDir, identityFile)
		}
		if cfg.Join != "" {
			// A new incarnation: its raft ID has never voted nor been
			// sent anything (see membership.go). The leader checks it
			// against the members and the removed IDs.
			joining = true
			s.id = NewRaftID(cfg.Name, RandomNonce, func(id uint64) bool { return id == RaftID(cfg.Name) })
		} else {
			// The initial members all derive each other's IDs from
			// --cluster, so their IDs are the names' hashes.
			s.clusterID = ClusterID(cfg.Cluster)
			bootstrap = peerIDs(cfg.Cluster)
			s.id = RaftID(cfg.Name)
		}
	}
	for _, p := range cfg.Cluster {
		s.static[RaftID(p.Name)] = fsm.Member{Name: p.Name, RaftID: RaftID(p.Name), RaftAddr: p.RaftAddr}
	}

	// The API listener comes first so that a port-0 address is known
	// before it is announced to the cluster.
	s.apiLn, err = net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("api listener: %w", err)
	}
	s.apiLn = netutil.LimitListener(s.apiLn, cmp.Or(cfg.MaxAPIConns, defaultMaxAPIConns))
	if cfg.APITLS == nil || cfg.PeerTLS == nil || cfg.Tokens == nil {
		s.log.Warn("the network is trusted: anyone who can reach this node's ports can act as a member or an admin",
			"peer_tls", cfg.PeerTLS != nil, "api_tls", cfg.APITLS != nil, "api_tokens", cfg.Tokens != nil)
	}
	s.apiAddr = advertised(cfg.APIAddr, s.apiLn.Addr())
	ok := false
	defer func() {
		if !ok {
			s.shutdown()
		}
	}()

	if joining {
		if err := s.join(ctx); err != nil {
			return nil, err
		}
	}
	if !haveIdent {
		if err := writeIdentity(cfg.DataDir, identity{Format: 1, ClusterID: formatClusterID(s.clusterID), Node: cfg.Name, RaftID: s.id}); err != nil {
			return nil, fmt.Errorf("writing %s: %w", identityFile, err)
		}
	}

	// A member's identity without its log is a lost log, not a new node.
	bs, err := boltstore.Open(dbPath, boltstore.Options{NoSync: cfg.NoSync, RequireState: haveIdent})
	if err != nil {
		if uerr := untrustedDataDir(cfg.Name, cfg.DataDir, err); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("opening the raft log: %w", err)
	}
	s.store = bs
	if cfg.LazySync {
		s.store = lazystore.New(bs)
		s.log.Warn("UNSAFE: lazy fsync: log-store writes that are not fsynced are held in this process's memory until the next fsynced one, so a crash loses them")
	}

	s.tr, err = transport.New(transport.Config{
		ID:           s.id,
		ClusterID:    s.clusterID,
		ListenAddr:   cfg.RaftAddr,
		Handler:      s.step,
		MaxFrameSize: 256 << 20, // a whole snapshot travels in one MsgSnap frame
		OnUnreachable: func(peer uint64) {
			if n := s.node.Load(); n != nil {
				n.ReportUnreachable(peer)
			}
		},
		OnSnapshotStatus: func(peer uint64, status raft.SnapshotStatus) {
			if n := s.node.Load(); n != nil {
				n.ReportSnapshot(peer, status)
			}
		},
		FaultSeed: int64(s.id),
		Logger:    s.log.With("component", "transport"),
		TLS:       cfg.PeerTLS,
		CertIDs:   s.certRaftIDs,
	})
	if err != nil {
		return nil, fmt.Errorf("raft transport: %w", err)
	}
	s.raftAddr = advertised(cfg.RaftAddr, mustResolve(s.tr.Addr()))
	s.syncPeers(raft.ConfState{})

	ncfg := NodeConfig(RaftOptions{
		ID:                s.id,
		ElectionTimeout:   cfg.ElectionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		LeaseReads:        cfg.ReadMode == api.ReadLease,
		SnapshotEvery:     cfg.SnapshotEvery,
		SnapshotLogRatio:  cfg.SnapshotLogRatio,
		Seed:              int64(s.id) ^ time.Now().UnixNano(),
	})
	ncfg.Clock = s.clock
	ncfg.Store = s.store
	ncfg.Transport = s.tr
	ncfg.StateMachine = s.fsm
	ncfg.OnConfChange = s.onConfChange
	ncfg.Failpoint = s.failpoint
	ncfg.Bootstrap = bootstrap
	ncfg.Logger = s.log.With("component", "raft")
	n, err := node.Start(ncfg)
	if err != nil {
		if uerr := untrustedDataDir(cfg.Name, cfg.DataDir, err); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	s.node.Store(n)
	st := n.Status()
	s.startCommit = st.Commit
	s.syncPeers(st.Config)

	s.metrics = newServerMetrics(s)
	var faults api.FaultBackend
	if cfg.EnableFaults {
		faults = s
		s.log.Warn("UNSAFE: fault injection is enabled (/fault routes are served)")
	}
	s.api = api.New(api.Config{Backend: s, Faults: faults, Registry: s.reg, RequestTimeout: cfg.RequestTimeout, LeaderWait: 2 * cfg.ElectionTimeout, Logger: s.log.With("component", "api"), ForwardClient: s.client,
		ForwardScheme: cfg.apiScheme(), Tokens: cfg.Tokens, NodeToken: cfg.NodeToken})
	uiHandler, err := s.newUI(n)
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           ui.Mount(s.api.Handler(), ui.Protect(uiHandler, s.api.ReadGuard)),
		ReadHeaderTimeout: min(apiReadHeaderTimeout, cmp.Or(cfg.APIReadTimeout, apiReadTimeout)),
		ReadTimeout:       cmp.Or(cfg.APIReadTimeout, apiReadTimeout),
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    apiMaxHeaderBytes,
		TLSConfig:         cfg.APITLS,
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelDebug),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		serve := func() error { return s.http.Serve(s.apiLn) }
		if cfg.APITLS != nil {
			serve = func() error { return s.http.ServeTLS(s.apiLn, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.maintain()
	}()
	s.unsubscr = n.Subscribe(s.onEvent)
	ok = true
	s.log.Info("node started", "raft_id", fmt.Sprintf("%x", s.id), "cluster_id", formatClusterID(s.clusterID),
		"raft_addr", s.raftAddr, "api_addr", s.apiAddr, "data_dir", cfg.DataDir, "read_mode", cfg.ReadMode,
		"bootstrap", len(bootstrap) > 0 && st.LastIndex <= uint64(len(bootstrap)), "joined", joining,
		"applied", st.Applied, "commit", st.Commit, "last_index", st.LastIndex)
	return s, nil
}

func fillDefaults(cfg *Config) error {
	if cfg.Name == "" {
		return fmt.Errorf("%w: a node name is required", ErrBadConfig)
	}
	if cfg.RaftAddr == "" || cfg.APIAddr == "" {
		return fmt.Errorf("%w: raft and api addresses are required", ErrBadConfig)
	}
	if cfg.Join == "" {
		found := false
		for _, p := range cfg.Cluster {
			if p.Name == cfg.Name {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w: %q is not in the --cluster list (or use --join)", ErrBadConfig, cfg.Name)
		}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join("data", cfg.Name)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = 10 * cfg.HeartbeatInterval
	}
	if cfg.ElectionTimeout <= cfg.HeartbeatInterval {
		return fmt.Errorf("%w: the election timeout (%v) must exceed the heartbeat interval (%v)", ErrBadConfig, cfg.ElectionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.ReadMode == "" {
		cfg.ReadMode = api.ReadLinearizable
	}
	if _, err := api.ParseReadMode(string(cfg.ReadMode)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if cfg.SnapshotLogRatio < 0 {
		return fmt.Errorf("%w: a negative snapshot log ratio (%v)", ErrBadConfig, cfg.SnapshotLogRatio)
	}
	// With tokens, a node's calls to other members need an admin token of
	// its own; without one its joins and address updates fail with 401 and
	// the requests it forwards cannot prove they come from a member (so
	// their loop prevention would be ignored). Refused here, at start,
	// rather than found out on the first forwarded request.
	if cfg.Tokens != nil && cfg.NodeToken == "" {
		return fmt.Errorf("%w: with tokens (--token-file) the node needs its own admin token (--node-token-file, or --node-token / $RAFTKV_NODE_TOKEN) for its calls to other members", ErrBadConfig)
	}
	if cfg.Tokens != nil {
		if role := cfg.Tokens.Role(cfg.NodeToken); role != api.RoleAdmin {
			is := "not in the token file"
			if role != api.RoleNone {
				is = "a " + role.String() + " token in the token file"
			}
			return fmt.Errorf("%w: the node's own token (--node-token-file, --node-token or $RAFTKV_NODE_TOKEN) is %s; it must be an admin token there", ErrBadConfig, is)
		}
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 10000
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Exit == nil {
		cfg.Exit = os.Exit
	}
	return nil
}

func peerIDs(ps []Peer) []uint64 {
	ids := make([]uint64, len(ps))
	for i, p := range ps {
		ids[i] = RaftID(p.Name)
	}
	return ids
}

// advertised keeps the configured host but takes the port actually bound
// (for port 0).
func advertised(configured string, bound net.Addr) string {
	host, port, err := net.SplitHostPort(configured)
	if err != nil || port != "0" {
		return configured
	}
	_, bport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return configured
	}
	return net.JoinHostPort(host, bport)
}

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }

func mustResolve(s string) net.Addr { return strAddr(s) }

// step hands a received message to raft, but for a message from a removed
// member (DropFromRemoved), which is logged once per sender. (The
// transport has already dropped one addressed to another raft ID, such as
// a previous incarnation of this node.)
func (s *Server) step(m raft.Message) {
	if DropFromRemoved(s.fsm, m) {
		if _, seen := s.droppedFrom.LoadOrStore(m.From, true); !seen {
			s.log.Warn("dropping messages from a removed member", "from", s.nameOf(m.From), "raft_id", fmt.Sprintf("%x", m.From), "type", m.Type.String())
		}
		return
	}
	if n := s.node.Load(); n != nil {
		n.Step(m)
	}
}

// Name returns the node's name.
func (s *Server) Name() string { return s.cfg.Name }

// APIAddr returns the address the API is served on.
func (s *Server) APIAddr() string { return s.apiAddr }

// RaftAddr returns the raft transport's address.
func (s *Server) RaftAddr() string { return s.raftAddr }

// ClusterID returns the cluster ID.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Handler returns the HTTP handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.api.Handler() }

// Done is closed when raft stops on its own (a fatal storage error); the
// process should then exit.
func (s *Server) Done() <-chan struct{} { return s.node.Load().Done() }

// Err says why raft stopped.
func (s *Server) Err() error { return s.node.Load().Err() }

// Close stops the API (letting requests in flight finish for a moment),
// raft, the transport and the store.
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.log.Info("node stopping")
	return s.shutdown()
}

func (s *Server) shutdown() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	} else if s.apiLn != nil {
		s.apiLn.Close()
	}
	if s.unsubscr != nil {
		s.unsubscr()
	}
	if s.live != nil {
		s.live.Close()
	}
	if n := s.node.Load(); n != nil {
		n.Stop()
	}
	s.wg.Wait()
	var errs []error
	if s.tr != nil {
		errs = append(errs, s.tr.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// newUI builds the web UI served at the root of the API port: the live
// cluster view (and the runs browser when StoreDir is set).
func (s *Server) newUI(n *node.Node) (http.Handler, error) {
	var faults func() api.FaultState
	if s.cfg.EnableFaults {
		faults = s.Faults // nil when off: the page hides the fault controls
	}
	src, err := nodesource.New(nodesource.Config{
		Status:     s.Status,
		Members:    s.Members,
		Faults:     faults,
		Subscribe:  n.Subscribe,
		RaftStatus: n.Status,
		Client:     s.client,
		Scheme:     s.cfg.apiScheme(),
		Authorize:  s.authorize,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the ui: %w", err)
	}
	eng := gin.New()
	s.live = ui.Register(eng, src)
	if s.cfg.StoreDir != "" {
		ui.RegisterRuns(eng, s.cfg.StoreDir)
	}
	return eng, nil
}

// onConfChange runs on the driver goroutine after a conf change applied.
func (s *Server) onConfChange(cc raft.ConfChange, cs raft.ConfState) {
	name := s.nameOf(cc.NodeID)
	if err := RecordConfChange(s.fsm, cc, s.knownName); err != nil {
		s.log.Warn("membership table not updated", "err", err)
	}
	if cc.Type == raft.ConfChangeAddVoter || cc.Type == raft.ConfChangeAddLearner {
		s.refreshNetworkFaults()
	}
	if cc.Type == raft.ConfChangeRemoveNode && cc.NodeID == s.id {
		s.log.Warn("this node was removed from the cluster; its raft id is never reused: to come back, wipe its data directory and start it with --join")
	}
	s.log.Info("membership changed", "change", cc.Type.String(), "member", name, "raft_id", fmt.Sprintf("%x", cc.NodeID), "voters", len(cs.Voters), "learners", len(cs.Learners))
	s.syncPeers(cs)
}

// memberInfo returns what is known about a member: the replicated table
// first, then the static configuration or join answer.
func (s *Server) memberInfo(id uint64) (fsm.Member, bool) {
	if m, ok := s.fsm.Member(id); ok {
		return m, true
	}
	s.staticMu.Lock()
	defer s.staticMu.Unlock()
	m, ok := s.static[id]
	return m, ok
}

func (s *Server) nameOf(id uint64) string {
	if name := s.knownName(id); name != "" {
		return name
	}
	if id == raft.None {
		return ""
	}
	return fmt.Sprintf("%x", id)
}

// knownName is the member name of a raft ID, "" when unknown: this node's
// own, the member table's, the static configuration's, or a removed
// member's.
func (s *Server) knownName(id uint64) string {
	if id == raft.None {
		return ""
	}
	if id == s.id {
		return s.cfg.Name
	}
	if m, ok := s.memberInfo(id); ok && m.Name != "" {
		return m.Name
	}
	name, _ := s.fsm.Removed(id)
	return name
}

// memberName is MemberView.Name: the name of a current member (removed
// IDs are not named).
func (s *Server) memberName(id uint64) string {
	if _, gone := s.fsm.Removed(id); gone {
		return ""
	}
	return s.knownName(id)
}

// memberView is what this node knows of the members, for CheckJoin.
func (s *Server) memberView(cs raft.ConfState) MemberView {
	return MemberView{Conf: cs, Name: s.memberName, Removed: s.fsm.Removed}
}

// idOf finds the raft ID of the current member called name in cs (0 when
// there is none). Names map to IDs through the member table, not a hash:
// a member that joined has a raft ID of its own (NewRaftID).
func (s *Server) idOf(cs raft.ConfState, name string) uint64 {
	for _, ids := range [][]uint64{cs.Voters, cs.Learners} {
		for _, id := range ids {
			if s.memberName(id) == name {
				return id
			}
		}
	}
	return raft.None
}

// idsNamed returns every raft ID the member table or the static
// configuration gives to name, removed ones excepted.
func (s *Server) idsNamed(name string) []uint64 {
	var ids []uint64
	if name == s.cfg.Name {
		ids = append(ids, s.id)
	}
	for _, m := range s.fsm.Members() {
		if m.Name == name {
			ids = append(ids, m.RaftID)
		}
	}
	s.staticMu.Lock()
	for id, m := range s.static {
		if m.Name == name {
			ids = append(ids, id)
		}
	}
	s.staticMu.Unlock()
	return slices.DeleteFunc(ids, func(id uint64) bool {
		_, gone := s.fsm.Removed(id)
		return gone
	})
}

func inConf(cs raft.ConfState, id uint64) (voter, learner bool) {
	for _, v := range cs.Voters {
		if v == id {
			voter = true
		}
	}
	for _, l := range cs.Learners {
		if l == id {
			learner = true
		}
	}
	return
}

// syncPeers makes the transport's peers the members of cs (plus, while cs
// is still empty, every member known statically).
func (s *Server) syncPeers(cs raft.ConfState) {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	want := map[uint64]string{}
	if len(cs.Voters)+len(cs.Learners) == 0 {
		s.staticMu.Lock()
		for id, m := range s.static {
			want[id] = m.RaftAddr
		}
		s.staticMu.Unlock()
	} else {
		for _, ids := range [][]uint64{cs.Voters, cs.Learners} {
			for _, id := range ids {
				if m, ok := s.memberInfo(id); ok && m.RaftAddr != "" {
					want[id] = m.RaftAddr
				}
			}
		}
	}
	delete(want, s.id)
	have := s.tr.Peers()
	for id, addr := range want {
		if have[id] != addr {
			s.tr.AddPeer(id, addr)
		}
	}
	if len(cs.Voters)+len(cs.Learners) > 0 {
		for id := range have {
			if _, ok := want[id]; !ok {
				if v, l := inConf(cs, id); !v && !l {
					s.tr.RemovePeer(id)
				}
			}
		}
	}
}

// certRaftIDs maps a peer certificate to the raft IDs of the member names
// it carries, through the member table (idsNamed): a certificate names a
// member, and a member's raft ID is whatever its incarnation picked. A
// node that joined is known here once the conf change that added it is
// applied; its connections before that are refused, and it dials again.
func (s *Server) certRaftIDs(c *x509.Certificate) []uint64 {
	var ids []uint64
	for _, name := range devcerts.Names(c) {
		ids = append(ids, s.idsNamed(name)...)
	}
	return ids
}

// forwardClient is the client for other members' APIs.
func forwardClient(tlsCfg *tls.Config) *http.Client {
	c := api.NewForwardClient()
	if tlsCfg != nil {
		c.Transport.(*http.Transport).TLSClientConfig = tlsCfg.Clone()
	}
	return c
}

// authorize adds this node's token to a call to another member.
func (s *Server) authorize(req *http.Request) {
	if s.cfg.NodeToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.NodeToken)
	}
}
