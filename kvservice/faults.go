package kvservice

import (
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/raft/node"
	"github.com/raftkv/raftkv/raft/transport"
)

// Failpoint names accepted by PUT /fault/failpoint: "crash-" plus a driver
// failpoint.
var failpoints = map[string]string{
	"crash-before-persist-vote":  node.FailpointBeforePersistVote,
	"crash-before-persist":       node.FailpointBeforePersist,
	"crash-after-persist":        node.FailpointAfterPersist,
	"crash-after-persist-repair": node.FailpointAfterPersistRepair,
	"crash-before-apply":         node.FailpointBeforeApply,
	"crash-after-apply":          node.FailpointAfterApply,
	"crash-during-snapshot":      node.FailpointDuringSnapshot,
}

// FailpointExitCode is the exit status of a process stopped by a failpoint.
const FailpointExitCode = 99

// failpoint runs on the driver goroutine at each named point.
func (s *Server) failpoint(name string) {
	s.fpMu.Lock()
	fp := s.fp
	if fp == nil || failpoints[fp.Name] != name {
		s.fpMu.Unlock()
		return
	}
	if fp.After > 0 {
		fp.After--
		s.fpMu.Unlock()
		return
	}
	s.fp = nil
	s.fpMu.Unlock()
	s.log.Error("failpoint hit: exiting", "failpoint", fp.Name, "exit_code", FailpointExitCode)
	s.cfg.Exit(FailpointExitCode)
}

// ArmFailpoint implements api.FaultBackend.
func (s *Server) ArmFailpoint(fp api.Failpoint) error {
	if _, ok := failpoints[fp.Name]; !ok {
		return api.Errorf(api.CodeBadRequest, "unknown failpoint %q", fp.Name)
	}
	s.fpMu.Lock()
	defer s.fpMu.Unlock()
	s.fp = &fp
	s.log.Warn("failpoint armed", "failpoint", fp.Name, "after", fp.After)
	return nil
}

// DisarmFailpoint implements api.FaultBackend.
func (s *Server) DisarmFailpoint() {
	s.fpMu.Lock()
	defer s.fpMu.Unlock()
	s.fp = nil
}

// SetNetworkFaults implements api.FaultBackend: peers are named; "*" means
// every peer. A rule names a member, not an incarnation: it covers every
// raft ID the name has had, and one it gains later (refreshNetworkFaults).
func (s *Server) SetNetworkFaults(rules []api.NetworkRule) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	out, err := s.resolveNetworkRules(rules)
	if err != nil {
		return err
	}
	if err := s.tr.SetFaults(out); err != nil {
		return api.Errorf(api.CodeBadRequest, "%v", err)
	}
	s.netRules = slices.Clone(rules)
	s.log.Warn("network faults set", "rules", fmt.Sprintf("%+v", rules))
	return nil
}

// refreshNetworkFaults resolves the network fault rules again after the
// configuration changed, so that a member that joined again under its name
// with a new raft ID is cut off like its old incarnation was.
func (s *Server) refreshNetworkFaults() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if len(s.netRules) == 0 {
		return
	}
	out, err := s.resolveNetworkRules(s.netRules)
	if err == nil {
		err = s.tr.SetFaults(out)
	}
	if err != nil {
		s.log.Warn("network faults not resolved again", "err", err)
	}
}

// resolveNetworkRules turns named rules into the transport's, by raft ID.
func (s *Server) resolveNetworkRules(rules []api.NetworkRule) ([]transport.FaultRule, error) {
	out := make([]transport.FaultRule, 0, len(rules))
	for _, r := range rules {
		// A name may have had several raft IDs (a member that was removed
		// and joined again): the rule covers every one known here.
		peers := []uint64{0}
		if r.Peer != "*" {
			peers = s.faultIDs(r.Peer)
			if len(peers) == 0 {
				return nil, api.Errorf(api.CodeBadRequest, "unknown peer %q", r.Peer)
			}
		}
		dir := transport.Both
		switch r.Direction {
		case "in":
			dir = transport.In
		case "out":
			dir = transport.Out
		}
		for _, peer := range peers {
			out = append(out, transport.FaultRule{Peer: peer, Direction: dir, Drop: r.Drop, Loss: r.Loss,
				Delay: time.Duration(r.DelayMS) * time.Millisecond, Jitter: time.Duration(r.JitterMS) * time.Millisecond})
		}
	}
	return out, nil
}

// ClearNetworkFaults implements api.FaultBackend.
func (s *Server) ClearNetworkFaults() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	s.netRules = nil
	s.tr.ClearFaults()
	s.log.Warn("network faults cleared")
}

// SetClock implements api.FaultBackend.
func (s *Server) SetClock(c api.ClockFault) error {
	err := s.clock.SetState(node.ClockState{
		Offset:       time.Duration(c.OffsetMS) * time.Millisecond,
		Rate:         c.Rate,
		StrobeDelta:  time.Duration(c.StrobeDeltaMS) * time.Millisecond,
		StrobePeriod: time.Duration(c.StrobePeriodMS) * time.Millisecond,
	})
	if err != nil {
		return api.Errorf(api.CodeBadRequest, "%v", err)
	}
	s.log.Warn("clock fault set", "offset_ms", c.OffsetMS, "rate", c.Rate, "strobe_delta_ms", c.StrobeDeltaMS, "strobe_period_ms", c.StrobePeriodMS)
	return nil
}

// ClearClock implements api.FaultBackend.
func (s *Server) ClearClock() {
	s.clock.Reset()
	s.log.Warn("clock fault cleared")
}

// Faults implements api.FaultBackend.
func (s *Server) Faults() api.FaultState {
	var fs api.FaultState
	for _, r := range s.tr.Faults() {
		peer := "*"
		if r.Peer != 0 {
			peer = s.nameOf(r.Peer)
		}
		dir := "both"
		switch r.Direction {
		case transport.In:
			dir = "in"
		case transport.Out:
			dir = "out"
		}
		fs.Network = append(fs.Network, api.NetworkRule{Peer: peer, Direction: dir, Drop: r.Drop, Loss: r.Loss,
			DelayMS: int(r.Delay / time.Millisecond), JitterMS: int(r.Jitter / time.Millisecond)})
	}
	if cs := s.clock.State(); cs.Offset != 0 || cs.Rate != 1 || cs.StrobePeriod != 0 {
		fs.Clock = &api.ClockFault{OffsetMS: cs.Offset.Milliseconds(), Rate: cs.Rate,
			StrobeDeltaMS: cs.StrobeDelta.Milliseconds(), StrobePeriodMS: cs.StrobePeriod.Milliseconds()}
	}
	s.fpMu.Lock()
	if s.fp != nil {
		fp := *s.fp
		fs.Failpoint = &fp
	}
	s.fpMu.Unlock()
	return fs
}

// faultIDs returns every raft ID name is known to have had here: current,
// static and removed ones (a fault rule names a node, whatever its
// incarnation).
func (s *Server) faultIDs(name string) []uint64 {
	ids := s.idsNamed(name)
	for id, n := range s.fsm.RemovedIDs() {
		if n == name {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
