//go:build cgo && linux

package ndpi

/*
#cgo pkg-config: libndpi
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <ndpi_api.h>
#include "shim.h"

static pthread_mutex_t nfm_init_lock = PTHREAD_MUTEX_INITIALIZER;

void nfm_sizes(uint32_t *compiled, uint32_t *library) {
	*compiled = sizeof(struct ndpi_flow_struct);
	*library = ndpi_detection_get_sizeof_ndpi_flow_struct();
}

const char *nfm_revision(void) { return ndpi_revision(); }

void *nfm_module_new(void) {
	// ndpi_init_detection_module must not run in parallel.
	pthread_mutex_lock(&nfm_init_lock);
	struct ndpi_detection_module_struct *m = ndpi_init_detection_module(ndpi_no_prefs);
	if (m != NULL) {
		NDPI_PROTOCOL_BITMASK all;
		NDPI_BITMASK_SET_ALL(all);
		ndpi_set_protocol_detection_bitmask2(m, &all);
		ndpi_finalize_initialization(m);
	}
	pthread_mutex_unlock(&nfm_init_lock);
	return m;
}

void nfm_module_free(void *m) { ndpi_exit_detection_module((struct ndpi_detection_module_struct *)m); }

void *nfm_flow_new(void) {
	void *f = ndpi_flow_malloc(sizeof(struct ndpi_flow_struct));
	if (f != NULL) memset(f, 0, sizeof(struct ndpi_flow_struct));
	return f;
}

void nfm_flow_free(void *f) { if (f != NULL) ndpi_flow_free(f); }

static void nfm_set(nfm_state *st, ndpi_protocol p) {
	st->master = p.master_protocol;
	st->app = p.app_protocol;
	st->category = p.category;
}

static void nfm_giveup(struct ndpi_detection_module_struct *m, struct ndpi_flow_struct *f, nfm_state *st) {
	uint8_t guessed = 0;
	nfm_set(st, ndpi_detection_giveup(m, f, 1, &guessed));
	st->guessed = guessed;
	st->gave_up = 1;
}

void nfm_packet(void *mp, void *fp, nfm_state *st, const uint8_t *l3, uint16_t len,
		uint64_t time_ms, uint32_t k, uint32_t n_dissections) {
	struct ndpi_detection_module_struct *m = mp;
	struct ndpi_flow_struct *f = fp;
	if (st->done) return;
	if (k == 1) {
		nfm_set(st, ndpi_detection_process_packet(m, f, l3, len, time_ms));
		if (st->app == NDPI_PROTOCOL_UNKNOWN && n_dissections == 1) {
			nfm_giveup(m, f, st);
			st->done = 1;
		}
		return;
	}
	if (st->app == NDPI_PROTOCOL_UNKNOWN || ndpi_extra_dissection_possible(m, f)) {
		nfm_set(st, ndpi_detection_process_packet(m, f, l3, len, time_ms));
	} else {
		st->done = 1;
	}
	if (k == n_dissections) {
		if (st->app == NDPI_PROTOCOL_UNKNOWN) nfm_giveup(m, f, st);
		st->done = 1;
	}
}

static void nfm_copy(char *dst, size_t cap, const char *src) {
	if (src == NULL) { dst[0] = 0; return; }
	size_t n = 0;
	while (n + 1 < cap && src[n] != 0) n++;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static int nfm_is(const nfm_state *st, uint16_t p) { return st->master == p || st->app == p; }

// nfm_name_maps_to reports whether a host name maps to proto through nDPI's
// host automata.
static int nfm_name_maps_to(struct ndpi_detection_module_struct *m, const char *name, uint16_t proto) {
	if (name == NULL || name[0] == 0) return 0;
	ndpi_protocol_match_result r;
	memset(&r, 0, sizeof(r));
	int id = ndpi_match_string_subprotocol(m, (char *)name, strlen(name), &r);
	return id > 0 && (uint16_t)id == proto;
}

// nfm_ip_app reports whether app is what the IP prefix tree says for one of
// the flow's (IPv4) addresses, and no name seen in the flow supports it.
static int nfm_ip_app(struct ndpi_detection_module_struct *m, struct ndpi_flow_struct *f, uint16_t app) {
	struct in_addr a;
	int by_ip = 0;
	a.s_addr = f->saddr;
	if (f->saddr && ndpi_network_ptree_match(m, &a) == app) by_ip = 1;
	a.s_addr = f->daddr;
	if (f->daddr && ndpi_network_ptree_match(m, &a) == app) by_ip = 1;
	if (!by_ip) return 0;
	if (nfm_name_maps_to(m, f->host_server_name, app)) return 0;
	return 1;
}

void nfm_finish(void *mp, void *fp, nfm_state *st, int compat, nfm_info *out) {
	struct ndpi_detection_module_struct *m = mp;
	struct ndpi_flow_struct *f = fp;
	memset(out, 0, sizeof(*out));
	if (!st->done && st->app == NDPI_PROTOCOL_UNKNOWN) nfm_giveup(m, f, st);

	ndpi_protocol p;
	memset(&p, 0, sizeof(p));
	p.master_protocol = st->master;
	p.app_protocol = st->app;
	p.category = st->category;
	out->confidence = f->confidence;
	out->guessed = st->guessed;

	if (compat && p.app_protocol != NDPI_PROTOCOL_UNKNOWN && p.app_protocol != p.master_protocol) {
		int tls_names = 0;
		if (nfm_is(st, NDPI_PROTOCOL_TLS) || nfm_is(st, NDPI_PROTOCOL_QUIC) || nfm_is(st, NDPI_PROTOCOL_DTLS)) {
			// Certificate names may support the app (comma-separated).
			const char *sn = f->protos.tls_quic.server_names;
			if (sn != NULL) {
				char buf[256];
				const char *s = sn;
				while (*s) {
					size_t n = strcspn(s, ",");
					if (n < sizeof(buf)) {
						memcpy(buf, s, n);
						buf[n] = 0;
						if (nfm_name_maps_to(m, buf, p.app_protocol)) tls_names = 1;
					}
					s += n;
					if (*s == ',') s++;
				}
			}
		}
		if (!tls_names && nfm_ip_app(m, f, p.app_protocol) &&
		    (p.master_protocol != NDPI_PROTOCOL_UNKNOWN || f->confidence == NDPI_CONFIDENCE_MATCH_BY_IP)) {
			out->ip_app_dropped = 1;
			if (p.master_protocol != NDPI_PROTOCOL_UNKNOWN) {
				// What remains is the master guessed from the port.
				if (out->confidence == NDPI_CONFIDENCE_MATCH_BY_IP) out->confidence = NDPI_CONFIDENCE_MATCH_BY_PORT;
				p.app_protocol = p.master_protocol;
				p.master_protocol = NDPI_PROTOCOL_UNKNOWN;
				p.category = NDPI_PROTOCOL_CATEGORY_UNSPECIFIED;
				p.category = ndpi_get_proto_category(m, p);
			} else {
				p.app_protocol = NDPI_PROTOCOL_UNKNOWN;
				p.category = NDPI_PROTOCOL_CATEGORY_UNSPECIFIED;
				out->guessed = 0;
				out->confidence = NDPI_CONFIDENCE_UNKNOWN;
			}
		}
	}
	out->master = p.master_protocol;
	out->app = p.app_protocol;
	out->category_id = p.category;

	ndpi_protocol2name(m, p, out->name, sizeof(out->name));
	const char *cat = ndpi_category_get_name(m, p.category);
	if (cat != NULL) {
		size_t n = strlen(cat);
		if (n > 24) n = 24;
		memcpy(out->category, cat, n);
		out->category[n] = 0;
	}
	nfm_copy(out->server_name, sizeof(out->server_name), f->host_server_name);
	if (nfm_is(st, NDPI_PROTOCOL_DHCP)) {
		nfm_copy(out->client_fp, sizeof(out->client_fp), f->protos.dhcp.fingerprint);
	} else if (nfm_is(st, NDPI_PROTOCOL_HTTP)) {
		nfm_copy(out->user_agent, sizeof(out->user_agent), f->http.user_agent);
		nfm_copy(out->content_type, sizeof(out->content_type), f->http.content_type);
	} else if (nfm_is(st, NDPI_PROTOCOL_SSH)) {
		nfm_copy(out->client_fp, sizeof(out->client_fp), f->protos.ssh.hassh_client);
		nfm_copy(out->server_fp, sizeof(out->server_fp), f->protos.ssh.hassh_server);
	} else if (nfm_is(st, NDPI_PROTOCOL_TLS) || nfm_is(st, NDPI_PROTOCOL_DTLS) ||
		   nfm_is(st, NDPI_PROTOCOL_MAIL_SMTPS) || nfm_is(st, NDPI_PROTOCOL_MAIL_IMAPS) ||
		   nfm_is(st, NDPI_PROTOCOL_MAIL_POPS) || nfm_is(st, NDPI_PROTOCOL_QUIC)) {
		nfm_copy(out->client_fp, sizeof(out->client_fp), f->protos.tls_quic.ja3_client);
		nfm_copy(out->server_fp, sizeof(out->server_fp), f->protos.tls_quic.ja3_server);
		nfm_copy(out->user_agent, sizeof(out->user_agent), f->http.user_agent);
	}
}

void nfm_host_label(void *mp, uint16_t master, const char *host, nfm_info *out) {
	struct ndpi_detection_module_struct *m = mp;
	ndpi_protocol p;
	memset(&p, 0, sizeof(p));
	p.master_protocol = master;
	p.app_protocol = master;
	ndpi_protocol_match_result r;
	memset(&r, 0, sizeof(r));
	int id = ndpi_match_string_subprotocol(m, (char *)host, strlen(host), &r);
	if (id > 0 && (uint16_t)id != master) {
		p.app_protocol = (uint16_t)id;
		p.category = r.protocol_category;
	}
	if (p.category == NDPI_PROTOCOL_CATEGORY_UNSPECIFIED) p.category = ndpi_get_proto_category(m, p);
	out->master = p.master_protocol;
	out->app = p.app_protocol;
	out->category_id = p.category;
	ndpi_protocol2name(m, p, out->name, sizeof(out->name));
	const char *cat = ndpi_category_get_name(m, p.category);
	out->category[0] = 0;
	if (cat != NULL) {
		size_t n = strlen(cat);
		if (n > 24) n = 24;
		memcpy(out->category, cat, n);
		out->category[n] = 0;
	}
}
*/
import "C"
