//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

func startLive(context.Context, *config, flows.Options, func(string, ...any)) (*liveRun, error) {
	return nil, errors.New("--interface: live capture needs Linux")
}
