package sysvis

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// procScanner maps socket inodes to the processes that hold them, through
// /proc/<pid>/fd (the way ss -p and psutil do).
type procScanner struct {
	root string // "/proc"
	link [64]byte
	path []byte
}

// owners finds the process of each inode of want (removing the ones found)
// and returns them. The name is /proc/<pid>/comm, read while the process
// holds the socket.
func (p *procScanner) owners(want map[uint32]struct{}) map[uint32]flows.Process {
	found := map[uint32]flows.Process{}
	d, err := os.Open(p.root)
	if err != nil {
		return found
	}
	defer d.Close()
	for len(want) > 0 {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			pid, perr := strconv.Atoi(name)
			if perr != nil || len(want) == 0 {
				continue
			}
			p.scanPID(pid, name, want, found)
		}
		if err != nil {
			break
		}
	}
	return found
}

var socketPrefix = []byte("socket:[")

func (p *procScanner) scanPID(pid int, name string, want map[uint32]struct{}, found map[uint32]flows.Process) {
	fdDir := p.root + "/" + name + "/fd"
	d, err := os.Open(fdDir)
	if err != nil {
		return // exited, or not ours to read
	}
	defer d.Close()
	fds, _ := d.Readdirnames(-1)
	comm := ""
	for _, fd := range fds {
		p.path = append(append(append(p.path[:0], fdDir...), '/'), fd...)
		n, err := unix.Readlink(string(p.path), p.link[:])
		if err != nil || n <= len(socketPrefix) || !bytes.HasPrefix(p.link[:n], socketPrefix) || p.link[n-1] != ']' {
			continue
		}
		ino, err := strconv.ParseUint(string(p.link[len(socketPrefix):n-1]), 10, 32)
		if err != nil {
			continue
		}
		if _, ok := want[uint32(ino)]; !ok {
			continue
		}
		if comm == "" {
			b, err := os.ReadFile(p.root + "/" + name + "/comm")
			if err != nil {
				return
			}
			comm = string(bytes.TrimSuffix(b, []byte("\n")))
		}
		found[uint32(ino)] = flows.Process{PID: pid, Name: comm}
		delete(want, uint32(ino))
	}
}
