// Package nfmeter is the root of the nfmeter module. It holds no code: see
// cmd/nfmeter for the command and userspace/flows for the library.
//
// `make generate` compiles the BPF programs in bpf/ (with BPF2GO_CC and
// BPF2GO_CFLAGS from the Makefile) and writes their Go bindings to
// userspace/bpfobj. The outputs are committed so that building needs no
// clang; CI regenerates them and fails when they differ.
package nfmeter

//go:generate go tool bpf2go -output-dir userspace/bpfobj -go-package bpfobj -tags linux -target bpfel -type flow_key -type flow_state -type flow_data -type dir_state -type packet_hdr -type flow_end_event -type event_type -type punt_reason -type counter -type apply_req -type expire_req Meter bpf/meter.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -output-dir userspace/bpfobj -go-package bpfobj -tags linux -target bpfel Bench bpf/bench.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -output-dir userspace/bpfobj -go-package bpfobj -tags linux -target bpfel -type socket_event -type event_kind -type socket_hook -type sysvis_counter Sysvis bpf/sysvis.c -- -I/usr/include/x86_64-linux-gnu -D__TARGET_ARCH_x86
