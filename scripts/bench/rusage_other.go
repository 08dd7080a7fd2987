//go:build !linux

package main

import (
	"os"
	"syscall"
	"time"
)

// maxRSSKiB is not measured outside Linux.
func maxRSSKiB(*os.ProcessState) int64 { return 0 }

// processCPU is not measured outside Linux.
func processCPU() time.Duration { return 0 }

// killWithParent is Linux-only.
func killWithParent() *syscall.SysProcAttr { return nil }
