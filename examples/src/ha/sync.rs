//! Connection-sync transport between two directors: the [`lvs_core::director::Director`]'s
//! kernel-format sync messages (lvs-conn's codec, net/netfilter/ipvs/ip_vs_sync.c) carried as
//! UDP datagrams in whole Ethernet + IPv4 frames, because the director speaks raw frames on
//! its TAP.
//!
//! Defaults are the kernel's: multicast group 224.0.0.81 (Ethernet 01:00:5e:00:00:51), UDP
//! port 8848, TTL 1 (`IP_VS_SYNC_GROUP`, `IP_VS_SYNC_PORT`, ip_vs_sync.c
//! `set_mcast_ttl`); `--mcast-group`, `--mcast-port`, `--mcast-ttl` change them. A unicast
//! peer (not a kernel feature; keepalived users ask for it on networks without multicast) is
//! [`SyncTransport::set_unicast_peer`]. Both roles may run at once, as in the kernel
//! (`--start-daemon master` and `--start-daemon backup` on one director).

use std::net::Ipv4Addr;

use lvs_conn::sync::{IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT, IP_VS_SYNC_TTL, SYNC_MAXLEN_IPV4};
use lvs_core::ipvsadm::{DaemonConfig, DaemonState};

/// Ethernet header length, bytes.
const ETH_LEN: usize = 14;
/// IPv4 header length without options, bytes.
const IPV4_LEN: usize = 20;
/// UDP header length, bytes.
const UDP_LEN: usize = 8;
/// Everything before the sync message, bytes.
pub const SYNC_FRAME_OVERHEAD: usize = ETH_LEN + IPV4_LEN + UDP_LEN;

/// Why a sync frame could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncFrameError {
    /// The output buffer cannot hold the frame (`need` bytes).
    #[error("buffer too small for a {need}-byte sync frame")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
    },
    /// The message does not fit one IPv4 datagram (more than 65507 bytes of payload).
    #[error("sync message of {0} bytes does not fit a UDP datagram")]
    TooLong(usize),
}

/// The Ethernet multicast MAC of an IPv4 group (RFC 1112 section 6.4: 01:00:5e + the low 23
/// bits of the group). 224.0.0.81 maps to 01:00:5e:00:00:51.
pub fn ipv4_multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// RFC 1071 one's complement sum over `data` added to `acc` (not folded).
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([*a, *b])));
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// One UDP/IPv4 datagram inside an Ethernet frame, as [`encode_udp_frame`] writes it and
/// [`parse_udp_frame`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination (the group, or a unicast peer).
    pub dst: Ipv4Addr,
    /// UDP source port (host order).
    pub src_port: u16,
    /// UDP destination port (host order).
    pub dst_port: u16,
    /// IPv4 TTL.
    pub ttl: u8,
    /// The UDP payload (the sync message).
    pub payload: &'a [u8],
}

/// Writes `f` as an Ethernet II + IPv4 (no options, DF clear, identification `ip_id`) + UDP
/// frame into `out` with valid IPv4 header and UDP checksums (RFC 791, RFC 768); returns its
/// length in bytes.
///
/// # Errors
/// [`SyncFrameError::BufferTooSmall`], [`SyncFrameError::TooLong`].
pub fn encode_udp_frame(
    f: &UdpFrame<'_>,
    ip_id: u16,
    out: &mut [u8],
) -> Result<usize, SyncFrameError> {
    let udp_len = UDP_LEN + f.payload.len();
    let ip_len = IPV4_LEN + udp_len;
    let total = ETH_LEN + ip_len;
    let ip_len16 = u16::try_from(ip_len).map_err(|_| SyncFrameError::TooLong(f.payload.len()))?;
    let udp_len16 = ip_len16 - IPV4_LEN as u16;
    let out = out
        .get_mut(..total)
        .ok_or(SyncFrameError::BufferTooSmall { need: total })?;
    let (eth, rest) = out.split_at_mut(ETH_LEN);
    eth[..6].copy_from_slice(&f.dst_mac);
    eth[6..12].copy_from_slice(&f.src_mac);
    eth[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let (ip, rest) = rest.split_at_mut(IPV4_LEN);
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&ip_len16.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&[0, 0]);
    ip[8] = f.ttl;
    ip[9] = 17;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&f.src.octets());
    ip[16..20].copy_from_slice(&f.dst.octets());
    let c = fold(sum16(0, ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let (udp, data) = rest.split_at_mut(UDP_LEN);
    udp[0..2].copy_from_slice(&f.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&f.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len16.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    data.copy_from_slice(f.payload);
    // UDP checksum over the pseudo-header (src, dst, zero, 17, UDP length) and the datagram;
    // a computed 0 is sent as 0xffff (RFC 768).
    let mut acc = sum16(0, &f.src.octets());
    acc = sum16(acc, &f.dst.octets());
    acc = acc.wrapping_add(17).wrapping_add(u32::from(udp_len16));
    acc = sum16(acc, udp);
    acc = sum16(acc, data);
    let c = match fold(acc) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

/// Reads an Ethernet II + IPv4 + UDP frame: `None` unless the EtherType is IPv4, the header
/// checksum is valid, the packet is not a fragment, the protocol is UDP and the lengths are
/// consistent. The UDP checksum is not verified (the kernel's sync receiver relies on the
/// socket layer; a corrupted message fails the sync codec's own length checks). Never panics.
pub fn parse_udp_frame(frame: &[u8]) -> Option<UdpFrame<'_>> {
    let eth = frame.get(..ETH_LEN)?;
    if eth.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(ETH_LEN..)?;
    let vihl = *ip.first()?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < IPV4_LEN || *ip.get(9)? != 17 {
        return None;
    }
    if fold(sum16(0, ip.get(..ihl)?)) != 0 {
        return None;
    }
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    if frag & 0x3fff != 0 {
        return None;
    }
    let tot = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let ip = ip.get(..tot)?;
    let udp = ip.get(ihl..)?;
    let ulen = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    if ulen < UDP_LEN {
        return None;
    }
    let payload = udp.get(UDP_LEN..ulen)?;
    let mac = |o: usize| -> Option<[u8; 6]> { eth.get(o..o + 6)?.try_into().ok() };
    let addr = |o: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = ip.get(o..o + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    Some(UdpFrame {
        dst_mac: mac(0)?,
        src_mac: mac(6)?,
        src: addr(12)?,
        dst: addr(16)?,
        src_port: u16::from_be_bytes([*udp.first()?, *udp.get(1)?]),
        dst_port: u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]),
        ttl: *ip.get(8)?,
        payload,
    })
}

/// Counters of a [`SyncTransport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncTransportStats {
    /// Sync frames written (master).
    pub frames_sent: u64,
    /// Sync datagrams accepted for import (backup).
    pub frames_received: u64,
    /// UDP frames to the sync port refused: wrong destination or TTL 0.
    pub frames_ignored: u64,
}

/// The sync daemons' transport state of one director: which roles run (the lvs-core
/// [`DaemonConfig`] of `--start-daemon`, or keepalived's `lvs_sync_daemon`), this director's
/// address and MAC, and the datagram parameters. It only builds and recognises frames; the
/// caller moves messages between it and the Director ([`Director::poll_sync`],
/// [`Director::handle_sync`]), which must be given the same daemon commands.
///
/// [`Director::poll_sync`]: lvs_core::director::Director::poll_sync
/// [`Director::handle_sync`]: lvs_core::director::Director::handle_sync
#[derive(Debug, Clone)]
pub struct SyncTransport {
    local_ip: Ipv4Addr,
    local_mac: [u8; 6],
    master: Option<DaemonConfig>,
    backup: Option<DaemonConfig>,
    unicast_peer: Option<Ipv4Addr>,
    ip_id: u16,
    stats: SyncTransportStats,
}

fn group_of(d: &DaemonConfig) -> Ipv4Addr {
    match d.mcast_group {
        Some(std::net::IpAddr::V4(g)) => g,
        _ => IP_VS_SYNC_GROUP,
    }
}

fn port_of(d: &DaemonConfig) -> u16 {
    if d.mcast_port == 0 {
        IP_VS_SYNC_PORT
    } else {
        d.mcast_port
    }
}

impl SyncTransport {
    /// No daemon running; `local_ip` / `local_mac` are this director's (the DIP on the sync
    /// interface, the frames' source).
    pub fn new(local_ip: Ipv4Addr, local_mac: [u8; 6]) -> Self {
        SyncTransport {
            local_ip,
            local_mac,
            master: None,
            backup: None,
            unicast_peer: None,
            ip_id: 1,
            stats: SyncTransportStats::default(),
        }
    }

    /// `--start-daemon master|backup` (replaces a running daemon of the same role).
    pub fn start(&mut self, d: &DaemonConfig) {
        match d.state {
            DaemonState::Master => self.master = Some(d.clone()),
            DaemonState::Backup => self.backup = Some(d.clone()),
        }
    }

    /// `--stop-daemon master|backup`.
    pub fn stop(&mut self, state: DaemonState) {
        match state {
            DaemonState::Master => self.master = None,
            DaemonState::Backup => self.backup = None,
        }
    }

    /// Send to (and, as backup, accept datagrams addressed to this director from) a unicast
    /// peer instead of the multicast group. `None` restores multicast.
    pub fn set_unicast_peer(&mut self, peer: Option<Ipv4Addr>) {
        self.unicast_peer = peer;
    }

    /// This director's address (the frames' source).
    pub fn local_ip(&self) -> Ipv4Addr {
        self.local_ip
    }

    /// This director's MAC (the frames' source).
    pub fn local_mac(&self) -> [u8; 6] {
        self.local_mac
    }

    /// The running master daemon, if any.
    pub fn master(&self) -> Option<&DaemonConfig> {
        self.master.as_ref()
    }

    /// The running backup daemon, if any.
    pub fn backup(&self) -> Option<&DaemonConfig> {
        self.backup.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> SyncTransportStats {
        self.stats
    }

    /// Buffer size for [`Director::poll_sync`](lvs_core::director::Director::poll_sync): the
    /// master's `sync_maxlen`, or the kernel's IPv4 default [`SYNC_MAXLEN_IPV4`] (1472 bytes).
    pub fn maxlen(&self) -> usize {
        match self.master.as_ref().map(|d| d.sync_maxlen) {
            Some(n) if n > 0 => usize::from(n),
            _ => SYNC_MAXLEN_IPV4,
        }
    }

    /// Where the master sends: the unicast peer, or the group. Returns the IPv4 destination
    /// and, for multicast, the destination MAC (a unicast peer's MAC comes from the caller's
    /// neighbour table). `None` when the master daemon is off.
    pub fn destination(&self) -> Option<(Ipv4Addr, Option<[u8; 6]>)> {
        let d = self.master.as_ref()?;
        Some(match self.unicast_peer {
            Some(p) => (p, None),
            None => {
                let g = group_of(d);
                (g, Some(ipv4_multicast_mac(g)))
            }
        })
    }

    /// Master: wrap sync message `msg` (from `Director::poll_sync`) into a frame for
    /// `dst_mac` (the multicast MAC from [`SyncTransport::destination`], or the peer's) in
    /// `out`; returns the frame length. Source port = destination port (the daemon's port),
    /// TTL = `--mcast-ttl` (default 1).
    ///
    /// # Errors
    /// [`SyncFrameError`]; also `TooLong` when the master daemon is off (nothing to send).
    pub fn encode(
        &mut self,
        msg: &[u8],
        dst_mac: [u8; 6],
        out: &mut [u8],
    ) -> Result<usize, SyncFrameError> {
        let (dst, _) = self
            .destination()
            .ok_or(SyncFrameError::TooLong(msg.len()))?;
        let d = self
            .master
            .as_ref()
            .ok_or(SyncFrameError::TooLong(msg.len()))?;
        let port = port_of(d);
        let ttl = if d.mcast_ttl == 0 {
            IP_VS_SYNC_TTL
        } else {
            d.mcast_ttl
        };
        let f = UdpFrame {
            dst_mac,
            src_mac: self.local_mac,
            src: self.local_ip,
            dst,
            src_port: port,
            dst_port: port,
            ttl,
            payload: msg,
        };
        let n = encode_udp_frame(&f, self.ip_id, out)?;
        self.ip_id = self.ip_id.wrapping_add(1);
        self.stats.frames_sent += 1;
        Ok(n)
    }

    /// Backup: true when [`SyncTransport::accept`] may take `frame` (a UDP datagram to the
    /// backup daemon's port; the address checks are not made). Counts nothing.
    pub fn may_accept(&self, frame: &[u8]) -> bool {
        self.backup
            .as_ref()
            .is_some_and(|d| parse_udp_frame(frame).is_some_and(|u| u.dst_port == port_of(d)))
    }

    /// Backup: the sync message inside `frame` when it is a UDP datagram for the backup
    /// daemon (destination the group or, with a unicast peer, this director; destination
    /// port the daemon's; not sent by this director itself), else `None`. Frames that reach
    /// the sync port but fail the address checks are counted in
    /// [`SyncTransportStats::frames_ignored`].
    pub fn accept<'a>(&mut self, frame: &'a [u8]) -> Option<&'a [u8]> {
        let d = self.backup.as_ref()?;
        let u = parse_udp_frame(frame)?;
        if u.dst_port != port_of(d) {
            return None;
        }
        let to_us = match self.unicast_peer {
            Some(_) => u.dst == self.local_ip,
            None => u.dst == group_of(d),
        };
        if !to_us || u.src == self.local_ip || u.ttl == 0 {
            self.stats.frames_ignored += 1;
            return None;
        }
        self.stats.frames_received += 1;
        Some(u.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn daemon(state: DaemonState) -> DaemonConfig {
        DaemonConfig {
            state,
            mcast_ifn: "eth0".into(),
            syncid: 7,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    #[test]
    fn multicast_mac_of_the_sync_group_is_01_00_5e_00_00_51() {
        // RFC 1112 6.4: 01-00-5E-00-00-00 + low 23 bits of the group.
        assert_eq!(
            ipv4_multicast_mac(IP_VS_SYNC_GROUP),
            [1, 0, 0x5e, 0, 0, 0x51]
        );
        assert_eq!(
            ipv4_multicast_mac(Ipv4Addr::new(239, 200, 1, 2)),
            [1, 0, 0x5e, 0x48, 1, 2]
        );
    }

    #[test]
    fn master_frame_is_kernel_default_udp_checked_by_etherparse() {
        let mut t = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        t.start(&daemon(DaemonState::Master));
        let (dst, mac) = t.destination().unwrap();
        assert_eq!(dst, Ipv4Addr::new(224, 0, 0, 81));
        let msg = b"\x00\x07\x00\x0bhello-sync";
        let mut buf = [0u8; 1600];
        let n = t.encode(msg, mac.unwrap(), &mut buf).unwrap();
        let p = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let h = ip.header();
        assert_eq!(h.ttl(), 1, "IP_VS_SYNC_TTL");
        assert_eq!(h.destination(), [224, 0, 0, 81]);
        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
        let Some(TransportSlice::Udp(udp)) = &p.transport else {
            panic!("not UDP")
        };
        assert_eq!(udp.destination_port(), 8848);
        assert_eq!(udp.payload(), msg);
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&h.to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), want);
        assert_eq!(&buf[..6], &[1, 0, 0x5e, 0, 0, 0x51]);
    }

    #[test]
    fn backup_accepts_group_datagrams_on_its_port_only() {
        let mut m = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        let mut b = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 3), [2, 0, 0, 0, 0, 3]);
        let mut md = daemon(DaemonState::Master);
        md.mcast_port = 9000;
        m.start(&md);
        b.start(&daemon(DaemonState::Backup));
        let mut buf = [0u8; 200];
        let n = m
            .encode(b"abcd", [1, 0, 0x5e, 0, 0, 0x51], &mut buf)
            .unwrap();
        assert_eq!(
            b.accept(&buf[..n]),
            None,
            "port 9000 is not the backup's 8848"
        );
        // may_accept (the batch loop's hint) is false when accept cannot take the frame for
        // its port, or without a backup daemon, and counts nothing.
        assert!(!b.may_accept(&buf[..n]));
        assert!(!m.may_accept(&buf[..n]), "no backup daemon");
        let mut bd = daemon(DaemonState::Backup);
        bd.mcast_port = 9000;
        b.start(&bd);
        let before = b.stats();
        assert!(b.may_accept(&buf[..n]));
        assert_eq!(b.stats(), before);
        assert_eq!(b.accept(&buf[..n]), Some(&b"abcd"[..]));
        // Its own frames (both roles at once) are not imported.
        b.start(&md);
        let n = b
            .encode(b"self", [1, 0, 0x5e, 0, 0, 0x51], &mut buf)
            .unwrap();
        assert_eq!(b.accept(&buf[..n]), None);
        assert_eq!(b.stats().frames_ignored, 1);
    }

    #[test]
    fn unicast_peer_replaces_the_group() {
        let mut m = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        m.start(&daemon(DaemonState::Master));
        m.set_unicast_peer(Some(Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(m.destination(), Some((Ipv4Addr::new(10, 0, 0, 3), None)));
        let mut buf = [0u8; 200];
        let n = m.encode(b"x", [2, 0, 0, 0, 0, 3], &mut buf).unwrap();
        let mut b = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 3), [2, 0, 0, 0, 0, 3]);
        b.start(&daemon(DaemonState::Backup));
        assert_eq!(
            b.accept(&buf[..n]),
            None,
            "multicast backup ignores unicast"
        );
        b.set_unicast_peer(Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(b.accept(&buf[..n]), Some(&b"x"[..]));
    }

    #[test]
    fn parse_rejects_truncated_and_bad_checksum_frames() {
        let mut m = SyncTransport::new(Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
        m.start(&daemon(DaemonState::Master));
        let mut buf = [0u8; 200];
        let n = m.encode(b"payload", [0; 6], &mut buf).unwrap();
        for cut in 0..n {
            let _ = parse_udp_frame(&buf[..cut]);
        }
        assert!(
            parse_udp_frame(&buf[..n - 1]).is_none(),
            "IP total length beyond the frame"
        );
        buf[14 + 8] ^= 1; // TTL changed, header checksum now wrong
        assert!(parse_udp_frame(&buf[..n]).is_none());
    }
}
