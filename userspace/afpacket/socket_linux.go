//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is an AF_PACKET socket with a TPACKET_V3 receive ring, bound to
// one interface. Create it with [Open] or [OpenFanout]. Its Next method
// makes it a flows.Source; with a negative [Options.PollTimeout] (Next then
// never returns [ErrTimeout]) the streamer can use it as it is, and flows
// expire only when packets arrive, as in NFStream.
//
// Next must not be called from several goroutines at once; Stats and Close
// may be called from any goroutine at any time, Close also while Next
// waits.
type Socket struct {
	ifname   string
	linkType int
	opts     Options

	mu     sync.Mutex // held by Next; Close takes it before unmapping the ring
	closed atomic.Bool
	file   *os.File // the socket, registered with the runtime's poller
	rc     syscall.RawConn
	fd     int // file's descriptor
	ring   []byte
	bsize  int // block size
	nblk   int // blocks in the ring

	// Next's state, guarded by mu.
	cur      int  // block being read, or the next block the kernel fills
	inBlock  bool // cur was handed over and br walks it
	br       blockReader
	loopback bool               // drop the outgoing copy of each frame
	err      error              // terminal error, returned by every later Next
	ready    func(uintptr) bool // s.readyFn, bound once
	checkErr func(uintptr)      // s.checkErrFn, bound once
	woken    int                // wakeups of the current wait
	sockErr  error              // error the kernel reported on the socket (SO_ERROR)
	frames   uint64
	trunc    uint64
	lastNs   int64 // kernel time of the last frame Next returned, unix ns

	fanoutID uint16

	delivered, truncated atomic.Uint64 // published at each block's end
	statsMu              sync.Mutex
	kernel               Stats // accumulated kernel counters
}

// Group arguments of open besides a fanout group id.
const (
	fanoutUnique = -1 // create a group with an id the kernel picks
	noFanout     = -2
)

// Open creates a socket capturing every frame of the interface ifname (both
// directions), with a ring sized by opts.SocketBufferSize. The interface is
// looked up in the network namespace of the calling thread, where the
// socket then stays. Errors name the interface.
func Open(ifname string, opts Options) (*Socket, error) {
	group := noFanout
	if opts.Fanout {
		group = int(opts.FanoutGroup)
	}
	s, err := open(ifname, opts, group)
	if err == nil {
		if err = s.start(); err != nil {
			s.release()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open af_packet socket on %s: %w", ifname, err)
	}
	return s, nil
}

// open creates a socket, in the fanout group (or fanoutUnique, or
// noFanout). A socket in a group receives nothing until start: the group's
// sockets must all have joined before frames are hashed to them, or the
// first frames of a flow would go to the sockets already there.
func open(ifname string, opts Options, group int) (_ *Socket, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing until bind names the
	// interface, so no frame of another interface enters the ring.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s := &Socket{ifname: ifname, opts: opts, fd: fd}
	defer func() {
		if err != nil {
			s.release()
		}
	}()

	ifindex, hatype, err := s.lookup()
	if err != nil {
		return nil, err
	}
	switch hatype {
	case unix.ARPHRD_ETHER:
		s.linkType = dltEthernet
	case unix.ARPHRD_LOOPBACK:
		s.linkType, s.loopback = dltEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP:
		s.linkType = dltRaw
	default:
		return nil, &LinkTypeError{Interface: ifname, ARPHRD: hatype}
	}
	s.br.vlan = s.linkType == dltEthernet
	s.br.snaplen = uint32(opts.Snaplen)

	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("set tpacket_v3: %w", err)
	}
	// Room in front of each frame to put a VLAN tag back, as libpcap does.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, vlanTagLen); err != nil {
		return nil, fmt.Errorf("set packet_reserve: %w", err)
	}
	if s.loopback {
		// Loopback shows each frame twice, outgoing and incoming; keep
		// one. Next also drops outgoing frames on loopback, for kernels
		// without this option.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}
	switch {
	case group != noFanout:
		if err := s.setFilter(0); err != nil {
			return nil, err
		}
	case opts.Snaplen < MaxSnaplen:
		if err := s.setFilter(uint32(opts.Snaplen)); err != nil {
			return nil, err
		}
	}
	if err := s.mapRing(); err != nil {
		return nil, err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if opts.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("set promiscuous mode: %w", err)
		}
	}
	if group != noFanout {
		if err := s.joinFanout(group, !opts.FanoutKeepFragments); err != nil {
			return nil, err
		}
	}
	// The runtime's poller waits for the ring, honours deadlines, and wakes
	// the waiter when the file is closed.
	s.file = os.NewFile(uintptr(fd), "af_packet:"+ifname)
	if s.rc, err = s.file.SyscallConn(); err != nil {
		return nil, err
	}
	if err := s.file.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("socket not pollable: %w", err)
	}
	s.ready, s.checkErr = s.readyFn, s.checkErrFn
	return s, nil
}

// setFilter attaches a socket filter keeping the first n bytes of every
// frame (the kernel copies no more), or no frame at all when n is 0.
func (s *Socket) setFilter(n uint32) error {
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: n}}
	fprog := unix.SockFprog{Len: 1, Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach snaplen filter: %w", err)
	}
	return nil
}

// start lets frames into the ring of a socket in a fanout group, replacing
// the filter that dropped them all with the snap length's.
func (s *Socket) start() error {
	if _, ok := s.FanoutGroup(); !ok {
		return nil
	}
	if s.opts.Snaplen < MaxSnaplen {
		return s.setFilter(uint32(s.opts.Snaplen))
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		return fmt.Errorf("detach filter: %w", err)
	}
	return nil
}

// lookup returns the interface's index and hardware type, and checks it is
// up, asking through the socket (so in the socket's network namespace).
func (s *Socket) lookup() (ifindex int, hatype uint16, err error) {
	ifr, err := unix.NewIfreq(s.ifname)
	if err != nil {
		return 0, 0, fmt.Errorf("interface name: %w", err)
	}
	if err := unix.IoctlIfreq(s.fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, 0, ErrNoInterface
		}
		return 0, 0, fmt.Errorf("get interface index: %w", err)
	}
	ifindex = int(ifr.Uint32())
	if err := unix.IoctlIfreq(s.fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, 0, fmt.Errorf("get interface flags: %w", err)
	}
	if ifr.Uint16()&unix.IFF_UP == 0 {
		return 0, 0, ErrInterfaceDown
	}
	if err := unix.IoctlIfreq(s.fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, 0, fmt.Errorf("get hardware type: %w", err)
	}
	// struct ifreq's ifr_hwaddr is a sockaddr: sa_family is the ARPHRD.
	hatype = ifr.Uint16()
	return ifindex, hatype, nil
}

func (s *Socket) mapRing() error {
	bsize, nblk := ringGeometry(s.opts.SocketBufferSize, s.opts.Snaplen, os.Getpagesize())
	req := unix.TpacketReq3{
		Block_size: uint32(bsize),
		Block_nr:   uint32(nblk),
		// One frame slot per block: V3 packs frames of any size in a
		// block, the frame fields only have to be consistent.
		Frame_size:     uint32(bsize),
		Frame_nr:       uint32(nblk),
		Retire_blk_tov: s.opts.blockTimeoutMs(),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("set rx ring of %d blocks of %d bytes: %w", nblk, bsize, err)
	}
	ring, err := unix.Mmap(s.fd, 0, bsize*nblk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map rx ring of %d bytes: %w", bsize*nblk, err)
	}
	s.ring, s.bsize, s.nblk = ring, bsize, nblk
	return nil
}

func (s *Socket) joinFanout(group int, defrag bool) error {
	mode := unix.PACKET_FANOUT_HASH
	if defrag {
		mode |= unix.PACKET_FANOUT_FLAG_DEFRAG
	}
	id := group
	if group == fanoutUnique {
		id, mode = 0, mode|unix.PACKET_FANOUT_FLAG_UNIQUEID
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, id|mode<<16); err != nil {
		if group == fanoutUnique {
			return fmt.Errorf("create fanout group: %w", err)
		}
		return fmt.Errorf("join fanout group %d: %w", group, err)
	}
	// The kernel answers id | type<<16 | flags<<24.
	got, err := unix.GetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return fmt.Errorf("get fanout group: %w", err)
	}
	s.fanoutID = uint16(got)
	return nil
}

// release frees what open acquired, on its error path.
func (s *Socket) release() {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.file != nil {
		s.file.Close()
	} else {
		unix.Close(s.fd)
	}
}

// Interface returns the name of the interface the socket captures.
func (s *Socket) Interface() string { return s.ifname }

// LinkType returns the DLT_ value of the frames: 1 (Ethernet, also for
// loopback) or 12 (raw IP).
func (s *Socket) LinkType() int { return s.linkType }

// FanoutGroup returns the socket's fanout group id and whether it is in
// one.
func (s *Socket) FanoutGroup() (uint16, bool) {
	return s.fanoutID, s.opts.Fanout
}

// Stats returns the socket's counters since it was opened. The kernel
// resets its counters when they are read; Stats adds them up. After Close
// it returns the final counts.
func (s *Socket) Stats() (Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if !s.closed.Load() {
		if err := s.readKernelStats(); err != nil {
			return Stats{}, err
		}
	}
	st := s.kernel
	st.Delivered = s.delivered.Load()
	st.Truncated = s.truncated.Load()
	return st, nil
}

// readKernelStats adds PACKET_STATISTICS to s.kernel; statsMu is held.
func (s *Socket) readKernelStats() error {
	var st *unix.TpacketStatsV3
	var serr error
	err := s.rc.Control(func(fd uintptr) {
		st, serr = unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("read af_packet statistics on %s: %w", s.ifname, err)
	}
	// tp_packets includes the drops.
	s.kernel.Received += uint64(st.Packets - min(st.Drops, st.Packets))
	s.kernel.Dropped += uint64(st.Drops)
	s.kernel.Freezes += uint64(st.Freeze_q_cnt)
	return nil
}

// Close stops the capture: it unblocks a Next waiting for frames (which
// returns io.EOF, as does every later call, so that a streamer reading the
// socket flushes its flows and ends), reads the final counters, closes the
// socket (leaving the fanout group and promiscuous mode) and unmaps the
// ring. Frames still in the ring are discarded. Closing a closed socket
// does nothing.
func (s *Socket) Close() error {
	s.statsMu.Lock()
	if s.closed.Load() {
		s.statsMu.Unlock()
		return nil
	}
	serr := s.readKernelStats()
	s.closed.Store(true)
	s.statsMu.Unlock()
	err := s.file.Close() // wakes a waiting Next
	s.mu.Lock()
	if s.inBlock {
		s.releaseBlock() // publish the counters
	}
	unix.Munmap(s.ring)
	s.ring = nil
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("close af_packet socket on %s: %w", s.ifname, err)
	}
	if serr != nil {
		return serr
	}
	return nil
}

// htons converts a port or protocol number to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return ne.Uint16(b[:])
}

const (
	dltEthernet = 1
	dltRaw      = 12
)
