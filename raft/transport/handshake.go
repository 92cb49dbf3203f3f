package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The hello is the first thing a dialer writes on a new connection. It is
// fixed-size so that the listener can read it with one bounded read:
//
//	magic     4 bytes "RKVT"
//	version   2 bytes big-endian
//	reserved  2 bytes, zero
//	cluster   8 bytes big-endian
//	sender    8 bytes big-endian (the dialer's node ID)
//	receiver  8 bytes big-endian (the node ID the dialer thinks it reached)
//
// The listener answers with one status byte. On anything but helloOK it
// closes the connection. A connection whose first bytes are not the magic
// gets no answer at all: it is not a raftkv peer.
const (
	helloSize = 32
	// ProtocolVersion is the version of the hello and frame format.
	ProtocolVersion uint16 = 1
)

var helloMagic = [4]byte{'R', 'K', 'V', 'T'}

// Handshake status codes sent by the listener.
const (
	helloOK byte = iota
	helloBadVersion
	helloBadCluster
	helloBadReceiver
	helloBadSender
	helloBadIdentity
)

var (
	// ErrHandshake is wrapped by every handshake failure, on both sides.
	ErrHandshake = errors.New("transport: handshake failed")
	// ErrClusterMismatch means the two nodes belong to different clusters.
	ErrClusterMismatch = errors.New("transport: cluster ID mismatch")
	// ErrVersionMismatch means the two nodes speak different protocol versions.
	ErrVersionMismatch = errors.New("transport: protocol version mismatch")
	// ErrWrongReceiver means the dialer reached a node other than the one it
	// addressed (a stale address after a membership change, say).
	ErrWrongReceiver = errors.New("transport: wrong receiver ID")
	// ErrBadSender means the dialer announced an invalid node ID.
	ErrBadSender = errors.New("transport: invalid sender ID")
	// ErrIdentity means a peer's TLS certificate does not name the node ID
	// it claims to be (or was dialled as).
	ErrIdentity = errors.New("transport: certificate does not name the peer")
)

type hello struct {
	version  uint16
	cluster  uint64
	sender   uint64
	receiver uint64
}

func (h hello) marshal() []byte {
	b := make([]byte, helloSize)
	copy(b[0:4], helloMagic[:])
	binary.BigEndian.PutUint16(b[4:6], h.version)
	binary.BigEndian.PutUint64(b[8:16], h.cluster)
	binary.BigEndian.PutUint64(b[16:24], h.sender)
	binary.BigEndian.PutUint64(b[24:32], h.receiver)
	return b
}

// readHello reads and parses a hello. A wrong magic or a nonzero reserved
// field is an ErrMalformed error: the connection is garbage, not a peer.
func readHello(r io.Reader) (hello, error) {
	var b [helloSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return hello{}, fmt.Errorf("%w: reading hello: %w", ErrHandshake, err)
	}
	if [4]byte(b[0:4]) != helloMagic {
		return hello{}, fmt.Errorf("%w: %w: bad magic %q", ErrHandshake, ErrMalformed, b[0:4])
	}
	if b[6] != 0 || b[7] != 0 {
		return hello{}, fmt.Errorf("%w: %w: nonzero reserved bytes", ErrHandshake, ErrMalformed)
	}
	return hello{
		version:  binary.BigEndian.Uint16(b[4:6]),
		cluster:  binary.BigEndian.Uint64(b[8:16]),
		sender:   binary.BigEndian.Uint64(b[16:24]),
		receiver: binary.BigEndian.Uint64(b[24:32]),
	}, nil
}

// check validates a hello received by node self of cluster cluster. It
// returns the status byte to answer with and, if it is not helloOK, the
// reason.
func (h hello) check(cluster, self uint64) (byte, error) {
	switch {
	case h.version != ProtocolVersion:
		return helloBadVersion, fmt.Errorf("%w: %w: peer speaks %d, we speak %d", ErrHandshake, ErrVersionMismatch, h.version, ProtocolVersion)
	case h.cluster != cluster:
		return helloBadCluster, fmt.Errorf("%w: %w: peer is in cluster %#x, we are in %#x", ErrHandshake, ErrClusterMismatch, h.cluster, cluster)
	case h.receiver != self:
		return helloBadReceiver, fmt.Errorf("%w: %w: peer addressed node %d, we are %d", ErrHandshake, ErrWrongReceiver, h.receiver, self)
	case h.sender == 0 || h.sender == self:
		return helloBadSender, fmt.Errorf("%w: %w: %d", ErrHandshake, ErrBadSender, h.sender)
	}
	return helloOK, nil
}

// statusError turns the listener's answer into the dialer's error.
func statusError(status byte) error {
	var reason error
	switch status {
	case helloOK:
		return nil
	case helloBadVersion:
		reason = ErrVersionMismatch
	case helloBadCluster:
		reason = ErrClusterMismatch
	case helloBadReceiver:
		reason = ErrWrongReceiver
	case helloBadSender:
		reason = ErrBadSender
	case helloBadIdentity:
		reason = ErrIdentity
	default:
		return fmt.Errorf("%w: %w: unknown handshake status %d", ErrHandshake, ErrMalformed, status)
	}
	return fmt.Errorf("%w: rejected by peer: %w", ErrHandshake, reason)
}
