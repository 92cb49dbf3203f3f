package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildNode builds this command into a temporary directory.
func buildNode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "raftkv")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr is a 127.0.0.1 address with a port the kernel just handed out.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// node is a started raftkv process; err is its exit, set before done
// closes.
type node struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startNode starts a one-node cluster of bin with stderr to stderr and
// waits until it is ready (the generous deadline only ends a broken run).
func startNode(t *testing.T, bin string, stderr *os.File) *node {
	t.Helper()
	raft, api := freeAddr(t), freeAddr(t)
	_, raftPort, _ := net.SplitHostPort(raft)
	_, apiPort, _ := net.SplitHostPort(api)
	cmd := exec.Command(bin, "--id", "node0", "--host", "127.0.0.1", "--port", raftPort, "--api-port", apiPort,
		"--cluster", raft, "--data-dir", filepath.Join(t.TempDir(), "node0"))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, done: make(chan struct{})}
	go func() {
		n.err = cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.done
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node was not ready within a minute: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the poll's interval
	}
}

// exited waits for the node's exit; a minute is far above a clean
// shutdown's time, so running out of it means the node did not stop.
func exited(t *testing.T, n *node) error {
	t.Helper()
	select {
	case <-n.done:
		return n.err
	case <-time.After(time.Minute):
		t.Fatal("the node did not exit within a minute")
		return nil
	}
}

// TestExitLeavesAReason: the signals that end a node leave their reason in
// its log, and a broken log pipe does not end it (issue 14: a node died
// after winning an election with nothing in its log; SIGHUP, as when the
// terminal that started it closes, and SIGPIPE, as when the reader of its
// stderr ends, both did that by Go's defaults).
func TestExitLeavesAReason(t *testing.T) {
	bin := buildNode(t)

	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "node.log")
			f, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n := startNode(t, bin, f)
			if err := n.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = exited(t, n)
			raw, _ := os.ReadFile(logPath)
			log := string(raw)
			if err != nil {
				t.Fatalf("exit after %v: %v (want code 0)\n%s", sig, err, log)
			}
			reason := fmt.Sprintf("%v signal received", sig)
			if !strings.Contains(log, `msg="shutting down"`) || !strings.Contains(log, reason) ||
				!strings.Contains(log, `msg="raftkv exiting" code=0`) {
				t.Fatalf("the log does not say it stopped for %q and exited:\n%s", reason, log)
			}
		})
	}

	t.Run("stderr reader gone", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// Read its log while it starts (a full pipe would block it), then
		// go away as `| head` does.
		lines := make(chan int, 1)
		go func() {
			n := 0
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				n++
			}
			lines <- n
		}()
		n := startNode(t, bin, w)
		w.Close()
		r.Close()
		if got := <-lines; got == 0 {
			t.Fatal("the node logged nothing before its log pipe broke")
		}
		// Shutting down logs a line into the broken pipe; the node must
		// finish shutting down and exit 0, not die of SIGPIPE on it.
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := exited(t, n); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					t.Fatalf("killed by %v after its log pipe broke", ws.Signal())
				}
			}
			t.Fatalf("exit after its log pipe broke: %v (want code 0)", err)
		}
	})
}
