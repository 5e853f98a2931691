package convert

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// workerAttrs starts the worker in its own process group, killed if the
// parent dies, and, with netns, in a new user and network namespace: it
// has a loopback interface only, so not even a bug in a reader could reach
// the network.
func workerAttrs(netns bool) *syscall.SysProcAttr {
	attrs := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if netns {
		attrs.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET
		attrs.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}}
		attrs.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
	}
	return attrs
}

// setCPULimit caps the worker's CPU time at what its wall-clock deadline
// allows on every core (RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at
// the hard one), a backstop should the parent's own kill be late.
func setCPULimit(pid int, ctx context.Context) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return
	}
	secs := uint64(time.Until(deadline).Seconds()*float64(max(1, runtime.NumCPU())) + 1)
	lim := &unix.Rlimit{Cur: secs, Max: secs + 5}
	_ = unix.Prlimit(pid, unix.RLIMIT_CPU, lim, nil) // best effort: the parent's deadline still applies
}
