#!/usr/bin/env python3
"""Independent generator of the golden vectors in tests/golden.rs.

Builds every frame byte by byte from RFC 791/793/768/8200/792 layouts with its own RFC 1071
checksum (no Rust code involved) and prints hex. Run: python3 gen_golden.py
"""
import ipaddress
import struct


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def a(x):
    return ipaddress.ip_address(x).packed


DIRECTOR = bytes.fromhex("0200000000d1")
CLIENT = bytes.fromhex("020000000001")
RS = bytes.fromhex("020000000051")


def eth(dst, src, et):
    return dst + src + struct.pack("!H", et)


def ipv4(src, dst, proto, payload_len, ttl=64, ident=0x1C46, df=True, tos=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident, 0x4000 if df else 0,
                    ttl, proto, 0, a(src), a(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def ipv6(src, dst, nxt, payload_len, hop=64):
    return struct.pack("!IHBB16s16s", 0x60000000, payload_len, nxt, hop, a(src), a(dst))


def pseudo(src, dst, proto, length):
    if ipaddress.ip_address(src).version == 4:
        return a(src) + a(dst) + struct.pack("!BBH", 0, proto, length)
    return a(src) + a(dst) + struct.pack("!IxxxB", length, proto)


def tcp(src, sport, dst, dport, flags=0x02, seq=1, ack=0, payload=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 29200, 0, 0) + payload
    c = csum(pseudo(src, dst, 6, len(h)) + h)
    return h[:16] + struct.pack("!H", c) + h[18:]


def udp(src, sport, dst, dport, payload, zero=False):
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if zero:
        return h
    c = csum(pseudo(src, dst, 17, len(h)) + h) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + h[8:]


def frame4(dmac, smac, src, dst, proto, l4, ttl=64):
    return eth(dmac, smac, 0x0800) + ipv4(src, dst, proto, len(l4), ttl) + l4


def frame6(dmac, smac, src, dst, proto, l4, hop=64):
    return eth(dmac, smac, 0x86DD) + ipv6(src, dst, proto, len(l4), hop) + l4


def show(name, b):
    print("const %s: &str = \"%s\";" % (name, b.hex()))


CIP, VIP, RIP, LIP = "192.0.2.10", "10.0.0.100", "192.168.10.2", "10.0.0.200"

# NAT in: SYN CIP:40000 -> VIP:80 becomes CIP:40000 -> RIP:8080, TTL 64 -> 63.
show("SYN_V4", frame4(DIRECTOR, CLIENT, CIP, VIP, 6, tcp(CIP, 40000, VIP, 80)))
show("SYN_V4_NAT_IN", frame4(DIRECTOR, CLIENT, CIP, RIP, 6, tcp(CIP, 40000, RIP, 8080), ttl=63))
# DR: same SYN, MACs to the RS from the director, TTL 63.
show("SYN_V4_DR", frame4(RS, DIRECTOR, CIP, VIP, 6, tcp(CIP, 40000, VIP, 80), ttl=63))
# FULLNAT in: LIP:5000 -> RIP:8080.
show("SYN_V4_FULLNAT_IN", frame4(DIRECTOR, CLIENT, LIP, RIP, 6, tcp(LIP, 5000, RIP, 8080), ttl=63))
# NAT out: SYN-ACK RIP:8080 -> CIP:40000 becomes VIP:80 -> CIP:40000.
synack = tcp(RIP, 8080, CIP, 40000, flags=0x12, seq=777, ack=2, payload=b"hi")
show("SYNACK_V4", frame4(DIRECTOR, RS, RIP, CIP, 6, synack))
show("SYNACK_V4_NAT_OUT", frame4(DIRECTOR, RS, VIP, CIP, 6,
                                 tcp(VIP, 80, CIP, 40000, flags=0x12, seq=777, ack=2, payload=b"hi"), ttl=63))
# FULLNAT out: RIP:8080 -> LIP:5000 becomes VIP:80 -> CIP:40000.
show("SYNACK_V4_FULLNAT", frame4(DIRECTOR, RS, RIP, LIP, 6,
                                 tcp(RIP, 8080, LIP, 5000, flags=0x12, seq=777, ack=2, payload=b"hi")))
show("SYNACK_V4_FULLNAT_OUT", frame4(DIRECTOR, RS, VIP, CIP, 6,
                                     tcp(VIP, 80, CIP, 40000, flags=0x12, seq=777, ack=2, payload=b"hi"), ttl=63))
# UDP with checksum 0 (IPv4: "no checksum") stays 0 through NAT in.
show("UDP0_V4", frame4(DIRECTOR, CLIENT, CIP, VIP, 17, udp(CIP, 5353, VIP, 53, b"query", zero=True)))
show("UDP0_V4_NAT_IN", frame4(DIRECTOR, CLIENT, CIP, RIP, 17, udp(CIP, 5353, RIP, 5300, b"query", zero=True), ttl=63))
# IPv6 TCP NAT in.
C6, V6, R6 = "2001:db8:c::10", "2001:db8:f::100", "2001:db8:a::2"
show("SYN_V6", frame6(DIRECTOR, CLIENT, C6, V6, 6, tcp(C6, 40000, V6, 443)))
show("SYN_V6_NAT_IN", frame6(DIRECTOR, CLIENT, C6, R6, 6, tcp(C6, 40000, R6, 8443), hop=63))
# ICMP port unreachable from the RS about CIP:5353 -> RIP:5300 (UDP), NAT out: outer src VIP,
# inner dst VIP:53, inner IP checksum redone, inner UDP checksum untouched, ICMP checksum redone.
inner = ipv4(CIP, RIP, 17, 8 + 5, ttl=63) + udp(CIP, 5353, RIP, 5300, b"query")[:8]
icmp = bytes([3, 3, 0, 0, 0, 0, 0, 0]) + inner
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
show("ICMP_V4", frame4(DIRECTOR, RS, RIP, CIP, 1, icmp))
udp_orig = udp(CIP, 5353, RIP, 5300, b"query")[:8]
inner2 = ipv4(CIP, VIP, 17, 8 + 5, ttl=63) + udp_orig[:2] + struct.pack("!H", 53) + udp_orig[4:]
icmp2 = bytes([3, 3, 0, 0, 0, 0, 0, 0]) + inner2
icmp2 = icmp2[:2] + struct.pack("!H", csum(icmp2)) + icmp2[4:]
show("ICMP_V4_NAT_OUT", frame4(DIRECTOR, RS, VIP, CIP, 1, icmp2, ttl=63))
# Time exceeded: SYN CIP -> VIP at TTL 1; director 10.0.0.1 replies with type 11 code 0,
# TOS 0xc0, TTL 64, ID 0, DF clear, quoting as much as fits in 576 bytes (RFC 1812 4.3.2.3,
# icmp_send): the whole 40-byte SYN.
syn1 = ipv4(CIP, VIP, 6, 20, ttl=1) + tcp(CIP, 40000, VIP, 80)
show("SYN_V4_TTL1", eth(DIRECTOR, CLIENT, 0x0800) + syn1)
te = bytes([11, 0, 0, 0, 0, 0, 0, 0]) + syn1
te = te[:2] + struct.pack("!H", csum(te)) + te[4:]
show("TIME_EXCEEDED_V4", eth(CLIENT, DIRECTOR, 0x0800)
     + ipv4("10.0.0.1", CIP, 1, len(te), ttl=64, ident=0, df=False, tos=0xC0) + te)
# IPv6: ICMPv6 port unreachable from the RS about C6:5353 -> R6:5300 (UDP), NAT out: outer src
# V6, inner dst V6:53, ICMPv6 checksum redone over the pseudo-header (RFC 4443 2.3).
def icmp6(src, dst, body):
    c = csum(pseudo(src, dst, 58, len(body)) + body)
    return body[:2] + struct.pack("!H", c) + body[4:]

u6 = udp(C6, 5353, R6, 5300, b"query")
inner6 = ipv6(C6, R6, 17, len(u6), hop=63) + u6[:8]
show("ICMP_V6", frame6(DIRECTOR, RS, R6, C6, 58, icmp6(R6, C6, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + inner6)))
inner6b = ipv6(C6, V6, 17, len(u6), hop=63) + u6[:2] + struct.pack("!H", 53) + u6[4:8]
show("ICMP_V6_NAT_OUT", frame6(DIRECTOR, RS, V6, C6, 58,
                               icmp6(V6, C6, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + inner6b), hop=63))
# IPv6 time exceeded: SYN C6 -> V6 at hop limit 1; director 2001:db8:f::1 replies type 3 code 0,
# hop limit 64, quoting the whole (small) packet.
syn6 = ipv6(C6, V6, 6, 20, hop=1) + tcp(C6, 40000, V6, 443)
show("SYN_V6_HOP1", eth(DIRECTOR, CLIENT, 0x86DD) + syn6)
D6 = "2001:db8:f::1"
show("TIME_EXCEEDED_V6", eth(CLIENT, DIRECTOR, 0x86DD)
     + ipv6(D6, C6, 58, 8 + len(syn6), hop=64) + icmp6(D6, C6, bytes([3, 0, 0, 0, 0, 0, 0, 0]) + syn6))
# Port unreachable (ip_vs_leave): SYN CIP -> VIP:80 with a 600-byte payload, no real server;
# the VIP replies type 3 code 3, TOS 0xc0, TTL 64, ID 0, DF clear, quoting the first 548 bytes
# (576 - 20 - 8, RFC 1812 4.3.2.3).
big = ipv4(CIP, VIP, 6, 20 + 600, ttl=64) + tcp(CIP, 40000, VIP, 80, payload=bytes(range(256)) * 2 + bytes(88))
show("SYN_V4_BIG", eth(DIRECTOR, CLIENT, 0x0800) + big)
pu = bytes([3, 3, 0, 0, 0, 0, 0, 0]) + big[:548]
pu = pu[:2] + struct.pack("!H", csum(pu)) + pu[4:]
show("PORT_UNREACH_V4", eth(CLIENT, DIRECTOR, 0x0800)
     + ipv4(VIP, CIP, 1, len(pu), ttl=64, ident=0, df=False, tos=0xC0) + pu)
# IPv6: SYN C6 -> V6:443 (hop limit 64), no real server: V6 replies type 1 code 4, quoting the
# whole packet (RFC 4443 2.4 (c)).
syn6b = ipv6(C6, V6, 6, 20, hop=64) + tcp(C6, 40000, V6, 443)
show("PORT_UNREACH_V6", eth(CLIENT, DIRECTOR, 0x86DD)
     + ipv6(V6, C6, 58, 8 + len(syn6b), hop=64) + icmp6(V6, C6, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + syn6b))
