package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/nemesis"
)

// Name is the backend's name in scenarios and in the cluster registry.
const Name = "sim"

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("sim: config")

// NodeConfig are the node settings of a scenario (its `node:` block).
type NodeConfig struct {
	ElectionTimeout   nemesis.Duration `yaml:"election_timeout,omitempty"`
	HeartbeatInterval nemesis.Duration `yaml:"heartbeat_interval,omitempty"`
	SnapshotEvery     uint64           `yaml:"snapshot_every,omitempty"`
	// MaxAppendBytes and MaxInflight bound one append message's entry
	// bytes and the appends in flight per follower (kvservice.RaftOptions;
	// 0: the node's defaults).
	MaxAppendBytes uint64 `yaml:"max_append_bytes,omitempty"`
	MaxInflight    int    `yaml:"max_inflight,omitempty"`
	// PreVote and CheckQuorum are on unless set to false (check-quorum
	// stays on with lease reads, which need it).
	PreVote     *bool `yaml:"pre_vote,omitempty"`
	CheckQuorum *bool `yaml:"check_quorum,omitempty"`
}

// Config is what one simulated run needs. Its YAML form is a scenario file
// (the harness's Scenario): the fields carry the same names, so the
// harness hands a scenario over as its resolved YAML (ParseConfig), and
// fields the simulation does not use (backend, check_timeout, node.extra,
// ...) are ignored.
type Config struct {
	Name             string           `yaml:"name"`
	Nodes            int              `yaml:"nodes,omitempty"`
	Duration         nemesis.Duration `yaml:"duration"`
	Clients          int              `yaml:"clients,omitempty"`
	Rate             float64          `yaml:"rate,omitempty"`
	Keys             int              `yaml:"keys,omitempty"`
	MaxClientsPerKey int              `yaml:"max_clients_per_key,omitempty"`
	Mix              workload.Mix     `yaml:"mix,omitempty"`
	ReadMode         string           `yaml:"read_mode,omitempty"`
	RequestTimeout   nemesis.Duration `yaml:"request_timeout,omitempty"`
	// WriteAttempts bounds how many times a client sends a write whose
	// outcome is unknown (workload.Retry). 0: each seed draws it
	// (drawUnsetKnobs), so that retries with the same session, and the
	// de-duplication they rely on, are exercised by every scenario that
	// does not pin them.
	WriteAttempts    int              `yaml:"write_attempts,omitempty"`
	Node             NodeConfig       `yaml:"node,omitempty"`
	Nemesis          nemesis.Schedule `yaml:"nemesis,omitempty"`
	Recovery         nemesis.Duration `yaml:"recovery,omitempty"`
	FinalReadTimeout nemesis.Duration `yaml:"final_read_timeout,omitempty"`
	Expect           string           `yaml:"expect,omitempty"`
	Seed             int64            `yaml:"seed,omitempty"`
	// Swarm: each seed draws its own configuration (swarm.go) over the
	// scenario's.
	Swarm bool `yaml:"swarm,omitempty"`

	// Net overrides the seed's draw of the baseline network (nil: drawn
	// from the seed); a swarm seed draws its own.
	Net *NetParams `yaml:"network,omitempty"`
	// ServerTimeout is the nodes' own request timeout (kvservice's
	// --request-timeout, default 5s).
	ServerTimeout time.Duration `yaml:"server_timeout,omitempty"`

	// LogStore is the nodes' disk: "memory" (raft.MemoryStorage), "bolt"
	// (the real bbolt store, raft/boltstore, in a temporary directory, its
	// fsyncs simulated) or "mixed" (the default: each node draws one from
	// the seed), always behind raft/lazystore so a crash loses what was not
	// synced.
	LogStore string `yaml:"log_store,omitempty"`
}

// ParseConfig decodes a scenario's YAML (unknown fields are ignored: the
// harness validates scenarios strictly before) and applies the harness's
// defaults.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	c.applyDefaults()
	return c, c.Validate()
}

// LoadConfig reads a scenario file; the name defaults to the file's base
// name, as in the harness.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c, err := ParseConfig(b)
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return c, err
}

// applyDefaults mirrors the harness's scenario defaults and the node's flag
// defaults (kvservice: heartbeat 100ms, election 10 heartbeats, snapshot
// every 10000 entries, request timeout 5s).
func (c *Config) applyDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Clients == 0 {
		c.Clients = 6
	}
	if c.Keys == 0 {
		c.Keys = 8
	}
	if c.MaxClientsPerKey == 0 {
		c.MaxClientsPerKey = 3
	}
	if c.Mix == (workload.Mix{}) {
		c.Mix = workload.DefaultMix
	}
	if c.ReadMode == "" {
		c.ReadMode = "linearizable"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = nemesis.Duration(time.Second)
	}
	if c.Recovery == 0 {
		c.Recovery = nemesis.Duration(3 * time.Second)
	}
	if c.FinalReadTimeout == 0 {
		c.FinalReadTimeout = nemesis.Duration(15 * time.Second)
	}
	if c.Expect == "" {
		c.Expect = "valid"
	}
	if c.Node.HeartbeatInterval == 0 {
		c.Node.HeartbeatInterval = nemesis.Duration(100 * time.Millisecond)
	}
	if c.Node.ElectionTimeout == 0 {
		c.Node.ElectionTimeout = 10 * c.Node.HeartbeatInterval
	}
	if c.Node.SnapshotEvery == 0 {
		c.Node.SnapshotEvery = 10000
	}
	if c.LogStore == "" {
		c.LogStore = "mixed"
	}
	if c.ServerTimeout == 0 {
		c.ServerTimeout = 5 * time.Second
	}
}

// Validate checks the values the simulation depends on.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Duration <= 0 {
		bad("duration must be > 0")
	}
	if c.Nodes < 1 || c.Clients < 1 || c.Keys < 1 || c.Rate < 0 || c.MaxClientsPerKey < 0 || c.WriteAttempts < 0 {
		bad("nodes, clients and keys must be >= 1, rate, max_clients_per_key and write_attempts >= 0")
	}
	switch c.ReadMode {
	case "linearizable", "lease", "stale":
	default:
		bad("read_mode %q (linearizable|lease|stale)", c.ReadMode)
	}
	switch c.LogStore {
	case "memory", "bolt", "mixed":
	default:
		bad("log_store %q (memory|bolt|mixed)", c.LogStore)
	}
	if c.Node.ElectionTimeout <= c.Node.HeartbeatInterval {
		bad("election_timeout %v must exceed heartbeat_interval %v", c.Node.ElectionTimeout.D(), c.Node.HeartbeatInterval.D())
	}
	if c.Node.MaxInflight < 0 {
		bad("node.max_inflight %d must be >= 0", c.Node.MaxInflight)
	}
	if !c.Mix.Valid() {
		bad("mix weights must be >= 0 and not all zero")
	}
	if err := c.Nemesis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ServerTimeout < 0 {
		bad("server_timeout %v must be >= 0", c.ServerTimeout)
	}
	if c.Net != nil {
		if err := c.Net.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, c.Name, err)
	}
	return nil
}
