//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reference programs for the kernel path's benchmarks (make bench), never
 * attached. ref_pass only returns XDP_PASS: the cost of running a program.
 * ref_count is the least a flow meter can do: parse Ethernet/IPv4/TCP,
 * look the 5-tuple up in a hash map and add one to a counter atomically
 * (inserting it the first time). nfm_xdp is compared with both. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual BSD/GPL";

struct ref_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 _pad[3];
};

/* ref_counts: ref_key -> packets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ref_key);
	__type(value, __u64);
} ref_counts SEC(".maps");

SEC("xdp")
int ref_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int ref_count(struct xdp_md *ctx)
{
	const __u8 *d = (const void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	if ((const void *)(d + 14 + 20 + 4) > end)
		return XDP_PASS;
	if (((d[12] << 8) | d[13]) != ETH_P_IP)
		return XDP_PASS;
	const __u8 *ip = d + 14;
	if ((ip[0] & 0x0f) != 5 || ip[9] != 6)
		return XDP_PASS;
	struct ref_key k = {};
	__builtin_memcpy(&k.saddr, ip + 12, 4);
	__builtin_memcpy(&k.daddr, ip + 16, 4);
	__builtin_memcpy(&k.sport, ip + 20, 2);
	__builtin_memcpy(&k.dport, ip + 22, 2);
	k.proto = 6;
	__u64 *v = bpf_map_lookup_elem(&ref_counts, &k);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return XDP_PASS;
	}
	__u64 one = 1;
	bpf_map_update_elem(&ref_counts, &k, &one, BPF_NOEXIST);
	return XDP_PASS;
}
