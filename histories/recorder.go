package histories

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("histories: recorder closed")

// ErrInvalidEvent is returned (wrapped) for an event whose kind and type do
// not go together.
var ErrInvalidEvent = errors.New("histories: invalid event")

// Recorder writes a history as it happens: the header first, then one JSON
// line per event. Every line is handed to the underlying writer in a single
// Write call as soon as it is recorded (and flushed if the writer has a
// Flush method), so a crash of the recording process loses nothing that
// Record returned for. Events are written in the order Record is called.
// A Recorder is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	w      io.Writer
	err    error // sticky: the first write error
	closed bool
	n      int
}

type flusher interface{ Flush() error }

type syncer interface{ Sync() error }

// NewRecorder writes h as the first line of w and returns a Recorder for
// the events that follow. h.Kind and a zero h.Version are filled in.
func NewRecorder(w io.Writer, h Header) (*Recorder, error) {
	h.Kind = KindHeader
	if h.Version == 0 {
		h.Version = Version
	}
	if h.Version != Version {
		return nil, fmt.Errorf("%w: cannot write version %d", ErrUnsupportedVersion, h.Version)
	}
	r := &Recorder{w: w}
	if err := r.writeLine(h); err != nil {
		return nil, err
	}
	return r, nil
}

// Record appends e to the history. It returns the first write error seen,
// forever after, because a history with a hole in it must not look whole.
func (r *Recorder) Record(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.err != nil {
		return r.err
	}
	if err := r.writeLine(e); err != nil {
		r.err = err
		return err
	}
	r.n++
	return nil
}

// Len returns the number of events recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Close syncs the writer when it can (an *os.File) and stops accepting
// events. It does not close the writer, which belongs to the caller.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if s, ok := r.w.(syncer); ok && r.err == nil {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("histories: sync: %w", err)
		}
	}
	return r.err
}

func (r *Recorder) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("histories: encode: %w", err)
	}
	b = append(b, '\n')
	if _, err := r.w.Write(b); err != nil {
		return fmt.Errorf("histories: write: %w", err)
	}
	if f, ok := r.w.(flusher); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("histories: flush: %w", err)
		}
	}
	return nil
}

// Validate reports whether e's kind and type go together: op events are
// invoke, ok, fail or info; nemesis events are start, stop or info (a
// point-in-time fault such as a kill).
func (e Event) Validate() error {
	switch e.Kind {
	case KindOp:
		switch e.Type {
		case Invoke, OK, Fail, Info:
		default:
			return fmt.Errorf("%w: op event with type %q", ErrInvalidEvent, e.Type)
		}
		if e.F == "" {
			return fmt.Errorf("%w: op event without f", ErrInvalidEvent)
		}
	case KindNemesis:
		switch e.Type {
		case Start, Stop, Info:
		default:
			return fmt.Errorf("%w: nemesis event with type %q", ErrInvalidEvent, e.Type)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalidEvent, e.Kind)
	}
	return nil
}

// Write writes a whole history (header and events) to w, as a Recorder
// would have.
func Write(w io.Writer, h Header, events []Event) error {
	r, err := NewRecorder(w, h)
	if err != nil {
		return err
	}
	for i, e := range events {
		if err := r.Record(e); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return r.Close()
}
