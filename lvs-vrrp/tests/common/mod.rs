//! Helpers shared by the integration tests: an independent RFC 1071 checksum and a minimal
//! pcap reader (classic libpcap format, either byte order).
#![allow(dead_code, unreachable_pub)]

/// RFC 1071 one's complement sum of `parts` concatenated, folded and inverted. Written from the
/// RFC independently of the crate's own implementation.
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    if all.len() % 2 == 1 {
        all.push(0);
    }
    let mut s: u32 = 0;
    for w in all.chunks(2) {
        s += u32::from(w[0]) << 8 | u32::from(w[1]);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Frames of a classic pcap file (magic a1b2c3d4 in either byte order), link type returned too.
pub fn read_pcap(bytes: &[u8]) -> (u32, Vec<Vec<u8>>) {
    let (linktype, frames) = read_pcap_ts(bytes);
    (linktype, frames.into_iter().map(|(_, f)| f).collect())
}

/// As [`read_pcap`], with each frame's timestamp in microseconds.
pub fn read_pcap_ts(bytes: &[u8]) -> (u32, Vec<(u64, Vec<u8>)>) {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 => true,
        0xd4c3_b2a1 => false,
        m => panic!("not a classic pcap file: magic {m:#x}"),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd(&bytes[20..24]);
    let mut off = 24;
    let mut frames = Vec::new();
    while off + 16 <= bytes.len() {
        let ts = u64::from(rd(&bytes[off..off + 4])) * 1_000_000
            + u64::from(rd(&bytes[off + 4..off + 8]));
        let incl = rd(&bytes[off + 8..off + 12]) as usize;
        off += 16;
        frames.push((ts, bytes[off..off + incl].to_vec()));
        off += incl;
    }
    assert_eq!(off, bytes.len(), "trailing bytes in pcap");
    (linktype, frames)
}

use std::net::{IpAddr, Ipv4Addr};

use lvs_vrrp::wire::{self, AdvertRepr, ChecksumForm, IpMeta, Version};
use lvs_vrrp::{Transmit, VrrpConfig, VrrpInstance};

pub const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 200));
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 101));
pub const PEER_HI: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 102));
pub const PEER_LO: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 56, 100));
pub const MCAST: IpAddr = IpAddr::V4(wire::MCAST_V4);
pub const SEC: u64 = 1_000_000;

/// The seeds' VI_1 (keepalived.conf in shared/seeds/000): VRID 51, VIP 192.168.56.200.
pub fn cfg(priority: u8) -> VrrpConfig {
    VrrpConfig {
        name: "VI_1".into(),
        interface: "enp0s8".into(),
        interface_addr: LOCAL,
        interface_mac: [0x08, 0x00, 0x27, 0, 0, 0x01],
        virtual_router_id: 51,
        priority,
        virtual_ipaddress: vec![VIP],
        ..VrrpConfig::default()
    }
}

/// An advert from `src` as the peer would send it (VRRP payload only).
pub fn advert(version: Version, vrid: u8, priority: u8, adver_int: u16, src: IpAddr) -> Vec<u8> {
    advert_with(
        version,
        vrid,
        priority,
        adver_int,
        src,
        MCAST,
        &[VIP],
        0,
        [0; 8],
    )
}

#[allow(clippy::too_many_arguments)]
pub fn advert_with(
    version: Version,
    vrid: u8,
    priority: u8,
    adver_int: u16,
    src: IpAddr,
    dst: IpAddr,
    addrs: &[IpAddr],
    auth_type: u8,
    auth_data: [u8; 8],
) -> Vec<u8> {
    let repr = AdvertRepr {
        version,
        vrid,
        priority,
        adver_int,
        auth_type,
        auth_data,
        addrs,
    };
    let mut buf = vec![0u8; 4200];
    let n = wire::encode_payload(&repr, src, dst, ChecksumForm::PseudoHeader, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub fn meta(src: IpAddr) -> IpMeta {
    IpMeta {
        src,
        dst: MCAST,
        ttl: 255,
    }
}

/// Drain every transmit; returns them with their frames.
pub fn drain(vr: &mut VrrpInstance) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; wire::MAX_FRAME_LEN];
    while let Some(t) = vr.poll_transmit(&mut buf) {
        let len = t.frame_len();
        out.push((t, buf[..len].to_vec()));
    }
    out
}

/// Priorities of the adverts among `tx`.
pub fn advert_prios(tx: &[(Transmit, Vec<u8>)]) -> Vec<u8> {
    tx.iter()
        .filter_map(|(t, _)| match t {
            Transmit::Advert { priority, .. } => Some(*priority),
            _ => None,
        })
        .collect()
}
