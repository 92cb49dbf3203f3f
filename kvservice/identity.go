package kvservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Errors returned by Start for a data directory it refuses.
var (
	// ErrWrongCluster: the data directory belongs to another cluster (or
	// to another node name).
	ErrWrongCluster = errors.New("kvservice: data directory belongs to another cluster")
	// ErrCorruptData: the log or the identity file cannot be trusted.
	ErrCorruptData = errors.New("kvservice: corrupt data directory")
	// ErrBadConfig: the configuration is unusable.
	ErrBadConfig = errors.New("kvservice: bad configuration")
)

// RaftID maps a member name to the raft ID it has as an initial member
// (one listed in --cluster): the 64-bit FNV-1a hash of the name cut to its
// low 53 bits (so the ID survives JSON numbers in JavaScript), with 0
// (raft.None) replaced by 1. The initial members derive each other's IDs
// this way; a node that joins picks a fresh ID (NewRaftID), so elsewhere a
// name maps to an ID through the member table, never through this hash.
func RaftID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	if id := h.Sum64() & (1<<53 - 1); id != 0 {
		return id
	}
	return 1
}

// Peer is a member of the initial cluster.
type Peer struct {
	Name     string
	RaftAddr string
}

// ParseCluster parses a --cluster list: comma-separated "host:port" (the
// i-th entry is named node<i>) or "name=host:port" entries.
func ParseCluster(s string) ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p := Peer{Name: "node" + strconv.Itoa(i), RaftAddr: part}
		if name, addr, ok := strings.Cut(part, "="); ok {
			p = Peer{Name: strings.TrimSpace(name), RaftAddr: strings.TrimSpace(addr)}
		}
		if p.Name == "" || !strings.Contains(p.RaftAddr, ":") {
			return nil, fmt.Errorf("%w: bad --cluster entry %q (want host:port or name=host:port)", ErrBadConfig, part)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: member %q listed twice in --cluster", ErrBadConfig, p.Name)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

// ClusterID derives the cluster ID from the initial member list. The order
// of the list does not matter.
func ClusterID(peers []Peer) uint64 {
	items := make([]string, len(peers))
	for i, p := range peers {
		items[i] = p.Name + "=" + p.RaftAddr
	}
	sort.Strings(items)
	h := fnv.New64a()
	h.Write([]byte(strings.Join(items, ",")))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}

// identity is identity.json in the data directory. RaftID is the ID of
// this incarnation: RaftID(Node) for an initial member, the one picked at
// join time (NewRaftID) for a node that joined.
type identity struct {
	Format    int    `json:"format"`
	ClusterID string `json:"cluster_id"` // hex
	Node      string `json:"node"`
	RaftID    uint64 `json:"raft_id"`
}

const identityFile = "identity.json"

func formatClusterID(id uint64) string { return fmt.Sprintf("%016x", id) }

func parseClusterID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("bad cluster id %q", s)
	}
	return id, nil
}

// readIdentity returns the identity in dir, or ok=false if there is none.
func readIdentity(dir string) (identity, bool, error) {
	var id identity
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	if err := json.Unmarshal(b, &id); err != nil || id.Format != 1 || id.Node == "" || id.RaftID == 0 {
		return id, false, fmt.Errorf("%w: %s is unreadable (%v)", ErrCorruptData, filepath.Join(dir, identityFile), err)
	}
	if _, err := parseClusterID(id.ClusterID); err != nil {
		return id, false, fmt.Errorf("%w: %s: %v", ErrCorruptData, filepath.Join(dir, identityFile), err)
	}
	return id, true, nil
}

// writeIdentity writes identity.json atomically (temp file, fsync, rename,
// fsync of the directory).
func writeIdentity(dir string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, identityFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, identityFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
