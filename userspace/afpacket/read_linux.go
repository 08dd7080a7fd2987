//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Next fills p with the next frame, waiting up to [Options.PollTimeout] for
// one; it returns [ErrTimeout] if none came (nothing is lost: call it
// again), io.EOF once the socket is closed, and any other error once and
// for all (the interface went down, a corrupt ring). p.Data aliases the
// ring and is valid until the next call to Next or Close; p.File is the
// interface name and p.Offset 0. It does not allocate.
func (s *Socket) Next(p *flows.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return io.EOF
	}
	if s.err != nil {
		return s.err
	}
	var f frame
	waited := false
	for {
		if s.inBlock {
			if s.br.left > 0 {
				if err := s.br.read(&f); err != nil {
					s.err = fmt.Errorf("read af_packet ring on %s: block %d: %w", s.ifname, s.cur, err)
					return s.err
				}
				if s.loopback && f.pktType == pktOutgoing {
					continue
				}
				s.frames++
				if uint32(len(f.data)) < f.wireLen {
					s.trunc++
				}
				p.Sec, p.Usec = int64(f.sec), int64(f.nsec/1000)
				s.lastNs = int64(f.sec)*1e9 + int64(f.nsec)
				p.CapLen, p.WireLen = uint32(len(f.data)), f.wireLen
				p.LinkType, p.File, p.Offset, p.Data = s.linkType, s.ifname, 0, f.data
				return nil
			}
			s.releaseBlock()
		}
		if s.blockStatus()&statusUser != 0 {
			if err := s.br.reset(s.block()); err != nil {
				s.err = fmt.Errorf("read af_packet ring on %s: block %d: %w", s.ifname, s.cur, err)
				return s.err
			}
			s.inBlock = true
			continue
		}
		if err := s.wait(waited); err != nil {
			return err
		}
		waited = true
	}
}

// lastTime returns the kernel's time of the frame the last successful Next
// returned, in unix nanoseconds (the frame has it in microseconds only). It
// must be called by the goroutine that calls Next.
func (s *Socket) lastTime() int64 { return s.lastNs }

// pending reports, without waiting, whether Next would return at once
// (ready: a frame is in a block handed over, or the socket is closed or
// failed). When it would wait, empty reports whether the block the kernel
// fills next holds no frame yet, so that every frame still to come will be
// put in the ring after this call. The kernel counts a frame in the
// block's num_pkts before it fills it in, and a block it has not opened
// since it last handed it over still has that fill's non-zero count, so a
// zero count cannot be stale. It must be called by the goroutine that
// calls Next.
func (s *Socket) pending() (ready, empty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || s.err != nil {
		return true, false
	}
	if s.inBlock {
		if s.br.left > 0 {
			return true, false
		}
		s.releaseBlock()
	}
	if s.blockStatus()&statusUser != 0 {
		return true, false
	}
	n := atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.ring[s.cur*s.bsize+blockNumPktsOff])))
	return false, n == 0
}

func (s *Socket) block() []byte {
	off := s.cur * s.bsize
	return s.ring[off : off+s.bsize : off+s.bsize]
}

// blockStatus loads block_status of the current block; the kernel writes
// it last, after a memory barrier.
func (s *Socket) blockStatus() uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.ring[s.cur*s.bsize+blockStatusOff])))
}

// releaseBlock hands the current block back to the kernel and publishes
// the counters.
func (s *Socket) releaseBlock() {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s.ring[s.cur*s.bsize+blockStatusOff])), statusKernel)
	s.inBlock = false
	s.cur++
	if s.cur == s.nblk {
		s.cur = 0
	}
	s.delivered.Add(s.frames)
	s.truncated.Add(s.trunc)
	s.frames, s.trunc = 0, 0
}

// wait blocks until the current block is handed over, the deadline of this
// call to Next passes, the socket is closed or the kernel reports an error
// on it. again is false on the first wait of a call to Next, which sets
// the deadline.
func (s *Socket) wait(again bool) error {
	var err error
	if !again {
		var dl time.Time
		if s.opts.PollTimeout > 0 {
			dl = time.Now().Add(s.opts.PollTimeout)
		}
		err = s.file.SetReadDeadline(dl)
	}
	if err == nil {
		s.woken = 0
		err = s.rc.Read(s.ready)
	}
	switch {
	case s.closed.Load():
		return io.EOF
	case s.sockErr != nil:
		return s.readError(s.sockErr)
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Look for an error the kernel reported without a wakeup.
		if cerr := s.rc.Control(s.checkErr); cerr != nil && s.closed.Load() {
			return io.EOF
		}
		if s.sockErr != nil {
			return s.readError(s.sockErr)
		}
		return ErrTimeout
	}
	return s.readError(err)
}

// readyFn is the poller's test, run before the first wait and after every
// wakeup. A wakeup without a block to read is how the kernel reports an
// error on the socket (the interface went down), so it reads SO_ERROR
// then.
func (s *Socket) readyFn(fd uintptr) bool {
	if s.closed.Load() || s.blockStatus()&statusUser != 0 {
		return true
	}
	s.woken++
	if s.woken > 1 {
		s.checkErrFn(fd)
		return s.sockErr != nil
	}
	return false
}

// checkErrFn reads and clears the socket's error (SO_ERROR) into sockErr.
func (s *Socket) checkErrFn(fd uintptr) {
	n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		s.sockErr = err
	case n != 0:
		s.sockErr = syscall.Errno(n)
	}
}

// readError makes err terminal, naming the interface.
func (s *Socket) readError(err error) error {
	if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		err = fmt.Errorf("%w (%w)", ErrInterfaceDown, err)
	}
	s.err = fmt.Errorf("read af_packet socket on %s: %w", s.ifname, err)
	return s.err
}
