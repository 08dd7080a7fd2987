// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Layouts shared by the BPF programs and userspace. bpf2go generates the Go
 * mirrors from these definitions (-type), so they are the only definition:
 * fixed-width fields, explicit padding, units in the comments. */
#ifndef NFM_TYPES_H
#define NFM_TYPES_H

#include <linux/types.h>

/* Largest number of frame bytes copied into one ring buffer record (punted
 * frames are copied up to this size, other packets up to cfg_snaplen). */
#define NFM_SNAP_MAX 8192

/* flow_key is the bidirectional key of a flow, the same one userspace builds
 * (userspace/flows Key): endpoints in canonical order, lo sorting first by
 * address (as a big-endian 128-bit number) then by port. */
struct flow_key {
	__u8 lo_addr[16]; /* network order; IPv4 in the first 4 bytes, rest 0 */
	__u8 hi_addr[16];
	__u16 lo_port; /* host order; 0 for protocols without ports */
	__u16 hi_port;
	__u16 vlan_id; /* innermost 802.1Q id, 0 if none */
	__u8 protocol; /* IP protocol number */
	__u8 ip_version; /* 4 or 6 */
	__u8 tunnel_id; /* NFStream's tunnel_id; only applied packets have one */
	__u8 _pad[7];
} __attribute__((aligned(8))); /* compared 8 bytes at a time */

/* dir_state is one direction of a flow. Sizes are in the configured
 * accounting mode, in bytes, up to 32 bits (super-packets of GSO, GRO and BIG
 * TCP are counted whole); times are wall-clock milliseconds (CLOCK_MONOTONIC plus
 * the monotonic-to-realtime offset userspace sets at load). piat_* describe the
 * gaps between this direction's consecutive packets. */
struct dir_state {
	__u64 first_ms;
	__u64 last_ms;
	__u64 packets;
	__u64 bytes; /* sum of sizes */
	__u64 size_sumsq; /* sum of squared sizes, low 64 bits */
	__u64 size_sumsq_hi; /* and high 64 bits */
	__u64 piat_min; /* ms, valid when packets >= 2 */
	__u64 piat_max;
	__u64 piat_sum;
	__u64 piat_sumsq;
	__u32 size_min;
	__u32 size_max;
	/* TCP flag counters in header bit order: fin, syn, rst, psh, ack, urg,
	 * ece, cwr. */
	__u32 flags[8];
};

/* flow_data is everything about a flow except its lock, so that it can be
 * copied (the verifier forbids copying a bpf_spin_lock). */
struct flow_data {
	__u64 gen; /* instance number: a key that expires and comes back gets a new one */
	__u64 bi_last_ms; /* last packet of either direction */
	__u64 bi_piat_min; /* gaps between consecutive packets of both directions, ms */
	__u64 bi_piat_max;
	__u64 bi_piat_sum;
	__u64 bi_piat_sumsq;
	__u8 src_mac[6]; /* of the first packet */
	__u8 dst_mac[6];
	__u8 src_is_lo; /* the first packet was sent by the key's lo endpoint */
	__u8 _pad[3];
	struct dir_state dir[2]; /* 0: src to dst, 1: dst to src */
};

/* flow_state is an entry of the flow table. key and dead let a program that
 * took the lock of an element find out that it no longer holds its flow:
 * the sweeper's expiry sets dead before it deletes the entry, and a hash map
 * reuses a deleted element at once for another key (its value copied in
 * without the lock, first field first: dead, last, is written last). */
struct flow_state {
	struct bpf_spin_lock lock;
	__u32 _pad;
	struct flow_key key; /* the entry's own key */
	struct flow_data d;
	__u64 dead; /* 1: expired, about to be deleted; treat as no entry */
};

/* Record types on the events ring buffer. */
enum event_type {
	EVENT_PACKET = 1, /* one of a flow's first packets, for nDPI/SPLT/plugins */
	EVENT_PUNT = 2, /* a frame the kernel does not meter: userspace meters it */
	EVENT_FLOW_END = 3, /* a flow the kernel expired on packet arrival */
};

/* Why a frame was punted to userspace. */
enum punt_reason {
	PUNT_PARSE = 1, /* encapsulation the kernel parser leaves to userspace */
	PUNT_MAP_FULL = 2, /* the flow table was full (userspace meters the packet) */
	PUNT_BUSY = 3, /* the flow's entry was being expired: userspace applies it again */
};

/* packet_hdr heads a record carrying one frame. For EVENT_PACKET the kernel
 * metered it and key, gen, dir and size say where; for EVENT_PUNT only the
 * frame fields are set and userspace decodes it. cap_len bytes of the frame
 * follow the header in the record. */
struct packet_hdr {
	__u32 type; /* enum event_type */
	__u32 wire_len; /* frame length on the wire, bytes */
	__u64 ts_ms; /* wall-clock ms, same clock as dir_state */
	__u64 gen;
	struct flow_key key;
	__u16 cap_len; /* bytes of frame that follow */
	__u16 l3_off; /* offset of the IP header in the frame */
	__u16 index; /* packet number in the flow, from 0 */
	/* 0x8000 | TCI of an 802.1Q tag the driver took out of the frame (TC
	 * only); userspace puts it back before decoding a punted frame. */
	__u16 hw_vlan;
	__u32 size; /* accounting-mode size, bytes */
	__u8 dir; /* 0 src to dst, 1 dst to src */
	__u8 tcp_flags;
	__u8 reason; /* enum punt_reason for EVENT_PUNT */
	__u8 _pad;
};

/* packet_event is a record as built in the per-CPU scratch area; only
 * sizeof(hdr) + hdr.cap_len bytes of it go to the ring buffer. */
struct packet_event {
	struct packet_hdr h;
	__u8 data[NFM_SNAP_MAX];
};

/* flow_end_event carries a flow the kernel removed itself. */
struct flow_end_event {
	__u32 type; /* EVENT_FLOW_END */
	__u32 reason; /* expiration id: 0 idle, 1 active */
	struct flow_key key;
	struct flow_data d;
};

/* apply_req heads the data of a BPF_PROG_TEST_RUN of nfm_apply: a punted
 * frame that userspace decoded, to be counted in the flow table like any
 * other packet. The frame follows the header. */
struct apply_req {
	struct flow_key key;
	__u64 ts_ms; /* arrival time, same clock as dir_state */
	__u32 wire_len;
	__u32 size; /* accounting-mode size, bytes */
	__u16 cap_len; /* frame bytes after the header */
	__u16 l3_off; /* offset of the IP header in the frame */
	__u8 tcp_flags;
	__u8 src_is_lo; /* the packet's sender is the key's lo endpoint */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 _pad[6];
};

/* expire_req is the data of a BPF_PROG_TEST_RUN of nfm_expire: the
 * sweeper's request to expire one flow, and the flow it expired (written
 * back into the data). */
struct expire_req {
	struct flow_key key;
	__u64 gen; /* the instance the sweeper saw idle */
	__u64 now_ms; /* same clock as dir_state */
	__u32 final; /* 1: expire whatever the times (stop) */
	__u32 _pad;
	struct flow_data d; /* out: the expired flow */
};

/* Indexes of the per-CPU counters array. Every packet the programs see is
 * counted once in exactly one of COUNTER_METERED, COUNTER_IGNORED or
 * COUNTER_PUNTED (their sum is the frames seen); the other counters count
 * losses and work. */
enum counter {
	COUNTER_METERED = 0, /* counted in the kernel flow table */
	COUNTER_IGNORED, /* not a packet NFStream meters (not IP, truncated, fragment) */
	COUNTER_PUNTED, /* sent to userspace to be metered there */
	COUNTER_MAP_FULL, /* packets whose new flow did not fit (then punted) */
	COUNTER_PACKET_LOST, /* first-n packet copies the ring buffer had no room for */
	COUNTER_PUNT_LOST, /* punted frames the ring buffer had no room for (lost) */
	COUNTER_FLOW_END_LOST, /* expired flows the ring buffer had no room for (lost) */
	COUNTER_PACKET_COPIED, /* first-n packet copies sent */
	COUNTER_FLOWS_CREATED,
	COUNTER_APPLIED, /* punted packets userspace decoded and applied to the table */
	COUNTER_BUSY, /* packets punted because their flow's entry stayed dead (being expired) */
	COUNTER_EXPIRED, /* flows the sweeper expired (nfm_expire) */
	COUNTER_MAX,
};

#endif
