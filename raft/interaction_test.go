package raft

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Scripted interaction tests, in the style of etcd's testdata/*.txt: each
// file is a sequence of blocks
//
//	command args...
//	----
//	expected output
//	(blank line)
//
// run against the in-process network. The output of every command is
// compared exactly; run with -rewrite to regenerate the expectations after
// an intended change (and review the diff).

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptBlock struct {
	// comment is the comment lines before the command, kept on rewrite.
	comment []string
	cmd     string
	want    string
	lineNo  int
}

func parseScript(t *testing.T, path string) []scriptBlock {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []scriptBlock
	var comment []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "#") {
			comment = append(comment, line)
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		b := scriptBlock{cmd: line, lineNo: i + 1, comment: comment}
		comment = nil
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: expected ---- after %q", path, i+1, line)
		}
		var out []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		b.want = strings.Join(out, "\n")
		blocks = append(blocks, b)
	}
	return blocks
}

func runScript(t *testing.T, path string) {
	blocks := parseScript(t, path)
	var nw *network
	var sb strings.Builder
	for i, b := range blocks {
		got := strings.TrimRight(runCommand(t, &nw, b.cmd), "\n")
		if got == "" {
			got = "ok"
		}
		blocks[i].want = got
		if *rewrite {
			continue
		}
		if got != b.want {
			t.Fatalf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, b.lineNo, b.cmd, got, b.want)
		}
	}
	if *rewrite {
		for _, b := range blocks {
			for _, c := range b.comment {
				sb.WriteString(c + "\n")
			}
			fmt.Fprintf(&sb, "%s\n----\n%s\n\n", b.cmd, b.want)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseID(t *testing.T, s string) uint64 {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("bad id %q", s)
	}
	return id
}

// runCommand executes one script command and returns its output.
func runCommand(t *testing.T, nwp **network, line string) string {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	nw := *nwp
	var out strings.Builder
	// Commands that move messages print what was delivered.
	deliverAndPrint := func() {
		nw.record = true
		nw.delivered = nil
		nw.stabilize()
		for _, m := range nw.delivered {
			out.WriteString(describeMessage(m) + "\n")
		}
		nw.record = false
	}
	switch cmd {
	case "cluster":
		n, _ := strconv.Atoi(args[0])
		var opts []configOpt
		for _, a := range args[1:] {
			switch a {
			case "prevote":
				opts = append(opts, withPreVote)
			case "checkquorum":
				opts = append(opts, withCheckQuorum)
			case "lease":
				opts = append(opts, withLease)
			default:
				t.Fatalf("unknown cluster option %q", a)
			}
		}
		*nwp = newNetwork(t, n, opts...)
		return "ok"
	case "campaign":
		if err := nw.node(parseID(t, args[0])).rn.Campaign(); err != nil {
			return err.Error()
		}
		deliverAndPrint()
	case "propose":
		idx, term, err := nw.node(parseID(t, args[0])).rn.Propose([]byte(args[1]))
		if err != nil {
			return "error: " + err.Error()
		}
		fmt.Fprintf(&out, "index %d term %d\n", idx, term)
		deliverAndPrint()
	case "tick":
		n := 1
		var ids []uint64
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "n="); ok {
				n, _ = strconv.Atoi(v)
			} else {
				ids = append(ids, parseID(t, a))
			}
		}
		if len(ids) == 0 {
			ids = nw.ids
		}
		nw.record = true
		nw.delivered = nil
		for i := 0; i < n; i++ {
			nw.tick(ids...)
		}
		for _, m := range nw.delivered {
			if m.Type == MsgHeartbeat || m.Type == MsgHeartbeatResp {
				continue // periodic noise
			}
			out.WriteString(describeMessage(m) + "\n")
		}
		nw.record = false
	case "isolate":
		nw.isolate(parseID(t, args[0]))
		return "ok"
	case "heal":
		nw.heal()
		return "ok"
	case "read-index":
		nw.node(parseID(t, args[0])).rn.ReadIndex([]byte(args[1]))
		deliverAndPrint()
		for _, id := range nw.ids {
			tn := nw.node(id)
			for _, rs := range tn.readStates {
				fmt.Fprintf(&out, "node %d read state index %d ctx %s\n", id, rs.Index, rs.RequestCtx)
			}
			tn.readStates = nil
		}
	case "transfer":
		nw.node(parseID(t, args[0])).rn.TransferLeader(parseID(t, args[1]))
		deliverAndPrint()
	case "conf-change":
		var typ ConfChangeType
		switch args[1] {
		case "add-voter":
			typ = ConfChangeAddVoter
		case "add-learner":
			typ = ConfChangeAddLearner
		case "remove":
			typ = ConfChangeRemoveNode
		default:
			t.Fatalf("unknown conf change %q", args[1])
		}
		id := parseID(t, args[2])
		if nw.nodes[id] == nil {
			nw.addNode(id, NewMemoryStorage())
		}
		idx, _, err := nw.node(parseID(t, args[0])).rn.ProposeConfChange(ConfChange{Type: typ, NodeID: id})
		if err != nil {
			return "error: " + err.Error()
		}
		fmt.Fprintf(&out, "index %d\n", idx)
		deliverAndPrint()
	case "status":
		for _, id := range nw.ids {
			st := nw.node(id).rn.Status()
			fmt.Fprintf(&out, "%d: %s term %d lead %d commit %d applied %d last %d voters %v learners %v\n",
				id, st.RaftState, st.Term, st.Lead, st.Commit, st.Applied, st.LastIndex, st.Config.Voters, st.Config.Learners)
		}
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	return out.String()
}

func describeMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s term %d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case MsgApp:
		fmt.Fprintf(&b, " prev %d/%d commit %d", m.Index, m.LogTerm, m.Commit)
		if len(m.Entries) > 0 {
			var es []string
			for _, e := range m.Entries {
				s := fmt.Sprintf("%d/%d", e.Index, e.Term)
				if e.Type == EntryConfChange {
					s += " conf"
				} else if len(e.Data) > 0 {
					s += " " + string(e.Data)
				}
				es = append(es, s)
			}
			fmt.Fprintf(&b, " [%s]", strings.Join(es, ", "))
		}
	case MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " rejected %d hint %d/%d", m.Index, m.RejectHint, m.LogTerm)
		} else {
			fmt.Fprintf(&b, " index %d", m.Index)
		}
	case MsgVote, MsgPreVote:
		fmt.Fprintf(&b, " last %d/%d", m.Index, m.LogTerm)
	case MsgVoteResp, MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" rejected")
		} else {
			b.WriteString(" granted")
		}
	case MsgHeartbeat:
		fmt.Fprintf(&b, " commit %d", m.Commit)
	case MsgSnap:
		fmt.Fprintf(&b, " snapshot %d/%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
	case MsgReadIndexResp:
		fmt.Fprintf(&b, " index %d", m.Index)
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " ctx %s", m.Context)
	}
	return b.String()
}
