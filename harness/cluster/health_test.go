package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/kvservice"
)

func TestFailpointExitCodeIsTheNodes(t *testing.T) {
	if FailpointExitCode != kvservice.FailpointExitCode {
		t.Fatalf("cluster.FailpointExitCode %d, kvservice's %d", FailpointExitCode, kvservice.FailpointExitCode)
	}
}

const panicLog = `time=2026-01-02T03:04:05.000Z level=INFO msg="raft: became leader" term=3
time=2026-01-02T03:04:05.100Z level=ERROR msg="peer unreachable" err="dial tcp: refused"
panic: runtime error: index out of range [5] with length 3

goroutine 42 [running]:
github.com/raftkv/raftkv/raft.(*raft).maybeCommit(0xc000123456)
	/src/raft/raft.go:612 +0x1d
created by github.com/raftkv/raftkv/raft/node.Start
	/src/raft/node/node.go:99 +0x2a
=== harness: 2026-01-02T03:04:06Z exited: exit status 2
`

func TestScanNodeLogFindsAPanic(t *testing.T) {
	f := ScanNodeLog(strings.NewReader(panicLog))
	if len(f.Panic) != 7 || f.Panic[0] != "panic: runtime error: index out of range [5] with length 3" || f.Panic[2] != "goroutine 42 [running]:" {
		t.Fatalf("panic: %q", f.Panic)
	}
	if f.LastError != "peer unreachable: dial tcp: refused" || f.FailpointHit {
		t.Errorf("findings: %+v", f)
	}
	e := ExitEvent("node2", 3.4e9, "exit status 2", 2, false, f, "logs/node2.log")
	if e.Kind != checker.NodePanic || e.Cause != "" || e.Message != "runtime error: index out of range [5] with length 3" || len(e.Detail) != 7 {
		t.Fatalf("event %+v", e)
	}
	want := "node2 panicked at 3.4 s: runtime error: index out of range [5] with length 3; see logs/node2.log"
	if r := checker.CheckNodeHealth([]checker.NodeEvent{e}, nil); r.Verdict != checker.Invalid || r.Message != want {
		t.Fatalf("health %+v\nwant %q", r, want)
	}
	// A panic is a panic even when the harness was killing the node.
	if e := ExitEvent("node2", 0, "signal: killed", -1, true, f, ""); e.Kind != checker.NodePanic || e.Cause != checker.CauseHarness {
		t.Errorf("requested exit with a panic: %+v", e)
	}
}

func TestScanNodeLogCrashesAndExits(t *testing.T) {
	for _, c := range []struct {
		name, log string
		crash     bool
	}{
		{"fatal error", "fatal error: concurrent map writes\n\ngoroutine 7 [running]:\n", true},
		{"sigquit dump", "SIGQUIT: quit\nPC=0x46b2e1 m=0 sigcode=0\n", true},
		{"slog line mentioning panic", `time=x level=INFO msg="panic: not really"` + "\n", false},
		{"SIG without a name", "SIG: x\n", false},
	} {
		if got := len(ScanNodeLog(strings.NewReader(c.log)).Panic) > 0; got != c.crash {
			t.Errorf("%s: crash %v, want %v", c.name, got, c.crash)
		}
	}

	exit := "time=2026-01-02T03:04:05Z level=ERROR msg=\"raft stopped; exiting\" err=\"boltstore: disk full\"\n"
	f := ScanNodeLog(strings.NewReader(exit))
	e := ExitEvent("node1", 2.5e9, "exit status 1", 1, false, f, "logs/node1.log")
	if e.Kind != checker.NodeExit || e.Cause != "" || e.Message != "raft stopped; exiting: boltstore: disk full" {
		t.Fatalf("unplanned exit: %+v", e)
	}
	if e := ExitEvent("node1", 0, "signal: killed", -1, true, f, ""); e.Cause != checker.CauseHarness || e.Message != "" {
		t.Errorf("harness kill: %+v", e)
	}
	// An old error is not what ended the process.
	f = ScanNodeLog(strings.NewReader(exit + strings.Repeat("time=x level=INFO msg=fine\n", tailLines)))
	if e := ExitEvent("node1", 0, "signal: killed", -1, false, f, ""); e.Message != "" || len(e.Detail) != tailLines {
		t.Errorf("exit long after an error: %+v", e)
	}

	fp := "time=2026-01-02T03:04:05Z level=WARN msg=\"failpoint armed\" failpoint=crash-after-persist after=0\n" +
		"time=2026-01-02T03:04:06Z level=ERROR msg=\"failpoint hit: exiting\" failpoint=crash-after-persist exit_code=99\n"
	f = ScanNodeLog(strings.NewReader(fp))
	if e := ExitEvent("node0", 0, "exit status 99", 99, false, f, ""); !f.FailpointHit || e.Cause != checker.CauseFailpoint || e.Kind != checker.NodeExit {
		t.Errorf("failpoint exit: %+v", e)
	}
	// The failpoint status without the node saying it hit one is not a
	// failpoint.
	if e := ExitEvent("node0", 0, "exit status 99", 99, false, LogFindings{}, ""); e.Cause != "" {
		t.Errorf("status 99 alone: %+v", e)
	}
}

func TestScanNodeLogRecoveredPanicsAndLongLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	log := `time=2026-01-02T03:04:05.5Z level=ERROR msg="panic in http handler" path=/v1/kv/a panic="assignment to entry in nil map" stack="goroutine 1 [running]:\n..."` + "\n" +
		long + "\n" + "=== harness: marker\n" + "last line\n"
	f := ScanNodeLog(strings.NewReader(log))
	if len(f.Recovered) != 1 || f.Recovered[0].Message != "recovered in the HTTP handler of /v1/kv/a: assignment to entry in nil map" {
		t.Fatalf("recovered: %+v", f.Recovered)
	}
	origin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := RecoveredEvents("node1", f, origin, "logs/node1.log")
	if len(evs) != 1 || evs[0].Time != 5e8 || evs[0].Kind != checker.NodePanic {
		t.Fatalf("events %+v", evs)
	}
	if len(f.Tail) != 3 || f.Tail[2] != "last line" || len(f.Tail[1]) > maxLineLen+len("…") {
		t.Errorf("tail: %d lines, last %q", len(f.Tail), f.Tail[len(f.Tail)-1])
	}
}

// A message the core dropped as invalid is a broken invariant in the run:
// the harness forges no raft traffic, so a peer sent it.
func TestScanNodeLogInvalidMessages(t *testing.T) {
	log := `time=2026-01-02T03:04:05.25Z level=WARN msg="raft: 2 dropped invalid message: type=MsgHeartbeat from=3 term=4 reason=\"commit 90 beyond the last index 41 the sender knows we have\""` + "\n" +
		`time=2026-01-02T03:04:06Z level=WARN msg="raft: 2 stepped down to follower since quorum is not active"` + "\n"
	f := ScanNodeLog(strings.NewReader(log))
	if len(f.InvalidMessages) != 1 || !strings.Contains(f.InvalidMessages[0].Message, "commit 90 beyond") {
		t.Fatalf("invalid messages: %+v", f.InvalidMessages)
	}
	origin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := RecoveredEvents("node1", f, origin, "logs/node1.log")
	if len(evs) != 1 || evs[0].Kind != checker.NodeViolation || evs[0].Time != 25e7 {
		t.Fatalf("events %+v", evs)
	}
	h := checker.CheckNodeHealth(evs, nil)
	if h.Verdict != checker.Invalid || !strings.Contains(h.Events[0].Describe(), "breaks Raft's invariants") {
		t.Fatalf("node health %+v", h)
	}
}
