package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels put on every container and network the backend creates, so that a
// later run can find what a crashed run left behind.
const (
	labelHarness = "raftkv.harness"
	labelRun     = "raftkv.run"
	labelOwner   = "raftkv.owner" // "<pid>:<process start time>" of the harness
	labelNode    = "raftkv.node"
)

// docker runs the docker CLI and returns its standard output, trimmed. The
// error carries the CLI's standard error.
func docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return strings.TrimSpace(out.String()), fmt.Errorf("docker %s: %s", firstWords(args, 2), msg)
	}
	return strings.TrimSpace(out.String()), nil
}

func firstWords(args []string, n int) string {
	if len(args) > n {
		args = args[:n]
	}
	return strings.Join(args, " ")
}

// Probe checks that this process can run the backend: a reachable Docker
// engine, and the host tools that apply network faults (nsenter,
// iptables-restore) with the privilege they need. It returns an error
// wrapping ErrUnavailable or ErrMissingTool saying what is missing.
func Probe(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: the docker CLI is not on PATH", ErrUnavailable)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := docker(pctx, nil, "version", "--format", "{{.Server.Version}}")
	if err != nil || v == "" {
		return fmt.Errorf("%w: no Docker engine answers (%v)", ErrUnavailable, err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return fmt.Errorf("%w: nsenter not found on PATH (network faults are applied with nsenter and iptables on the host; install util-linux and iptables)", ErrMissingTool)
	}
	if len(iptablesCandidates()) == 0 {
		return fmt.Errorf("%w: no iptables-restore found on PATH (install iptables)", ErrMissingTool)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: entering a container's network namespace (nsenter) needs root; run as root", ErrMissingTool)
	}
	return nil
}

// iptablesCandidates lists the iptables-restore variants on PATH, the
// system default first. Which one works inside a container's namespace
// depends on the kernel; the backend tries them in order.
func iptablesCandidates() []string {
	if v := os.Getenv("RAFTKV_IPTABLES_RESTORE"); v != "" {
		return []string{v}
	}
	var out []string
	for _, name := range []string{"iptables-restore", "iptables-legacy-restore", "iptables-nft-restore"} {
		if p, err := exec.LookPath(name); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// nsExec runs a host tool inside the network namespace of the process pid
// (a container's init), feeding it stdin.
func nsExec(ctx context.Context, pid int, stdin string, tool string, args ...string) error {
	a := append([]string{"-t", strconv.Itoa(pid), "-n", "--", tool}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", a...)
	cmd.Stdin = strings.NewReader(stdin)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nsenter -t %d -n %s %s: %v: %s", pid, filepath.Base(tool), strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// owner identifies this harness process across pid reuse.
func owner() string {
	return strconv.Itoa(os.Getpid()) + ":" + procStart(os.Getpid())
}

// procStart is field 22 of /proc/<pid>/stat (start time in clock ticks
// since boot), or "" when the process does not exist.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may contain spaces; it ends at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// ownerAlive reports whether the harness process named by an owner label
// is still running.
func ownerAlive(label string) bool {
	pidStr, start, ok := strings.Cut(label, ":")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil {
		return false
	}
	return procStart(pid) == start && start != ""
}

// CleanupStale removes the containers and networks of harness runs whose
// owning process is gone (a crashed or killed run). Runs of live processes
// are left alone, so concurrent runs do not tear each other down. It
// returns how many containers and networks it removed.
func CleanupStale(ctx context.Context) (containers, networks int, err error) {
	out, err := docker(ctx, nil, "ps", "-a", "--filter", "label="+labelHarness, "--format",
		`{{.ID}} {{.Label "`+labelOwner+`"}}`)
	if err != nil {
		return 0, 0, err
	}
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		id, own, _ := strings.Cut(strings.TrimSpace(line), " ")
		if id != "" && !ownerAlive(own) {
			ids = append(ids, id)
		}
	}
	var errs []error
	if len(ids) > 0 {
		if _, err := docker(ctx, nil, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			errs = append(errs, err)
		} else {
			containers = len(ids)
		}
	}
	out, err = docker(ctx, nil, "network", "ls", "--filter", "label="+labelHarness, "--format",
		`{{.ID}} {{.Label "`+labelOwner+`"}}`)
	if err != nil {
		return containers, 0, errors.Join(append(errs, err)...)
	}
	for _, line := range strings.Split(out, "\n") {
		id, own, _ := strings.Cut(strings.TrimSpace(line), " ")
		if id == "" || ownerAlive(own) {
			continue
		}
		if _, err := docker(ctx, nil, "network", "rm", id); err != nil {
			errs = append(errs, err)
		} else {
			networks++
		}
	}
	return containers, networks, errors.Join(errs...)
}

var (
	buildMu    sync.Mutex
	builtImage = map[string]string{} // source dir -> image, built by this process
)

// BuildImage builds the raftkv image from the module at srcDir with its
// docker/build.sh (static binaries compiled on the host, a FROM scratch
// image: nothing is pulled) and tags it tag. A process builds each source
// dir at most once.
func BuildImage(ctx context.Context, srcDir, tag string) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	if builtImage[srcDir] == tag {
		return nil
	}
	script := filepath.Join(srcDir, "docker", "build.sh")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("%w: %v", ErrBuild, err)
	}
	cmd := exec.CommandContext(ctx, "sh", script, tag)
	cmd.Dir = srcDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %v: %s", ErrBuild, err, strings.TrimSpace(string(b)))
	}
	builtImage[srcDir] = tag
	return nil
}

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%w: no go.mod above %s", ErrBuild, dir)
		}
		d = parent
	}
}
