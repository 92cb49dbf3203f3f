// Package transport carries raft messages between raftkv nodes over TCP.
//
// # Wire protocol
//
// A connection is one-way: the dialer sends, the listener receives. The
// dialer opens with a fixed-size hello (magic "RKVT", protocol version,
// cluster ID, sender ID, receiver ID); the listener answers with one status
// byte and closes the connection, logging the reason and the remote
// address, if the version, cluster ID or receiver ID does not match. So a
// node never accepts messages from another cluster, nor messages meant for
// a node that used to live at its address. After the hello the dialer
// writes frames: a uint32 payload length, a uint32 CRC32C of the payload,
// and the payload, a batch of length-prefixed messages in the compact
// varint encoding described in codec.go. Decoding is strict and never
// panics: any malformed byte (bad magic, bad checksum, unknown type, a
// length beyond the data, a frame above MaxFrameSize) closes that one
// connection and nothing else.
//
// # Sending
//
// Each peer has a bounded queue and one writer goroutine that owns one
// persistent connection. The writer takes everything queued, up to one
// frame (at most MaxFrameSize of payload; a batch stops growing at 1 MiB
// so the receiver can decode one frame while the next is in flight),
// encodes it into a reused buffer and writes it with one Write call; a
// message that does not fit waits for the next frame. Send never blocks: when a peer's queue is full, or its
// connection is down, messages are dropped (raft tolerates message loss)
// and OnUnreachable is called so that raft can fall back to probing the
// peer. A failed dial or write closes the connection; the next attempt
// waits an exponential backoff with jitter (BackoffMin to BackoffMax).
// Peers can be added, re-addressed and removed at run time, following
// membership changes.
//
// # Receiving
//
// Each inbound connection has one reader goroutine, which calls Handler
// for every message whose From is the sender named in the hello and whose
// To is this node (others are dropped and logged). Handler is therefore
// called concurrently. Any node of the cluster may connect, not only known
// peers: a node that is joining sends before it is added everywhere.
// Decoded messages alias their frame's buffer, which is never reused, so
// Handler may keep them.
//
// # Faults
//
// SetFaults installs packet fault rules (drop, probabilistic loss from a
// seeded source, delay with jitter), per peer and per direction, which
// every sent and received message passes through. Only the unsafe fault
// API of a node started with fault injection enabled, or the test harness,
// may call it.
package transport
