// SPDX-License-Identifier: Apache-2.0
// The only place nfmeter talks to nDPI. Every nDPI call goes through these
// functions so that a newer nDPI (4.8, 4.10+: new init, config and give-up
// APIs) only changes shim.c. Written against Debian 12's nDPI 4.2.
#ifndef NFM_NDPI_SHIM_H
#define NFM_NDPI_SHIM_H

#include <stdint.h>

// Per-flow detection state, owned by Go (no pointers into Go memory).
typedef struct {
	uint16_t master, app;   // last protocol returned by nDPI
	uint32_t category;      // its category
	uint8_t done;           // NFStream's detection_completed
	uint8_t guessed;        // give-up's protocol_was_guessed
	uint8_t gave_up;        // give-up was called
	uint8_t pad;
} nfm_state;

// Application fields copied out of nDPI at expiry (NFStream's sizes).
typedef struct {
	char name[40];
	char category[25];
	char server_name[80];
	char client_fp[48];
	char server_fp[48];
	char user_agent[256];
	char content_type[64];
	int confidence;        // nDPI 4.2 numbering
	uint16_t master, app;  // after compatibility adjustments
	uint32_t category_id;
	uint8_t guessed;
	uint8_t ip_app_dropped; // the compat rule removed an app derived from an IP match
} nfm_info;

// nfm_sizes reports sizeof(struct ndpi_flow_struct) as compiled here and as
// the library says; a mismatch means headers and library differ.
void nfm_sizes(uint32_t *compiled, uint32_t *library);
const char *nfm_revision(void);

void *nfm_module_new(void);
void nfm_module_free(void *m);

void *nfm_flow_new(void);
void nfm_flow_free(void *f);

// nfm_packet applies NFStream's per-packet rule (spec §6.2) for the k-th
// packet (1-based) of a flow.
void nfm_packet(void *m, void *f, nfm_state *st, const uint8_t *l3, uint16_t len,
		uint64_t time_ms, uint32_t k, uint32_t n_dissections);

// nfm_finish gives up when NFStream would, then copies the fields. compat
// selects nDPI 4.7's rule that an IP-prefix match is not folded into the
// application protocol.
void nfm_finish(void *m, void *f, nfm_state *st, int compat, nfm_info *out);

// nfm_host_label sets out's name and category for a flow of protocol
// master whose server name is host (nDPI's host automata pick the app).
void nfm_host_label(void *m, uint16_t master, const char *host, nfm_info *out);

#endif
