/*
 * oracle.c: prints what libpcap's pcap_open_offline + pcap_next_ex deliver
 * for each file given on the command line, in the line format produced by
 * dumpReader in oracle_test.go. It calls pcap_next_ex again after an error,
 * like NFStream does. Built only by the tests, when cc and pcap.h exist.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

static uint64_t fnv64(const u_char *p, bpf_u_int32 n)
{
	uint64_t h = 14695981039346656037ULL;
	for (bpf_u_int32 i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	for (int i = 1; i < argc; i++) {
		pcap_t *p = pcap_open_offline(argv[i], errbuf);
		if (p == NULL) {
			printf("openerr %s\n", errbuf);
			continue;
		}
		printf("open dlt=%d snap=%d\n", pcap_datalink(p), pcap_snapshot(p));
		for (long n = 0; n < 10000000; n++) {
			struct pcap_pkthdr *h;
			const u_char *d;
			int rc = pcap_next_ex(p, &h, &d);
			if (rc == 1) {
				printf("pkt sec=%lld usec=%lld caplen=%u len=%u hash=%016llx\n",
				    (long long)h->ts.tv_sec, (long long)h->ts.tv_usec,
				    h->caplen, h->len, (unsigned long long)fnv64(d, h->caplen));
			} else if (rc == -2) {
				break;
			} else {
				printf("err %s\n", pcap_geterr(p));
			}
		}
		printf("eof\n");
		pcap_close(p);
	}
	return 0;
}
