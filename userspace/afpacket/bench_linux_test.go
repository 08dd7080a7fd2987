//go:build linux

package afpacket

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
)

// BenchmarkNext measures Next over a ring that is always full (no kernel):
// the cost per frame of walking blocks, the lock and filling the packet.
func BenchmarkNext(b *testing.B) {
	var frames []testFrame
	for _, f := range readFrames(b, demoPcap) {
		frames = append(frames, testFrame{data: f})
	}
	const bsize, nblk = 64 << 10, 4
	ring := make([]byte, 0, bsize*nblk)
	perBlock := 0
	for range nblk {
		// As many demo frames as fit in a block.
		n := 0
		for size := blockHdrLen; n < len(frames); n++ {
			size += (86 + len(frames[n].data) + 15) &^ 15
			if size > bsize {
				break
			}
		}
		perBlock = n
		ring = append(ring, buildBlock(bsize, frames[:n])...)
	}
	s := &Socket{ifname: "bench", linkType: dltEthernet, ring: ring, bsize: bsize, nblk: nblk}
	s.br.vlan, s.br.snaplen = true, MaxSnaplen
	var p pcapreplay.Packet
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		prev := s.cur
		if err := s.Next(&p); err != nil {
			b.Fatal(err)
		}
		if s.cur != prev { // give the block read before back, as the kernel would
			ne.PutUint32(ring[prev*bsize+blockStatusOff:], statusUser)
		}
	}
	b.ReportMetric(float64(perBlock), "frames/block")
}

// BenchmarkVeth measures frames per second from injectors on one end of a
// veth pair to one socket or a fanout group of two on the other end, each
// read by its own goroutine, and the share the kernel dropped.
func BenchmarkVeth(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			benchVeth(b, n)
		})
	}
}

func benchVeth(b *testing.B, sockets int) {
	ns := mustNetNS(b)
	frames := readFrames(b, demoPcap)
	g := mustOpenFanout(b, ns, "vb", sockets, Options{PollTimeout: 10 * time.Millisecond})
	const senders = 4
	var ins []*pcapreplay.Injector
	for range senders {
		ins = append(ins, mustInjector(b, ns, "va"))
	}
	var stop atomic.Bool
	var readers sync.WaitGroup
	for _, s := range g.Sockets() {
		readers.Go(func() {
			var p pcapreplay.Packet
			for !stop.Load() {
				s.Next(&p)
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	var send sync.WaitGroup
	for i, in := range ins {
		send.Go(func() {
			for j := i; j < b.N; j += senders {
				if err := in.Write(frames[j%len(frames)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	send.Wait()
	var st Stats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var err error
		if st, err = g.Stats(); err != nil {
			b.Fatal(err)
		}
		if st.Delivered+st.Dropped >= uint64(b.N) {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop.Store(true)
	readers.Wait()
	b.ReportMetric(float64(st.Delivered)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(100*float64(st.Dropped)/float64(b.N), "%dropped")
}
