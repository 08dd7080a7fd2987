#!/usr/bin/env python3
"""Independent oracle for the JA4 plugin tests (ja4_test.go).

Usage: python3 ja4_expected.py PCAP...

For every IPv4/IPv6 TCP stream of each capture, tshark (4.x) dissects the
packets; this script reads the ClientHello/ServerHello fields from tshark's
JSON tree (tls.handshake.version, tls.handshake.ciphersuite, the
"Extension: ..." subtrees with tls.handshake.extension.type,
tls.handshake.extensions.supported_version, tls.handshake.sig_hash_alg and
tls.handshake.extensions_alpn_str) and computes JA4/JA4S as described by the
FoxIO JA4 technical details and the NFStream spec (§8.1, JA4 bullet):

  JA4  = "t" + version + (d|i) + #ciphers + #extensions + ALPN first/last
         + "_" + sha256(sorted ciphers)[:12]
         + "_" + sha256(sorted extensions minus 0000/0010 "_" sig algs)[:12]
  JA4S = "t" + version + #extensions + ALPN + "_" + cipher + "_"
         + sha256(extensions in order)[:12]

with NFStream's documented behaviour: only streams opened by a SYN without
ACK; GREASE removal keeps a GREASE value that directly follows a removed one;
extensions counted by distinct type; version digits (major-2)(minor-1);
signature algorithms without GREASE; a ClientHello lacking the
signature_algorithms extension (or extensions, or ciphers) gives None; a
ServerHello without extensions resets JA4 to None; each packet is parsed on
its own, and after the handshake ACK the next packet must be a ClientHello.

A stream whose hello message spans several TCP segments, or whose hello has no
extensions but is followed by more bytes (NFStream then reads those bytes as
extensions), is printed as SKIP: this oracle does not model such parses. Output lines:

  pcap  src_ip:src_port>dst_ip:dst_port  JA4|None  JA4S|None   or  ... SKIP reason
"""

import hashlib
import json
import subprocess
import sys
from collections import OrderedDict


def tshark(args):
    return subprocess.run(["tshark"] + args, check=True, capture_output=True, text=True).stdout


def pairs_hook(p):
    return p  # keep duplicate keys, in order


def is_grease(v):
    return (v >> 8) == (v & 0xFF) and (v & 0x0F) == 0x0A


def drop_grease(vals):
    out, skip_next = [], False
    for v in vals:
        if skip_next:
            out.append(v)
            skip_next = False
        elif is_grease(v):
            skip_next = True
        else:
            out.append(v)
    return out


def count(vals):
    n = sum(1 for v in vals if not is_grease(v))
    return "%02d" % min(n, 99)


def h12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "0" * 12


def hx(v):
    return "%04x" % v


def version_digits(v):
    return str((v >> 8) - 2) + str((v & 0xFF) - 1)


def find_all(node, key):
    """Values of key anywhere under node (a list of pairs)."""
    out = []
    if isinstance(node, list):
        for k, v in node:
            if k == key:
                out.append(v)
            out.extend(find_all(v, key))
    return out


def handshakes(tls):
    for k, v in tls:
        if k == "tls.record":
            for k2, v2 in v:
                if k2 == "tls.handshake":
                    yield v2


class Hello:
    pass


def parse_hello(hs):
    h = Hello()
    h.type = int(dict(hs)["tls.handshake.type"])
    h.version = int(dict(hs)["tls.handshake.version"], 16)
    h.length = int(dict(hs)["tls.handshake.length"])
    h.ciphers = [int(x, 16) for x in find_all(dict(hs).get("tls.handshake.ciphersuites", []), "tls.handshake.ciphersuite")]
    if h.type == 2:
        h.ciphers = [int(dict(hs)["tls.handshake.ciphersuite"], 16)]
    h.ext = OrderedDict()  # type -> subtree (last one wins, first position kept)
    for k, v in hs:
        if k.startswith("Extension: "):
            h.ext[int(dict(v)["tls.handshake.extension.type"])] = v
    return h


def ja4_client(h):
    if not h.ext or not h.ciphers:
        return None
    ver = h.version
    if 43 in h.ext:
        sv = drop_grease([int(x, 16) for x in find_all(h.ext[43], "tls.handshake.extensions.supported_version")])
        if not sv:
            return None
        ver = max(sv)
    a = "t" + version_digits(ver) + ("d" if 0 in h.ext else "i") + count(h.ciphers) + count(list(h.ext))
    alpn = "00"
    if 16 in h.ext:
        names = find_all(h.ext[16], "tls.handshake.extensions_alpn_str")
        if names:
            if names[0] == "":
                return None
            alpn = (names[0][0] + names[0][-1]).lower()
    a += alpn
    b = h12(",".join(hx(c) for c in sorted(drop_grease(h.ciphers))))
    exts = sorted(e for e in drop_grease(list(h.ext)) if e not in (0, 16))
    c = ",".join(hx(e) for e in exts)
    if 13 not in h.ext or "tls.handshake.sig_hash_alg_len" not in dict(h.ext[13]):
        return None
    algs = [int(x, 16) for x in find_all(h.ext[13], "tls.handshake.sig_hash_alg")]
    if algs:
        c += "_" + ",".join(hx(x) for x in drop_grease(algs))
    return a + "_" + b + "_" + h12(c)


def ja4_server(h):
    """Returns the JA4S string, or "raise" when NFStream's parser fails."""
    if not h.ext:
        return "raise"
    ver = h.version
    if 43 in h.ext:
        ver = int(find_all(h.ext[43], "tls.handshake.extensions.supported_version")[0], 16)
    alpn = "00"
    if 16 in h.ext:
        names = find_all(h.ext[16], "tls.handshake.extensions_alpn_str")
        if names:
            if names[0] == "":
                return "raise"
            alpn = (names[0][0] + names[0][-1]).lower()
    a = "t" + version_digits(ver) + count(list(h.ext)) + alpn
    return a + "_" + hx(h.ciphers[0]) + "_" + h12(",".join(hx(e) for e in h.ext))


def run(pcap):
    fields = ["frame.number", "frame.protocols", "tcp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
              "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.segments", "tcp.payload"]
    # occurrence=l: the innermost IP header of tunnelled packets.
    out = tshark(["-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "separator=|", "-E", "occurrence=l"]
                 + sum((["-e", f] for f in fields), []))
    frames = []
    for line in out.splitlines():
        v = line.split("|")
        frames.append(dict(zip(fields, v)))
    tree = json.loads(tshark(["-r", pcap, "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2",
                              "-T", "json", "-J", "frame tls"]), object_pairs_hook=pairs_hook)
    hellos = {}
    for pkt in tree:
        layers = dict(dict(dict(pkt)["_source"])["layers"])
        num = int(dict(layers["frame"])["frame.number"])
        hs = [parse_hello(h) for h in handshakes(layers.get("tls", []))
              if dict(h).get("tls.handshake.type") in ("1", "2")]
        if hs:
            hellos[num] = hs[0]

    # A hello reassembled from several segments is dissected in its last
    # frame; NFStream sees the first segment, which suffices when the whole
    # handshake message lies in it.
    first_segment = {}
    for line in tshark(["-r", pcap, "-Y", "tcp.segments", "-T", "fields", "-e", "frame.number",
                        "-e", "tcp.segment", "-E", "occurrence=a"]).splitlines():
        num, segs = line.split("\t")
        if int(num) in hellos:
            first_segment[int(segs.split(",")[0])] = hellos[int(num)]

    streams = OrderedDict()
    for f in frames:
        streams.setdefault(f["tcp.stream"], []).append(f)
    for pkts in streams.values():
        f0 = pkts[0]
        v4 = inner_ipv4(f0)
        key = "%s:%s>%s:%s" % (f0["ip.src"] if v4 else f0["ipv6.src"], f0["tcp.srcport"],
                               f0["ip.dst"] if v4 else f0["ipv6.dst"], f0["tcp.dstport"])
        res = simulate(pkts, hellos, first_segment)
        name = pcap.rsplit("/", 1)[-1]
        if isinstance(res, str):
            print(name, key, "SKIP", res)
        else:
            print(name, key, res[0] or "None", res[1] or "None")


def inner_ipv4(f):
    layers = [x for x in f["frame.protocols"].split(":") if x in ("ip", "ipv6")]
    return bool(layers) and layers[-1] == "ip"


def flag(f, name):
    return f["tcp.flags." + name] in ("1", "True")


def attempt(f, hellos, first_segment, want):
    """None (not a hello of type want), a Hello, or a SKIP reason."""
    p = bytes.fromhex(f["tcp.payload"].replace(":", ""))
    if len(p) < 2 or p[0] != 0x16 or p[1] != 0x03:
        return None
    if len(p) < 11:
        return "short record start"
    if p[5] not in (1, 2) or p[9] != 3 or p[5] != want:
        return None
    h = hellos.get(int(f["frame.number"]))
    if h is None or f["tcp.segments"]:
        h = first_segment.get(int(f["frame.number"]))
        if h is None or len(p) < 9 + h.length:
            return "hello spans segments"
    if h.type != want:
        return "unexpected hello"
    if not h.ext and len(p) > 9 + h.length:
        return "hello without extensions followed by more bytes"
    return h


def simulate(pkts, hellos, first_segment):
    f0 = pkts[0]
    if not inner_ipv4(f0) or not (flag(f0, "syn") and not flag(f0, "ack")):
        return None, None
    ja4 = ja4s = None
    steps = 1  # SYN seen; 2 after SYN+ACK, 3 after the ACK
    for f in pkts[1:]:
        if ja4 is None:
            h = attempt(f, hellos, first_segment, 1)
            if isinstance(h, str):
                return h
            ja4 = ja4_client(h) if h else None
        else:
            h = attempt(f, hellos, first_segment, 2)
            if isinstance(h, str):
                return h
            if h:
                v = ja4_server(h)
                if v == "raise":
                    ja4 = None
                else:
                    return ja4, v
        if steps == 3 and ja4 is None:
            return None, None
        syn, ack = flag(f, "syn"), flag(f, "ack")
        if steps == 1 and syn and ack:
            steps = 2
        elif steps == 2 and ack and not syn:
            steps = 3
    return ja4, ja4s


if __name__ == "__main__":
    for p in sys.argv[1:]:
        run(p)
