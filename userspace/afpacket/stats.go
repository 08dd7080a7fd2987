package afpacket

// Stats are a socket's counters since it was opened.
type Stats struct {
	// Received counts the frames the kernel put in the ring (tp_packets
	// less tp_drops).
	Received uint64
	// Dropped counts the frames the kernel dropped because the ring was
	// full (tp_drops). Received + Dropped is every frame the socket saw.
	Dropped uint64
	// Freezes counts the times the ring filled up and the kernel froze the
	// queue until a block was handed back (tp_freeze_q_cnt).
	Freezes uint64
	// Delivered counts the frames Next returned, and Truncated those of
	// them cut to the snap length (CapLen < WireLen). Both are counted
	// when Next hands a block back to the kernel, at the call after the
	// block's last frame, so they are exact once Next has returned
	// ErrTimeout, or after Close.
	Delivered uint64
	Truncated uint64
}

func (s *Stats) add(o Stats) {
	s.Received += o.Received
	s.Dropped += o.Dropped
	s.Freezes += o.Freezes
	s.Delivered += o.Delivered
	s.Truncated += o.Truncated
}
