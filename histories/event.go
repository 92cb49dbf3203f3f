package histories

// Version is the history format version written in every header. Readers
// refuse a history whose major version they do not know.
const Version = 1

// Kind separates client operations from nemesis (fault) events and the header.
type Kind string

const (
	KindHeader  Kind = "header"
	KindOp      Kind = "op"
	KindNemesis Kind = "nemesis"
)

// Type is the phase of an event, with Jepsen's meaning.
type Type string

const (
	// Invoke: a client is about to send the operation.
	Invoke Type = "invoke"
	// OK: the operation certainly took effect (for reads: returned Value).
	OK Type = "ok"
	// Fail: the operation certainly did not take effect (a definite error,
	// or a cas whose expected value did not match).
	Fail Type = "fail"
	// Info: the outcome is unknown; the operation may take effect at any
	// time after its invocation. The process never issues another operation.
	Info Type = "info"
	// Start / Stop bracket a nemesis fault window (Kind == KindNemesis).
	Start Type = "start"
	Stop  Type = "stop"
)

// Operation names (the F field of op events).
const (
	OpGet    = "get"
	OpPut    = "put"
	OpDelete = "delete"
	OpCas    = "cas"
)

// Header is the first line of every history.jsonl.
type Header struct {
	Kind     Kind     `json:"kind"` // always KindHeader
	Version  int      `json:"version"`
	Scenario string   `json:"scenario,omitempty"`
	Backend  string   `json:"backend,omitempty"`
	Seed     int64    `json:"seed"`
	Nodes    []string `json:"nodes,omitempty"`
	// StartedAt is the wall-clock start (RFC 3339). Left empty by the sim
	// backend so that a seed reproduces the file byte for byte.
	StartedAt string `json:"started_at,omitempty"`
}

// Event is one line of a history after the header.
//
// For op events: F is the operation; Key its key; Value the value written
// (put, and the new value of cas) on invoke, or the value read (get) on ok,
// with Found=false and Value=nil for a missing key; Expected is cas's
// expected value. Node is the node the client contacted; Error the error
// text on fail/info.
//
// For nemesis events: F is the fault's name (e.g. "partition-halves"),
// Type is Start or Stop, Nodes the nodes it acts on and Detail a
// human-readable description.
type Event struct {
	Kind Kind `json:"kind"`
	Type Type `json:"type"`
	// Time is nanoseconds since the run started, from a monotonic clock
	// (simulated time in the sim backend).
	Time     int64    `json:"time"`
	Process  int      `json:"process"`
	F        string   `json:"f"`
	Key      string   `json:"key,omitempty"`
	Value    *string  `json:"value,omitempty"`
	Expected *string  `json:"expected,omitempty"`
	Found    *bool    `json:"found,omitempty"`
	Node     string   `json:"node,omitempty"`
	Error    string   `json:"error,omitempty"`
	Nodes    []string `json:"nodes,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}
