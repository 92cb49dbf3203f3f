package e2e

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill the node if the test process dies
// (e.g. on a test timeout, when no cleanup runs).
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
