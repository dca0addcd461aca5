//! Shared helpers of the pipeline tests: frames built with etherparse, checked with
//! etherparse (independent of lvs-fwd).
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::{ApplyOutput, Director, DirectorConfig, PacketMeta, Verdict};

/// Headroom in front of every test frame (room for TUN headers).
pub const HEAD: usize = 128;
/// Tailroom after every test frame (room for ICMP errors).
pub const TAIL: usize = 1600;

pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// TCP flags for [`tcp`].
pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

/// A frame in a buffer with headroom and tailroom: (buffer, start, len).
pub struct Frame {
    pub buf: Vec<u8>,
    pub start: usize,
    pub len: usize,
}

impl Frame {
    /// Put `bytes` in a buffer with HEAD bytes of headroom and TAIL of tailroom.
    pub fn new(bytes: Vec<u8>) -> Frame {
        let mut buf = vec![0u8; HEAD];
        let len = bytes.len();
        buf.extend_from_slice(&bytes);
        buf.resize(HEAD + len + TAIL, 0);
        Frame {
            buf,
            start: HEAD,
            len,
        }
    }
    /// The frame bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    /// Bytes of the range a verdict names.
    pub fn out(&self, v: &Verdict) -> &[u8] {
        match *v {
            Verdict::Transmit { start, len, .. } | Verdict::Icmp { start, len, .. } => {
                &self.buf[start..start + len]
            }
            _ => panic!("no output frame in {v:?}"),
        }
    }
}

fn builder(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("family mismatch"),
    }
}

/// A TCP segment `src -> dst` with `flags` and a payload.
pub fn tcp_ttl(src: &str, dst: &str, flags: u8, ttl: u8, payload: &[u8]) -> Frame {
    let (s, d) = (sa(src), sa(dst));
    let mut b = builder(s.ip(), d.ip(), ttl).tcp(s.port(), d.port(), 1000, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(1);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    Frame::new(v)
}

/// A TCP segment with TTL 64.
pub fn tcp(src: &str, dst: &str, flags: u8) -> Frame {
    tcp_ttl(src, dst, flags, 64, b"hello")
}

/// A UDP datagram.
pub fn udp(src: &str, dst: &str, payload: &[u8]) -> Frame {
    let (s, d) = (sa(src), sa(dst));
    let mut v = Vec::new();
    builder(s.ip(), d.ip(), 64)
        .udp(s.port(), d.port())
        .write(&mut v, payload)
        .unwrap();
    Frame::new(v)
}

/// An ICMP (v4) destination unreachable / port unreachable from `src` to `dst` quoting
/// the first bytes of the IP packet of `quoted`.
pub fn icmp_unreach(src: &str, dst: &str, quoted: &Frame) -> Frame {
    let q = &quoted.bytes()[14..];
    let q = &q[..q.len().min(28 + 8)];
    let mut v = Vec::new();
    builder(ip(src), ip(dst), 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut v, q)
        .unwrap();
    Frame::new(v)
}

/// What a transmitted packet looks like: its 5-tuple and TTL, with every checksum verified
/// by etherparse's own computation.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub ttl: u8,
}

/// Parse an Ethernet frame with etherparse, verify the IPv4 header checksum and the TCP /
/// UDP checksum by full recomputation, and return the tuple.
pub fn seen(frame: &[u8]) -> Seen {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse parses the output");
    let (sip, dip, ttl): (IpAddr, IpAddr, u8) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header().to_header();
            assert_eq!(
                h.calc_header_checksum(),
                h.header_checksum,
                "IPv4 header checksum"
            );
            (
                IpAddr::V4(h.source.into()),
                IpAddr::V4(h.destination.into()),
                h.time_to_live,
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header().to_header();
            (
                IpAddr::V6(h.source.into()),
                IpAddr::V6(h.destination.into()),
                h.hop_limit,
            )
        }
        other => panic!("not IP: {other:?}"),
    };
    let (sp, dp) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let h = t.to_header();
            let want = match &p.net {
                Some(NetSlice::Ipv4(v4)) => h
                    .calc_checksum_ipv4(&v4.header().to_header(), t.payload())
                    .unwrap(),
                Some(NetSlice::Ipv6(v6)) => h
                    .calc_checksum_ipv6(&v6.header().to_header(), t.payload())
                    .unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(want, h.checksum, "TCP checksum");
            (t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            let want = match &p.net {
                Some(NetSlice::Ipv4(v4)) => h
                    .calc_checksum_ipv4(&v4.header().to_header(), u.payload())
                    .unwrap(),
                Some(NetSlice::Ipv6(v6)) => h
                    .calc_checksum_ipv6(&v6.header().to_header(), u.payload())
                    .unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(want, h.checksum, "UDP checksum");
            (u.source_port(), u.destination_port())
        }
        _ => (0, 0),
    };
    Seen {
        src: SocketAddr::new(sip, sp),
        dst: SocketAddr::new(dip, dp),
        ttl,
    }
}

/// A director configured with ipvsadm rule lines through the core-adm parser.
pub fn director(rules: &[&str], cfg: DirectorConfig, now: Instant) -> Director {
    let mut d = Director::new(cfg, now);
    for r in rules {
        assert_eq!(d.apply_line(r, now).unwrap(), ApplyOutput::Done, "{r}");
    }
    d
}

/// Run a frame through the director.
pub fn run(d: &mut Director, f: &mut Frame, now: Instant) -> Verdict {
    d.process(&mut f.buf, f.start, f.len, &PacketMeta::default(), now)
}

/// Run a frame through the director and parse (and checksum-verify) what it transmits.
pub fn send(d: &mut Director, f: &mut Frame, now: Instant) -> (Verdict, Seen) {
    let v = run(d, f, now);
    let s = seen(f.out(&v));
    (v, s)
}

/// The text of a list command.
pub fn text(d: &mut Director, line: &str, now: Instant) -> String {
    match d.apply_line(line, now).unwrap() {
        ApplyOutput::Text(t) => t,
        ApplyOutput::Done => panic!("no text for {line}"),
    }
}

/// `t0 + secs`.
pub fn at(t0: Instant, secs: u64) -> Instant {
    t0 + Duration::from_secs(secs)
}

/// Next hop of a Transmit verdict.
pub fn next_hop(v: &Verdict) -> IpAddr {
    match v {
        Verdict::Transmit { next_hop, .. } => *next_hop,
        other => panic!("expected Transmit, got {other:?}"),
    }
}

/// A director with one IPv6 TUN (IPIP) real server [2001:db8:1::1]:80 behind the virtual
/// service [2001:db8::100]:80 (rr).
pub fn tun_v6_director(cfg: DirectorConfig, now: Instant) -> Director {
    director(
        &[
            "-A -t [2001:db8::100]:80 -s rr",
            "-a -t [2001:db8::100]:80 -r [2001:db8:1::1]:80 -i",
        ],
        cfg,
        now,
    )
}

/// A client SYN [2001:db8:9::1]:`cport` -> [2001:db8::100]:80 (hop limit 64) carrying
/// `payload` bytes.
pub fn v6_syn(cport: u16, payload: usize) -> Frame {
    tcp_ttl(
        &format!("[2001:db8:9::1]:{cport}"),
        "[2001:db8::100]:80",
        SYN,
        64,
        &vec![7u8; payload],
    )
}

/// The octets of an IPv4 address literal.
pub fn v4(s: &str) -> [u8; 4] {
    match ip(s) {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("{s}"),
    }
}

/// A router on the real servers' side, source of ICMP errors about our tunnel packets.
pub const ROUTER: &str = "10.1.0.254";
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

/// An ICMP error from ROUTER to `to` quoting `quoted` (cut at 548 bytes as a Linux router
/// would, RFC 1812 4.3.2.3).
pub fn router_error(to: &str, ty: etherparse::Icmpv4Type, quoted: &[u8]) -> Frame {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(ROUTER_MAC, DIRECTOR_MAC)
        .ipv4(v4(ROUTER), v4(to), 64)
        .icmpv4(ty)
        .write(&mut v, &quoted[..quoted.len().min(548)])
        .unwrap();
    Frame::new(v)
}

/// ICMP destination unreachable, fragmentation needed, next-hop MTU `mtu` (RFC 1191).
pub fn frag_needed(mtu: u16) -> etherparse::Icmpv4Type {
    etherparse::Icmpv4Type::DestinationUnreachable(
        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
    )
}

/// An ICMPv4 error frame, checked: IPv4 header checksum and ICMP checksum recomputed by
/// etherparse. Returns the IP header, the ICMP type and the quote.
pub fn icmpv4(frame: &[u8]) -> (etherparse::Ipv4Header, etherparse::Icmpv4Type, Vec<u8>) {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse parses the ICMP error");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4: {:?}", p.net)
    };
    let h = ip.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
    assert_eq!(h.protocol, etherparse::IpNumber::ICMP);
    let Some(TransportSlice::Icmpv4(i)) = &p.transport else {
        panic!("not ICMP: {:?}", p.transport)
    };
    assert_eq!(
        i.header().icmp_type.calc_checksum(i.payload()),
        i.checksum(),
        "ICMP checksum"
    );
    (h, i.icmp_type(), i.payload().to_vec())
}

/// Room for a whole reassembled datagram after the frame start.
pub const BIG: usize = 18 + 65535;

/// Put a fragment frame in a buffer big enough for the reassembled datagram.
pub fn big_frame(bytes: Vec<u8>) -> Frame {
    let mut f = Frame::new(bytes);
    f.buf.resize(HEAD + BIG + TAIL, 0);
    f
}

/// Cut the IP payload of the Ethernet frame `whole` into fragments at the given byte offsets
/// (multiples of 8), identification `id`: IPv4 fragments (RFC 791: MF on all but the last,
/// offset in 8-byte units, header checksum recomputed) or IPv6 fragments (RFC 8200 4.5: a
/// fragment header after the IPv6 header, payload length adjusted).
pub fn split(whole: &[u8], cuts: &[usize], id: u32) -> Vec<Vec<u8>> {
    let v4 = whole[14] >> 4 == 4;
    let hl = if v4 { 20 } else { 40 };
    let payload = &whole[14 + hl..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let more = b != payload.len();
        let piece = &payload[a..b];
        let mut f = whole[..14 + hl].to_vec();
        if v4 {
            let tot = (20 + piece.len()) as u16;
            f[16..18].copy_from_slice(&tot.to_be_bytes());
            f[18..20].copy_from_slice(&(id as u16).to_be_bytes());
            let fo = ((a / 8) as u16) | if more { 0x2000 } else { 0 };
            f[20..22].copy_from_slice(&fo.to_be_bytes());
            let (mut h, _) = etherparse::Ipv4Header::from_slice(&f[14..]).unwrap();
            h.header_checksum = h.calc_header_checksum();
            f[24..26].copy_from_slice(&h.header_checksum.to_be_bytes());
            f.extend_from_slice(piece);
        } else {
            let next = f[14 + 6];
            f[14 + 6] = 44;
            let pl = (8 + piece.len()) as u16;
            f[18..20].copy_from_slice(&pl.to_be_bytes());
            let fo = ((a / 8) as u16) << 3 | u16::from(more);
            f.extend_from_slice(&[next, 0]);
            f.extend_from_slice(&fo.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(piece);
        }
        out.push(f);
    }
    out
}

/// `n` bytes of a fixed pattern (not periodic within 256 bytes).
pub fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
}
