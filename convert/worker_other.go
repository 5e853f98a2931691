//go:build !linux

package convert

import (
	"context"
	"syscall"
)

// workerAttrs has no namespaces outside Linux.
func workerAttrs(bool) *syscall.SysProcAttr { return nil }

// setCPULimit is a no-op outside Linux: the parent's deadline applies.
func setCPULimit(pid int, ctx context.Context) {}
