package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math/bits"
	"sort"
	"sync"

	"github.com/google/btree"

	"github.com/raftkv/raftkv/internal/bugs"
)

// Session limits. They are part of the replicated semantics: every replica
// of a cluster must use the same values, so they are constants rather than
// flags.
const (
	// SessionWindow is how many log indexes a client session survives
	// without being used. A retry that arrives later than this is treated
	// as a new request (and may apply twice), so it is large compared to
	// any client's retry horizon.
	SessionWindow = 1 << 20
	// MaxSessions bounds the sessions kept; past it the least recently
	// used live session is dropped.
	MaxSessions = 10000
	// gcEvery is how often (in log indexes) expired sessions are freed.
	// Freeing only ever removes sessions that lookups already ignore, so
	// its timing does not affect results.
	gcEvery = 4096
)

// Result is the outcome of applying a command, handed to the proposer.
type Result struct {
	Op    Op
	Key   string
	Value string
	// Found: get and cas — the key exists (Value is its value); delete —
	// the key existed.
	Found bool
	// Succeeded: cas only — the value equalled Expected and was replaced.
	Succeeded bool
	// Index is the log index at which the command was applied; for a
	// duplicate, the index of the first application.
	Index uint64
	// Duplicate is true when the result was replayed from the session.
	Duplicate bool
	// Err is ErrStaleRequest, ErrBadCommand or ErrAlreadyApplied; the
	// command had no effect.
	Err error
}

type session struct {
	lastRequest uint64
	lastIndex   uint64 // log index of the last use, for expiry
	result      Result // the result of lastRequest (Err always nil)
}

// FSM is the key-value state machine. It is safe for concurrent use: Apply,
// Snapshot and Restore are called by the raft driver's apply loop while the
// API reads concurrently.
type FSM struct {
	mu      sync.RWMutex
	applied uint64 // index of the last applied command
	// kv is ordered by key: a snapshot is its in-order walk (no sorting),
	// and capturing it is an O(1) copy-on-write clone.
	kv   *btree.BTreeG[kvPair]
	hash sum256 // of the key-value pairs
	// sessionSum is the same kind of sum over the client sessions.
	sessionSum sum256
	sessions   map[string]*session
	members    map[uint64]Member
	// removed holds the tombstones: the raft ID of every member ever
	// removed, with its name. A raft ID names one incarnation of a member
	// (its persisted vote and log); once removed it is never added again,
	// so the table outlives the member and travels in snapshots.
	removed map[uint64]string
}

// New returns an empty state machine.
func New() *FSM {
	return &FSM{
		kv:       newKV(),
		sessions: make(map[string]*session),
		members:  make(map[uint64]Member),
		removed:  make(map[uint64]string),
	}
}

// Apply decodes and executes the command in data, committed at index, and
// returns a Result (never nil). It implements the driver's StateMachine.
func (f *FSM) Apply(index uint64, data []byte) any {
	c, err := DecodeCommand(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if index <= f.applied {
		return Result{Op: c.Op, Key: c.Key, Index: index, Err: ErrAlreadyApplied}
	}
	prev := f.applied
	f.applied = index
	if prev/gcEvery != index/gcEvery {
		f.gcSessions(index)
	}
	if err != nil {
		return Result{Index: index, Err: err}
	}
	return f.apply(index, c)
}

// ApplyCommand is Apply for an already decoded command (tests and the
// in-process simulation use it).
func (f *FSM) ApplyCommand(index uint64, c Command) Result {
	return f.Apply(index, EncodeCommand(c)).(Result)
}

func (f *FSM) apply(index uint64, c Command) Result {
	switch c.Op {
	case OpGet:
		v, ok := f.get(c.Key)
		return Result{Op: OpGet, Key: c.Key, Value: v, Found: ok, Index: index}
	case OpMembers:
		for _, m := range c.Members {
			// An address update that was proposed before its member's
			// removal and committed after it must not bring the name back.
			if _, gone := f.removed[m.RaftID]; !gone {
				f.members[m.RaftID] = m
			}
		}
		return Result{Op: OpMembers, Index: index}
	}
	var s *session
	if c.ClientID != "" {
		s = f.sessions[c.ClientID]
		if s != nil && index-s.lastIndex > SessionWindow {
			s = nil // expired: the client is a stranger again
		}
		if s != nil {
			switch {
			case c.RequestID == s.lastRequest && bugs.On(bugs.NoSessionDedup):
				// Planted bug (bugs.NoSessionDedup): the session is used
				// only to refuse requests older than the last one; a retry
				// of the last one is taken for a new request and applied
				// again, so a retried set, delete or cas lands twice, the
				// second time over whatever was written in between.
				bugs.Fire(bugs.NoSessionDedup)
			case c.RequestID == s.lastRequest:
				f.sessionSum.sub(sessionHash(c.ClientID, s))
				s.lastIndex = index
				f.sessionSum.add(sessionHash(c.ClientID, s))
				r := s.result
				r.Duplicate = true
				return r
			case c.RequestID < s.lastRequest:
				return Result{Op: c.Op, Key: c.Key, Index: index, Err: ErrStaleRequest}
			}
		}
	}
	r := f.write(index, c)
	if c.ClientID != "" {
		if s == nil {
			s = f.newSession(index, c.ClientID)
		} else {
			f.sessionSum.sub(sessionHash(c.ClientID, s))
		}
		s.lastRequest = c.RequestID
		s.lastIndex = index
		s.result = r
		f.sessionSum.add(sessionHash(c.ClientID, s))
	}
	return r
}

// write executes a set, delete or cas.
func (f *FSM) write(index uint64, c Command) Result {
	r := Result{Op: c.Op, Key: c.Key, Index: index}
	old, found := f.get(c.Key)
	switch c.Op {
	case OpSet:
		f.put(c.Key, old, found, c.Value)
		r.Value, r.Found = c.Value, true
	case OpDelete:
		if found {
			f.hash.sub(pairHash(c.Key, old))
			f.kv.Delete(kvPair{key: c.Key})
		}
		r.Found = found
	case OpCAS:
		if found && old == c.Expected {
			f.put(c.Key, old, found, c.Value)
			r.Succeeded, r.Found, r.Value = true, true, c.Value
		} else {
			r.Found, r.Value = found, old
		}
	default:
		r.Err = ErrBadCommand
	}
	return r
}

func (f *FSM) put(key, old string, found bool, v string) {
	if found {
		f.hash.sub(pairHash(key, old))
	}
	f.kv.ReplaceOrInsert(kvPair{key: key, value: v})
	f.hash.add(pairHash(key, v))
}

func (f *FSM) newSession(index uint64, id string) *session {
	if len(f.sessions) >= MaxSessions {
		f.gcSessions(index)
	}
	if len(f.sessions) >= MaxSessions {
		// Evict the least recently used session. lastIndex values are
		// distinct (one command per index), so the choice is unique.
		var victim string
		var oldest uint64
		first := true
		for cid, s := range f.sessions {
			if first || s.lastIndex < oldest {
				victim, oldest, first = cid, s.lastIndex, false
			}
		}
		f.sessionSum.sub(sessionHash(victim, f.sessions[victim]))
		delete(f.sessions, victim)
	}
	if prev := f.sessions[id]; prev != nil {
		f.sessionSum.sub(sessionHash(id, prev)) // an expired session of the same client
	}
	s := &session{}
	f.sessions[id] = s
	return s
}

// gcSessions frees sessions that have expired at index.
func (f *FSM) gcSessions(index uint64) {
	for cid, s := range f.sessions {
		if index-s.lastIndex > SessionWindow {
			f.sessionSum.sub(sessionHash(cid, s))
			delete(f.sessions, cid)
		}
	}
}

// Get returns the local value of key: a stale read unless the caller waited
// for a read index first.
func (f *FSM) Get(key string) (value string, found bool, applied uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.get(key)
	return v, ok, f.applied
}

// Len returns the number of keys.
func (f *FSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.kv.Len()
}

// Applied returns the index of the last applied command (conf changes and
// empty entries do not pass through the state machine, so raft's applied
// index may be higher).
func (f *FSM) Applied() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// StateHash returns the index of the last applied command and the hex hash
// of the key-value map at that index, read atomically.
func (f *FSM) StateHash() (applied uint64, hash string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.sessionSum == (sum256{}) {
		return f.applied, f.hash.hex()
	}
	return f.applied, hex.EncodeToString(sha256Of(f.hash.hex(), f.sessionSum.hex()))
}

// Sessions returns the number of client sessions held (including expired
// ones not yet freed).
func (f *FSM) Sessions() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.sessions)
}

// SetMember records (or replaces) a member's metadata. The node server
// calls it when it applies a conf change that carries the metadata.
// A removed raft ID is never recorded again.
func (f *FSM) SetMember(m Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, gone := f.removed[m.RaftID]; !gone {
		f.members[m.RaftID] = m
	}
}

// RemoveMember forgets a member's metadata and records its raft ID as
// removed (a tombstone, see Removed), under name when the table has no
// name for it.
func (f *FSM) RemoveMember(raftID uint64, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.members[raftID]; ok && m.Name != "" {
		name = m.Name
	}
	delete(f.members, raftID)
	f.removed[raftID] = name
}

// Removed reports whether raftID was removed from the cluster, and the
// name it had.
func (f *FSM) Removed(raftID uint64) (name string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	name, ok = f.removed[raftID]
	return name, ok
}

// RemovedIDs returns the tombstones: every removed raft ID with its name.
func (f *FSM) RemovedIDs() map[uint64]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.removed)
}

// Member returns a member's metadata.
func (f *FSM) Member(raftID uint64) (Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.members[raftID]
	return m, ok
}

// Members returns every known member's metadata, sorted by raft ID.
func (f *FSM) Members() []Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Member, 0, len(f.members))
	for _, m := range f.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RaftID < out[j].RaftID })
	return out
}

// sum256 is a 256-bit unsigned integer (little-endian limbs) used as an
// additive multiset hash: the state hash is the sum, modulo 2^256, of the
// SHA-256 digests of every (key, value) pair.
type sum256 [4]uint64

func (s *sum256) add(d [32]byte) {
	var c uint64
	for i := range 4 {
		s[i], c = bits.Add64(s[i], binary.LittleEndian.Uint64(d[8*i:]), c)
	}
}

func (s *sum256) sub(d [32]byte) {
	var b uint64
	for i := range 4 {
		s[i], b = bits.Sub64(s[i], binary.LittleEndian.Uint64(d[8*i:]), b)
	}
}

func (s *sum256) hex() string {
	var out [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(out[8*i:], s[3-i])
	}
	return hex.EncodeToString(out[:])
}

// sessionHash is SHA-256 of a session as a snapshot records it. The
// sessions are replicated state like the pairs (they decide whether a
// retried write applies again), so the state hash covers them (in a sum of
// their own, FSM.sessionSum): two replicas whose sessions differ — a
// snapshot install that lost them, say — differ in it at once rather than
// only when a retry lands.
func sessionHash(cid string, s *session) [32]byte {
	return sha256.Sum256(appendSession(nil, cid, s))
}

// sha256Of hashes the two sums' hex forms, separated.
func sha256Of(pairs, sessions string) []byte {
	d := sha256.Sum256([]byte(pairs + "/" + sessions))
	return d[:]
}

// pairHash is SHA-256 of the length-prefixed key followed by the value, so
// ("ab","c") and ("a","bc") differ.
func pairHash(k, v string) [32]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
	h.Write([]byte(k))
	h.Write([]byte(v))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// kvPair is one key and its value, ordered by key in FSM.kv.
type kvPair struct{ key, value string }

// kvDegree is the B-tree's degree: nodes of up to 2*kvDegree-1 pairs.
const kvDegree = 32

func newKV() *btree.BTreeG[kvPair] {
	return btree.NewG(kvDegree, func(a, b kvPair) bool { return a.key < b.key })
}

func (f *FSM) get(key string) (string, bool) {
	p, ok := f.kv.Get(kvPair{key: key})
	return p.value, ok
}
