// Package capgen generates realistic synthetic captures for benchmarks,
// demos and tests.
//
// [Write] streams a classic pcap file (microsecond timestamps,
// little-endian, Ethernet link type) holding exactly Config.Packets
// frames. It keeps Config.Concurrent flows open at the same time: every
// flow has a planned number of packets drawn from a heavy-tailed
// distribution (most flows are a few packets, a few are elephants), and
// when a flow has sent its last packet a new flow with a fresh 5-tuple
// takes its place. The first Concurrent packets are the first packets of
// the first Concurrent flows, so all of them are open at once early in the
// capture; after that each packet belongs to an active flow picked
// uniformly at random, which is the least cache-friendly interleaving a
// flow meter can meet. Timestamps advance by exactly 1/PPS per packet.
//
// The traffic mix is about 57% TCP connections (SYN, SYN-ACK, ACK, a
// request/response data phase with delayed ACKs and full-sized segments
// of 54 to 1514 bytes, then a FIN/ACK or RST teardown; a few refused
// connections), 30% DNS-like UDP exchanges, 8% QUIC-like and 2% RTP-like
// UDP streams and 3% ICMP echo. About 10% of the flows are IPv6 and 5% are
// 802.1Q VLAN-tagged. IPv4 header and ICMP checksums are correct; TCP and
// UDP checksums are left zero, as in captures taken on a host with
// checksum offload.
//
// Every 5-tuple is unique (for the first 1.8 billion flows): clients are
// 65,536 hosts in 10.0.0.0/8 and fd00:0:0:1::/64 whose ephemeral ports
// are derived from a flow counter; servers are drawn from a skewed pool in
// 172.16.0.0/12 and fd00:0:0:2::/64. The output is a pure function of the
// Config: the same Config (Seed included) always gives the same bytes.
//
// Memory use is O(Concurrent), not O(Packets), and writing allocates
// nothing per packet.
//
// [WriteDemo] writes the small, varied capture shipped as the demo sample.
package capgen
