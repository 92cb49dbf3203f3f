package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/internal/varint"
)

// Op is a state-machine operation.
type Op uint8

// Operations. The numeric values are part of the log format: never reuse
// or renumber them.
const (
	OpGet     Op = 1
	OpSet     Op = 2
	OpDelete  Op = 3
	OpCAS     Op = 4
	OpMembers Op = 5 // records member metadata (names and addresses)
)

var opNames = map[Op]string{OpGet: "get", OpSet: "set", OpDelete: "delete", OpCAS: "cas", OpMembers: "members"}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ParseOp maps the API's operation names ("get", "set", "delete", "cas") to
// an Op. OpMembers is internal and not parsed.
func ParseOp(s string) (Op, bool) {
	switch s {
	case "get":
		return OpGet, true
	case "set":
		return OpSet, true
	case "delete":
		return OpDelete, true
	case "cas":
		return OpCAS, true
	}
	return 0, false
}

// IsWrite reports whether the operation changes the key-value map.
func (o Op) IsWrite() bool { return o == OpSet || o == OpDelete || o == OpCAS }

// Command is one state-machine command, the payload of a normal log entry.
type Command struct {
	Op       Op
	Key      string
	Value    string // set: the value; cas: the new value
	Expected string // cas only
	// ClientID and RequestID identify a client session request for
	// exactly-once writes; an empty ClientID means no session.
	ClientID  string
	RequestID uint64
	// Members is the metadata carried by OpMembers.
	Members []Member
}

// Member is what every replica knows about a cluster member besides its
// raft ID: its name and addresses. Raft membership itself (voter, learner,
// removed) lives in raft's ConfState; this table only names the members.
type Member struct {
	Name     string `json:"name"`
	RaftID   uint64 `json:"raft_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// StayLearner asks the leader never to promote this learner to voter.
	StayLearner bool `json:"stay_learner,omitempty"`
}

// commandVersion is the first byte of every encoded command.
const commandVersion = 1

// Errors returned by DecodeCommand and carried in Result.Err.
var (
	// ErrBadCommand: an entry's bytes are not a valid command.
	ErrBadCommand = errors.New("fsm: malformed command")
	// ErrStaleRequest: a request older than the client's last applied
	// request; its result is no longer known, so it is rejected.
	ErrStaleRequest = errors.New("fsm: request id is older than the client's last request")
	// ErrAlreadyApplied: Apply was called with an index at or below the
	// last applied index (a driver bug); nothing was applied.
	ErrAlreadyApplied = errors.New("fsm: entry index already applied")
	// ErrCorruptSnapshot: Restore was given data that does not decode or
	// whose checksum does not match.
	ErrCorruptSnapshot = errors.New("fsm: corrupt snapshot")
)

// EncodeCommand encodes c in the log format: a version byte, the op byte,
// then length-prefixed (uvarint) strings and uvarints.
func EncodeCommand(c Command) []byte {
	n := 2 + 5*binary.MaxVarintLen64 + len(c.Key) + len(c.Value) + len(c.Expected) + len(c.ClientID)
	b := make([]byte, 0, n)
	b = append(b, commandVersion, byte(c.Op))
	b = appendString(b, c.Key)
	b = appendString(b, c.Value)
	b = appendString(b, c.Expected)
	b = appendString(b, c.ClientID)
	b = binary.AppendUvarint(b, c.RequestID)
	if c.Op == OpMembers {
		b = binary.AppendUvarint(b, uint64(len(c.Members)))
		for _, m := range c.Members {
			b = appendMember(b, m)
		}
	}
	return b
}

// DecodeCommand decodes bytes produced by EncodeCommand. It accepts only
// canonical input: minimal varints, no trailing bytes.
func DecodeCommand(data []byte) (Command, error) {
	r := reader{b: data}
	var c Command
	if v := r.byte(); v != commandVersion {
		return c, fmt.Errorf("%w: version %d", ErrBadCommand, v)
	}
	c.Op = Op(r.byte())
	if _, ok := opNames[c.Op]; !ok {
		return c, fmt.Errorf("%w: unknown op %d", ErrBadCommand, uint8(c.Op))
	}
	c.Key = r.string()
	c.Value = r.string()
	c.Expected = r.string()
	c.ClientID = r.string()
	c.RequestID = r.uvarint()
	if c.Op == OpMembers {
		n := r.uvarint()
		if n > uint64(len(data)) {
			return c, fmt.Errorf("%w: member count %d", ErrBadCommand, n)
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			c.Members = append(c.Members, r.member())
		}
	}
	if r.err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCommand, r.err)
	}
	if len(r.b) != 0 {
		return c, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(r.b))
	}
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendMember(b []byte, m Member) []byte {
	b = appendString(b, m.Name)
	b = binary.AppendUvarint(b, m.RaftID)
	b = appendString(b, m.RaftAddr)
	b = appendString(b, m.APIAddr)
	return appendBool(b, m.StayLearner)
}

var errShort = errors.New("unexpected end of data")

// reader decodes the primitives above; the first error sticks and later
// reads return zero values, so callers check err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad boolean"))
	return false
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	// Only the minimal form is accepted, so a command has exactly one
	// encoding and re-encodes to its bytes.
	v, n, err := varint.Uvarint(r.b)
	if err != nil {
		r.fail(err)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) member() Member {
	return Member{
		Name:        r.string(),
		RaftID:      r.uvarint(),
		RaftAddr:    r.string(),
		APIAddr:     r.string(),
		StayLearner: r.bool(),
	}
}
