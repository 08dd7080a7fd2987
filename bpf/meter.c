//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kernel half of live metering: one flow-update routine run by an XDP
 * program (ingress) and a TC program (TCX or clsact, ingress and egress).
 *
 * 1. parse() decodes a frame exactly as NFStream does for the common
 *    encapsulations (Ethernet, 802.1Q, IPv4, IPv6 without extension headers,
 *    TCP, UDP, ICMP and any other protocol). Frames NFStream would ignore are
 *    counted and left alone. Everything else (MPLS, PPPoE, LLC, IP in IP,
 *    IPv6 extension headers, tunnels when decoding them is on) is punted:
 *    copied to userspace, whose decoder (the same as offline) finds the key
 *    and runs nfm_apply through BPF_PROG_TEST_RUN to count the packet in the
 *    same table. So a flow is never split between kernel and userspace,
 *    whatever encapsulations its packets use.
 * 2. meter() updates the flow's entry in the `flows` hash map under its spin
 *    lock: counters, times, sizes and gaps (as sums, sums of squares, minima
 *    and maxima, from which userspace derives NFStream's statistics) and TCP
 *    flag counters. A packet that finds its flow idle or past the active
 *    timeout ends it (sent to userspace on the ring buffer) and starts a new
 *    one, as NFStream's meter does. A new flow that does not fit is punted,
 *    so nothing is lost while the ring buffer has room.
 *    An entry whose lock it took is its flow only if the entry is not dead
 *    and holds the packet's key (see expiry below); otherwise it looks again,
 *    a few times, then punts the packet (PUNT_BUSY: userspace applies it
 *    again with nfm_apply).
 * 3. The first cfg_n_copy packets of each flow are copied, up to cfg_snaplen
 *    bytes, to the `events` ring buffer for nDPI, SPLT and plugins, unless
 *    userspace marked the flow done in `done_flows`.
 *
 * 4. Userspace expires idle flows by wall clock: a batch lookup finds the
 *    candidates, and nfm_expire (run with BPF_PROG_TEST_RUN) expires each
 *    atomically with respect to packets: under the entry's lock it checks
 *    again that the flow is the one seen idle and still idle, marks the entry
 *    dead and copies the flow out; then it deletes the entry. A packet that
 *    takes the lock in between sees dead and starts the next flow in a new
 *    entry once the dead one is deleted (only nfm_expire deletes a dead
 *    entry, so it cannot delete that one). A program may also take the lock
 *    of an element that was deleted and at once reused for another key
 *    (preallocated hash maps reuse elements immediately): the key stored in
 *    the value tells it apart, and dead, the value's last field, is written
 *    after the key when the kernel copies a new entry in.
 *
 * Every loss is counted in `counters`. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "types.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Knobs, set by userspace before loading. */
volatile const __u8 cfg_accounting_mode = 0; /* 0 raw, 1 ip, 2 transport, 3 payload */
volatile const __u8 cfg_decode_tunnels = 1;
volatile const __u8 cfg_statistics = 1; /* keep sums, gaps and TCP flags */
volatile const __u32 cfg_n_copy = 0; /* packets per flow copied to userspace */
volatile const __u32 cfg_snaplen = 1536; /* bytes copied per packet */
volatile const __u64 cfg_idle_ms = 120000;
volatile const __u64 cfg_active_ms = 1800000;
volatile const __u64 cfg_clock_offset_ns = 0; /* CLOCK_REALTIME - CLOCK_MONOTONIC at load */

#define NFM_MAX_VLAN 8
/* Lookups of a flow whose entry is dead before its packet is punted. */
#define NFM_RETRIES 4
#define NFM_EEXIST 17
/* Longest frame whose IP length may come from the frame length
 * (userspace/flows MaxFrameLen): super-packets of GSO, GRO and BIG TCP have
 * a 0 in their 16-bit length field. */
#define NFM_MAX_FRAME (1 << 20)

/* flows: flow_key -> flow_state. Size set by userspace (--kernel-max-flows). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_state);
} flows SEC(".maps");

/* done_flows: flow_key -> gen of a flow that needs no more packet copies.
 * Only flows still within their first packets need an entry, so it is
 * smaller than flows and LRU: an evicted entry only costs a few copies. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u64);
} done_flows SEC(".maps");

/* events: packet_event and flow_end_event records. Size set by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

/* counters: enum counter -> count, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* scratch: per-CPU room too large for the 512-byte stack. */
struct scratch {
	/* A new flow's entry: flow_state's layout, with room for the lock
	 * (per-CPU maps cannot hold a bpf_spin_lock). */
	struct {
		__u64 lock_room;
		struct flow_key key;
		struct flow_data d;
		__u64 dead;
	} init;
	struct flow_data ended; /* a flow ended by this packet */
	__u64 gen_seq;
	__u32 cpu; /* this CPU's id, for gen numbers */
	__u32 cpu_set;
	/* Millisecond clock cache: ms_start_ns is the first ns of ms_now, so
	 * that most packets get their millisecond without a division. */
	__u64 ms_start_ns;
	__u64 ms_now;
	struct packet_event ev; /* a record being built */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Force the shared types into BTF for bpf2go -type. */
const struct packet_hdr *unused_packet_hdr __attribute__((unused));
const struct flow_end_event *unused_flow_end_event __attribute__((unused));
const struct apply_req *unused_apply_req __attribute__((unused));
const struct expire_req *unused_expire_req __attribute__((unused));
const enum event_type *unused_event_type __attribute__((unused));
const enum punt_reason *unused_punt_reason __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));
_Static_assert(sizeof(struct flow_state) == sizeof(((struct scratch *)0)->init),
	       "init mirrors flow_state");
_Static_assert(sizeof(struct flow_key) % 8 == 0, "key_eq compares 8 bytes at a time");

/* key_eq reports whether two 8-byte aligned keys are equal. */
static __always_inline int key_eq(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;
	__u64 diff = 0;
#pragma unroll
	for (int i = 0; i < sizeof(*a) / 8; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

enum verdict {
	V_METER,
	V_IGNORE,
	V_PUNT,
};

/* pkt is what parse() extracts from a frame. */
struct pkt {
	struct flow_key key;
	__u8 src_is_lo;
	__u8 tcp_flags;
	__u16 l3_off; /* offset of the IP header */
	__u32 size;
	__u8 src_mac[6];
	__u8 dst_mac[6];
};

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
}

static __always_inline __u16 rd16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

static __always_inline int tunnel_port(__u16 port)
{
	return port == 2152 || port == 37008 || port == 5247;
}

static __always_inline int ipv6_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 135 || nh == 59;
}

/* super_len is the length after the hdr-byte header at off of a caplen-byte
 * frame too long for a 16-bit length field, else 0 (userspace/flows
 * superLen). */
static __always_inline __u32 super_len(__u32 caplen, __u32 off, __u32 hdr)
{
	if (caplen > NFM_MAX_FRAME || caplen < off + hdr + 0x10000)
		return 0;
	return caplen - off - hdr;
}

/* parse follows userspace/flows Decode (NFStream's decoder) for the frames
 * it meters itself, sizes of super-packets included. caplen is the frame
 * length; end bounds the bytes that can be read directly. */
static __always_inline int parse(const __u8 *d, const void *end, __u32 caplen, __u32 wire_len,
				 __u16 hw_vlan, struct pkt *p)
{
	if (caplen < 28)
		return V_IGNORE;
	if ((const void *)(d + 14) > end)
		return V_PUNT;
	__builtin_memcpy(p->dst_mac, d, 6);
	__builtin_memcpy(p->src_mac, d + 6, 6);
	__u32 off = 14;
	__u16 typ = rd16(d + 12);
	/* A tag the driver removed is outside any left in the frame. */
	__u16 vlan = hw_vlan & 0xfff;
	if (typ < 1536)
		return V_PUNT; /* 802.3 length: LLC/SNAP rules */
	if (typ == ETH_P_8021Q) {
		for (int i = 0; i < NFM_MAX_VLAN; i++) {
			if (off + 4 >= caplen)
				return V_IGNORE;
			const __u8 *v = d + off;
			if ((const void *)(v + 4) > end)
				return V_PUNT;
			vlan = rd16(v) & 0xfff;
			typ = rd16(v + 2);
			off += 4;
			if (typ != ETH_P_8021Q)
				break;
		}
		if (typ == ETH_P_8021Q)
			return V_PUNT;
	}
	if (typ == ETH_P_MPLS_UC || typ == ETH_P_MPLS_MC || typ == ETH_P_PPP_SES)
		return V_PUNT;
	if (caplen < off + 20)
		return V_IGNORE;
	const __u8 *ip = d + off;
	if ((const void *)(ip + 20) > end)
		return V_PUNT;
	__u8 ver = ip[0] >> 4;
	if (ver != 4 && ver != 6)
		return V_IGNORE;
	if ((ver == 4 && typ != ETH_P_IP) || (ver == 6 && typ != ETH_P_IPV6))
		return V_PUNT; /* NFStream's version-nibble rules, left to userspace */

	__u32 l4off, l4len, ipsize, iplen; /* iplen: the IP packet's length, header included */
	__u8 proto;
	p->l3_off = off;
	__u64 src[2] = {}, dst[2] = {};
	if (ver == 4) {
		__u32 ihl = (ip[0] & 0x0f) * 4;
		proto = ip[9];
		if (proto == 4 || proto == 41)
			return V_PUNT;
		if (rd16(ip + 6) & 0x1fff)
			return V_IGNORE; /* not the first fragment */
		if (ihl < 20)
			return V_PUNT;
		if (cfg_decode_tunnels && proto == 17) {
			if (caplen < off + ihl + 8)
				return V_IGNORE;
			const __u8 *u = ip + ihl;
			if ((const void *)(u + 4) > end)
				return V_PUNT;
			if (tunnel_port(rd16(u)) || tunnel_port(rd16(u + 2)))
				return V_PUNT;
		}
		__u32 avail = (caplen - off) & 0xffff;
		if (ihl > avail)
			return V_IGNORE;
		__u32 tot = rd16(ip + 2);
		l4len = (tot - ihl) & 0xffff;
		__u32 big = super_len(caplen, off, 0);
		if (tot == 0 && big) {
			tot = big;
			l4len = big - ihl;
		}
		if ((tot > avail ? tot : avail) < ihl + l4len)
			return V_IGNORE;
		l4off = ihl;
		ipsize = tot;
		iplen = tot;
		__builtin_memcpy(src, ip + 12, 4);
		__builtin_memcpy(dst, ip + 16, 4);
	} else {
		if (caplen < off + 40)
			return V_IGNORE;
		if ((const void *)(ip + 40) > end)
			return V_PUNT;
		__u32 plen = rd16(ip + 4);
		if (caplen < off + 40 + plen)
			return V_IGNORE;
		proto = ip[6];
		if (ipv6_ext(proto) || proto == 4 || proto == 41)
			return V_PUNT;
		__u32 big = super_len(caplen, off, 40);
		if (plen == 0 && big)
			plen = big;
		if (cfg_decode_tunnels && proto == 17) {
			/* NFStream looks for the UDP ports at the IPv6 header
			 * plus the payload length. */
			__u32 uo = off + plen;
			if (uo > 0x3fff)
				return V_PUNT;
			const __u8 *u = d + uo;
			if ((const void *)(u + 4) > end)
				return V_PUNT;
			if (tunnel_port(rd16(u)) || tunnel_port(rd16(u + 2)))
				return V_PUNT;
		}
		l4off = 40;
		l4len = plen;
		ipsize = plen;
		iplen = 40 + plen;
		__builtin_memcpy(src, ip + 8, 16);
		__builtin_memcpy(dst, ip + 24, 16);
	}

	__u16 sport = 0, dport = 0;
	__u32 transport = 0, payload = 0;
	__u8 flags = 0;
	const __u8 *l4 = ip + l4off;
	if (proto == 6 && l4len >= 20) {
		if ((const void *)(l4 + 14) > end)
			return V_PUNT;
		sport = rd16(l4);
		dport = rd16(l4 + 2);
		flags = l4[13];
		transport = l4len;
		__u32 hl = (l4[12] >> 4) * 4;
		if (l4len > hl)
			payload = l4len - hl;
	} else if (proto == 17 && l4len >= 8) {
		if ((const void *)(l4 + 4) > end)
			return V_PUNT;
		sport = rd16(l4);
		dport = rd16(l4 + 2);
		transport = l4len;
		if (l4len > 8)
			payload = l4len - 8;
	} else if (proto == 1 || proto == 58) {
		transport = l4len;
		if (l4len > 8)
			payload = l4len - 8;
	}

	switch (cfg_accounting_mode) {
	case 1:
		p->size = ipsize;
		break;
	case 2:
		p->size = transport;
		break;
	case 3:
		p->size = payload;
		break;
	default:
		/* NFStream's 16 bits, unless the IP header accounts for the
		 * frame (userspace/flows MaxFrameLen) */
		p->size = wire_len;
		if (wire_len > 0xffff && (wire_len > NFM_MAX_FRAME || caplen - off != iplen))
			p->size = wire_len & 0xffff;
	}
	p->tcp_flags = flags;

	__u64 s0 = bpf_be64_to_cpu(src[0]), s1 = bpf_be64_to_cpu(src[1]);
	__u64 d0 = bpf_be64_to_cpu(dst[0]), d1 = bpf_be64_to_cpu(dst[1]);
	__u8 lo;
	if (s0 != d0)
		lo = s0 < d0;
	else if (s1 != d1)
		lo = s1 < d1;
	else
		lo = sport <= dport;
	p->src_is_lo = lo;
	struct flow_key *k = &p->key;
	if (lo) {
		__builtin_memcpy(k->lo_addr, src, 16);
		__builtin_memcpy(k->hi_addr, dst, 16);
		k->lo_port = sport;
		k->hi_port = dport;
	} else {
		__builtin_memcpy(k->lo_addr, dst, 16);
		__builtin_memcpy(k->hi_addr, src, 16);
		k->lo_port = dport;
		k->hi_port = sport;
	}
	k->vlan_id = vlan;
	k->protocol = proto;
	k->ip_version = ver;
	return V_METER;
}

static __always_inline void add_flags(struct dir_state *s, __u8 f)
{
	for (int i = 0; i < 8; i++)
		s->flags[i] += (f >> i) & 1;
}

static __always_inline void dir_first(struct dir_state *s, __u64 t, __u32 size, __u8 flags)
{
	s->first_ms = t;
	s->last_ms = t;
	s->packets = 1;
	s->bytes = size;
	if (cfg_statistics) {
		s->size_sumsq = (__u64)size * size;
		s->size_sumsq_hi = 0;
		s->size_min = size;
		s->size_max = size;
		add_flags(s, flags);
	}
}

static __always_inline void dir_next(struct dir_state *s, __u64 t, __u32 size, __u8 flags)
{
	if (cfg_statistics) {
		__u64 g = t - s->last_ms;
		if (s->packets == 1) {
			s->piat_min = g;
			s->piat_max = g;
		} else {
			if (g < s->piat_min)
				s->piat_min = g;
			if (g > s->piat_max)
				s->piat_max = g;
		}
		s->piat_sum += g;
		s->piat_sumsq += g * g;
		__u64 sq = (__u64)size * size;
		s->size_sumsq += sq;
		s->size_sumsq_hi += s->size_sumsq < sq; /* carry */
		if (size < s->size_min)
			s->size_min = size;
		if (size > s->size_max)
			s->size_max = size;
		add_flags(s, flags);
	}
	s->last_ms = t;
	s->packets += 1;
	s->bytes += size;
}

static __always_inline void flow_init(struct flow_data *fd, const struct pkt *p, __u64 t, __u64 gen)
{
	__builtin_memset(fd, 0, sizeof(*fd));
	fd->gen = gen;
	fd->bi_last_ms = t;
	__builtin_memcpy(fd->src_mac, p->src_mac, 6);
	__builtin_memcpy(fd->dst_mac, p->dst_mac, 6);
	fd->src_is_lo = p->src_is_lo;
	dir_first(&fd->dir[0], t, p->size, p->tcp_flags);
}

static __always_inline __u64 next_gen(struct scratch *sc)
{
	sc->gen_seq += 1;
	return (sc->gen_seq << 16) | (sc->cpu & 0xffff);
}

/* plan is what meter() decided about a packet. */
struct plan {
	__u64 gen;
	__u64 t;
	__u32 index; /* packet number in its flow */
	__u8 dir;
	__u8 ended; /* a flow ended: scratch->ended holds it */
	__u8 reason; /* its expiration id */
};

static __always_inline __u64 now_ms(void)
{
	return (bpf_ktime_get_ns() + cfg_clock_offset_ns) / 1000000;
}

/* cached_now_ms is now_ms through the per-CPU cache: a 64-bit division
 * only when the millisecond changed. */
static __always_inline __u64 cached_now_ms(struct scratch *sc)
{
	__u64 ns = bpf_ktime_get_ns() + cfg_clock_offset_ns;
	__u64 since = ns - sc->ms_start_ns;
	if (since < 1000000)
		return sc->ms_now;
	__u64 ms = ns / 1000000;
	sc->ms_now = ms;
	sc->ms_start_ns = ms * 1000000;
	return ms;
}

/* meter counts a parsed packet, arrived at t, in its flow. It returns 0, -1
 * when the packet's new flow does not fit (punt it) or -2 when its entry
 * stayed dead (being expired) for NFM_RETRIES lookups (punt it too). */
static __always_inline int meter(const struct pkt *p, __u64 t, struct scratch *sc, struct plan *pl)
{
	struct flow_state *st = NULL;
#pragma unroll
	for (int i = 0; i < NFM_RETRIES; i++) {
		st = bpf_map_lookup_elem(&flows, &p->key);
		if (!st) {
			__u64 gen = next_gen(sc);
			sc->init.key = p->key;
			flow_init(&sc->init.d, p, t, gen);
			sc->init.dead = 0;
			long err = bpf_map_update_elem(&flows, &p->key, &sc->init, BPF_NOEXIST);
			if (err == 0) {
				count(COUNTER_FLOWS_CREATED);
				pl->gen = gen;
				pl->t = t;
				return 0;
			}
			if (err != -NFM_EEXIST) {
				count(COUNTER_MAP_FULL);
				return -1;
			}
			continue; /* another CPU created it meanwhile */
		}
		bpf_spin_lock(&st->lock);
		if (!st->dead && key_eq(&st->key, &p->key))
			break; /* our flow, locked */
		/* Being expired (deleted next), or deleted and reused: the
		 * flow's entry is gone or about to be. */
		bpf_spin_unlock(&st->lock);
		st = NULL;
	}
	if (!st) {
		count(COUNTER_BUSY);
		return -2;
	}
	struct flow_data *fd = &st->d;
	if (t < fd->bi_last_ms)
		t = fd->bi_last_ms; /* NFStream's clock never goes back */
	int reason = -1;
	if (t - fd->bi_last_ms >= cfg_idle_ms)
		reason = 0;
	else if (t - fd->dir[0].first_ms >= cfg_active_ms)
		reason = 1;
	if (reason >= 0) {
		__u64 gen = next_gen(sc);
		sc->ended = *fd;
		flow_init(fd, p, t, gen);
		bpf_spin_unlock(&st->lock);
		pl->ended = 1;
		pl->reason = reason;
		pl->gen = gen;
		pl->t = t;
		count(COUNTER_FLOWS_CREATED);
		return 0;
	}
	__u8 dir = p->src_is_lo == fd->src_is_lo ? 0 : 1;
	__u64 n = fd->dir[0].packets + fd->dir[1].packets;
	if (cfg_statistics) {
		__u64 g = t - fd->bi_last_ms;
		if (n == 1) {
			fd->bi_piat_min = g;
			fd->bi_piat_max = g;
		} else {
			if (g < fd->bi_piat_min)
				fd->bi_piat_min = g;
			if (g > fd->bi_piat_max)
				fd->bi_piat_max = g;
		}
		fd->bi_piat_sum += g;
		fd->bi_piat_sumsq += g * g;
	}
	fd->bi_last_ms = t;
	if (dir == 0)
		dir_next(&fd->dir[0], t, p->size, p->tcp_flags);
	else if (fd->dir[1].packets == 0)
		dir_first(&fd->dir[1], t, p->size, p->tcp_flags);
	else
		dir_next(&fd->dir[1], t, p->size, p->tcp_flags);
	pl->gen = fd->gen;
	bpf_spin_unlock(&st->lock);
	pl->t = t;
	pl->index = n > 0xffff ? 0xffff : n;
	pl->dir = dir;
	return 0;
}

/* snap returns how many bytes of a frame to copy, in [0, NFM_SNAP_MAX]. The
 * barrier keeps clang from reusing the unbounded caplen for the result. */
static __always_inline __u32 snap(__u32 caplen)
{
	__u32 n = caplen < cfg_snaplen ? caplen : cfg_snaplen;
	asm volatile("" : "+r"(n));
	if (n > NFM_SNAP_MAX)
		n = NFM_SNAP_MAX;
	return n;
}

/* send_frame copies n bytes of the frame from offset off after the header
 * already in sc->ev.h and outputs the record. It returns 0 or a negative
 * error (no room in the ring buffer, frame unreadable). */
static __always_inline long send_frame(void *ctx, int xdp, struct scratch *sc, __u32 off, __u32 n)
{
	asm volatile("" : "+r"(n));
	if (n > NFM_SNAP_MAX)
		n = NFM_SNAP_MAX;
	if (n > 0) {
		long err;
		if (xdp)
			err = bpf_xdp_load_bytes(ctx, off, sc->ev.data, n);
		else
			err = bpf_skb_load_bytes(ctx, off, sc->ev.data, n);
		if (err < 0)
			return err;
	}
	sc->ev.h.cap_len = n;
	return bpf_ringbuf_output(&events, &sc->ev, sizeof(struct packet_hdr) + n, 0);
}

static __always_inline void punt(void *ctx, int xdp, __u32 caplen, __u32 wire_len, __u16 hw_vlan,
				 __u8 reason)
{
	count(COUNTER_PUNTED);
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc)
		return;
	__builtin_memset(&sc->ev.h, 0, sizeof(sc->ev.h));
	sc->ev.h.type = EVENT_PUNT;
	sc->ev.h.reason = reason;
	sc->ev.h.hw_vlan = hw_vlan;
	sc->ev.h.wire_len = wire_len;
	sc->ev.h.ts_ms = now_ms();
	__u32 n = caplen < NFM_SNAP_MAX ? caplen : NFM_SNAP_MAX;
	if (send_frame(ctx, xdp, sc, 0, n) < 0)
		count(COUNTER_PUNT_LOST);
}

/* account meters p, arrived at t (0: now), and sends what userspace needs: the
 * flow it ended, and a copy of the packet (frame bytes from frame_off) when
 * it is among the flow's first. It returns meter()'s -1 (table full) or -2
 * (entry busy) when the packet was not metered. */
static __always_inline int account(void *ctx, int xdp, const struct pkt *p, __u64 t,
				   __u32 frame_off, __u32 caplen, __u32 wire_len)
{
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc)
		return 0;
	if (!sc->cpu_set) {
		sc->cpu = bpf_get_smp_processor_id();
		sc->cpu_set = 1;
	}
	if (t == 0)
		t = cached_now_ms(sc);
	struct plan pl = {};
	int r = meter(p, t, sc, &pl);
	if (r < 0)
		return r;
	if (pl.ended) {
		struct flow_end_event *fe = bpf_ringbuf_reserve(&events, sizeof(*fe), 0);
		if (fe) {
			fe->type = EVENT_FLOW_END;
			fe->reason = pl.reason;
			fe->key = p->key;
			fe->d = sc->ended;
			bpf_ringbuf_submit(fe, 0);
		} else {
			count(COUNTER_FLOW_END_LOST);
		}
	}
	if (pl.index >= cfg_n_copy)
		return 0;
	__u64 *done = bpf_map_lookup_elem(&done_flows, &p->key);
	if (done && *done == pl.gen)
		return 0;
	struct packet_hdr *h = &sc->ev.h;
	h->type = EVENT_PACKET;
	h->wire_len = wire_len;
	h->ts_ms = pl.t;
	h->gen = pl.gen;
	h->key = p->key;
	h->l3_off = p->l3_off;
	h->size = p->size;
	h->index = pl.index;
	h->dir = pl.dir;
	h->tcp_flags = p->tcp_flags;
	h->reason = 0;
	if (send_frame(ctx, xdp, sc, frame_off, snap(caplen)) < 0) {
		count(COUNTER_PACKET_LOST);
		return 0;
	}
	count(COUNTER_PACKET_COPIED);
	return 0;
}

static __always_inline void handle(void *ctx, int xdp, const __u8 *data, const void *end,
				   __u32 caplen, __u32 wire_len, __u16 hw_vlan)
{
	struct pkt p = {};
	switch (parse(data, end, caplen, wire_len, hw_vlan, &p)) {
	case V_IGNORE:
		count(COUNTER_IGNORED);
		return;
	case V_PUNT:
		punt(ctx, xdp, caplen, wire_len, hw_vlan, PUNT_PARSE);
		return;
	}
	int r = account(ctx, xdp, &p, 0, 0, caplen, wire_len);
	if (r < 0) {
		punt(ctx, xdp, caplen, wire_len, hw_vlan, r == -1 ? PUNT_MAP_FULL : PUNT_BUSY);
		return;
	}
	count(COUNTER_METERED);
}

SEC("xdp")
int nfm_xdp(struct xdp_md *ctx)
{
	const __u8 *data = (const void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	__u32 len = end - (const void *)data;
	handle(ctx, 1, data, end, len, len, 0);
	return XDP_PASS;
}

/* nfm_apply is never attached: userspace runs it with BPF_PROG_TEST_RUN on
 * an apply_req followed by a punted frame it decoded. XDP_PASS: counted;
 * XDP_DROP: the flow table is full (userspace meters the packet); XDP_TX:
 * the flow's entry is being expired (try again); XDP_ABORTED: malformed
 * request. */
SEC("xdp")
int nfm_apply(struct xdp_md *ctx)
{
	const __u8 *data = (const void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	const struct apply_req *req = (const void *)data;
	if ((const void *)(req + 1) > end)
		return XDP_ABORTED;
	struct pkt p = {};
	p.key = req->key;
	p.src_is_lo = req->src_is_lo;
	p.tcp_flags = req->tcp_flags;
	p.size = req->size;
	p.l3_off = req->l3_off;
	__builtin_memcpy(p.src_mac, req->src_mac, 6);
	__builtin_memcpy(p.dst_mac, req->dst_mac, 6);
	__u32 caplen = (const __u8 *)end - data - sizeof(*req);
	if (caplen > req->cap_len)
		caplen = req->cap_len;
	int r = account(ctx, 1, &p, req->ts_ms, sizeof(*req), caplen, req->wire_len);
	if (r < 0)
		return r == -1 ? XDP_DROP : XDP_TX;
	count(COUNTER_APPLIED);
	return XDP_PASS;
}

/* nfm_expire is never attached: the sweeper runs it with BPF_PROG_TEST_RUN
 * on an expire_req to expire one flow atomically with respect to packets
 * (algorithm, step 4). XDP_PASS: expired, the flow is in req->d; XDP_DROP:
 * not expired (gone, another instance, or no longer idle); XDP_ABORTED:
 * malformed request. */
SEC("xdp")
int nfm_expire(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	struct expire_req *req = data;
	if ((const void *)(req + 1) > end)
		return XDP_ABORTED;
	struct flow_key key = req->key;
	__u64 gen = req->gen, now = req->now_ms;
	__u32 final = req->final;
	struct flow_state *st = bpf_map_lookup_elem(&flows, &key);
	if (!st)
		return XDP_DROP;
	int expired = 0;
	bpf_spin_lock(&st->lock);
	struct flow_data *fd = &st->d;
	if (!st->dead && key_eq(&st->key, &key) && fd->gen == gen &&
	    (final || (fd->bi_last_ms <= now && now - fd->bi_last_ms >= cfg_idle_ms))) {
		st->dead = 1;
		req->d = *fd;
		expired = 1;
	}
	bpf_spin_unlock(&st->lock);
	if (!expired)
		return XDP_DROP;
	/* Dead: no program changes the entry any more, and only this one
	 * deletes it. */
	bpf_map_delete_elem(&flows, &key);
	count(COUNTER_EXPIRED);
	return XDP_PASS;
}

SEC("tc")
int nfm_tc(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 head = len < 128 ? len : 128;
	if (skb->data_end - skb->data < head)
		bpf_skb_pull_data(skb, head);
	const __u8 *data = (const void *)(long)skb->data;
	const void *end = (const void *)(long)skb->data_end;
	/* The driver may have moved the outer 802.1Q tag to metadata: the
	 * frame on the wire was 4 bytes longer. */
	__u16 hw_vlan = 0;
	__u32 wire = len;
	if (skb->vlan_present) {
		hw_vlan = 0x8000 | (skb->vlan_tci & 0xfff);
		wire += 4;
	}
	handle(skb, 0, data, end, len, wire, hw_vlan);
	return TC_ACT_UNSPEC;
}
