//! Interoperability of lvs-vrrp with real keepalived 2.2.7 (issue 7), root only.
//!
//! Topology (private 10.77.v.0/24 inside test namespaces only):
//!
//! ```text
//!  ns "ka": keepalived, eth0 10.77.v.2/24 ──veth── p0 ┐
//!                                                     br0 (ns "lan")
//!  this process: lvs-vrrp, speaks frames ──── TAP ────┘   (our address 10.77.v.3, MAC 02:00:00:77:v:03)
//! ```
//!
//! (IPv6: keepalived's source is its eth0 link-local address, ours fe80::77:6:3.)
//!
//! keepalived runs VRRP-only in its namespace; one `lvs_vrrp::VrrpInstance` is driven by the
//! harness over the TAP in real time (read frames until `poll_timeout()`, feed VRRP frames to
//! `handle_frame`, call `handle_timeout`, drain `poll_transmit` to the TAP, drain
//! `poll_event`). keepalived's role is read from the wire (it is master iff it sends adverts;
//! it sends gratuitous ARPs / NAs on becoming master) and from its own statistics and data dumps
//! (SIGUSR2 / SIGUSR1); ours from `poll_event` and `state()`. Our frames are also decoded
//! independently of lvs-vrrp (etherparse + an RFC 1071 checksum written here).
//!
//! Scenarios (a)-(e), each for VRRPv2 (advert_int 1 s), VRRPv3 over IPv4 (advert_int 0.5 s
//! = 50 cs) and VRRPv3 over IPv6 (VIP fd77:6::100/64, advert sources link-local, unsolicited
//! NAs instead of gratuitous ARPs):
//! (a) keepalived 150 vs ours 100: keepalived master, ours backup and accepting its adverts;
//! (b) keepalived stopped by SIGTERM sends priority 0: ours master after Skew_Time;
//! (c) keepalived restarted at 200 preempts: ours back to backup at its first advert;
//! (d) ours 200 vs keepalived 100: ours master, keepalived backup, silent, accepting ours;
//! (e) our shutdown sends priority 0: keepalived master after its Skew_Time;
//! (f) v3 only: keepalived advertising every 10 cs crashes (SIGSTOP + SIGKILL, no priority 0):
//!     ours, configured with 50 cs, takes over after the Master_Down_Interval computed from the
//!     Master_Adver_Interval it learnt from keepalived;
//! (g) v2 only: keepalived's `auth_type PASS`: the same password is accepted both ways, a
//!     different one is rejected both ways (both end up MASTER, counted as auth failures);
//! (h) v3 only: different VIP sets are rejected both ways (address-list errors, both MASTER);
//! (i) v3 only: equal priority and `nopreempt` keep a Backup a Backup, on both sides;
//! (j) v3 only: a one-way partition (keepalived does not hear us) makes both master; when it
//!     heals, ours answers keepalived's lower-priority advert at once and keepalived yields;
//! (k) v3 only: unicast peers (`unicast_src_ip`, `unicast_peer`) both ways.
//!
//! Not root: prints the skip line and passes. Root without keepalived: fails (CI installs it).

use etherparse::{ArpEthIpv4Packet, ArpOperation, EtherType, NetSlice, SlicedPacket};
use lvs_examples::netns::keepalived::{self, Keepalived, KeepalivedConf, KeepalivedStats};
use lvs_examples::netns::{self, Lan, Netns, Tap, TempDir};
use lvs_vrrp::{
    AuthType, Authentication, DropReason, Event, State, Transmit, Version, VrrpConfig,
    VrrpInstance, wire,
};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The VRID both sides use.
const VRID: u8 = 77;

/// Scheduling slack allowed on top of a protocol timer (a loaded CI machine).
const SLACK: Duration = Duration::from_millis(300);

/// One version's (and family's) parameters.
#[derive(Clone, Copy, Debug)]
struct Params {
    version: u8,
    /// VRRPv3 over IPv6 (VIP fd77:x::100/64, sources link-local) instead of IPv4.
    ipv6: bool,
    /// Third octet of the test subnet 10.77.x.0/24.
    subnet: u8,
    /// keepalived's `advert_int` text.
    ka_advert_int: &'static str,
    /// The same interval.
    advert_int: Duration,
}

const V2: Params = Params {
    version: 2,
    ipv6: false,
    subnet: 2,
    ka_advert_int: "1",
    advert_int: Duration::from_secs(1),
};

const V3: Params = Params {
    version: 3,
    ipv6: false,
    subnet: 3,
    ka_advert_int: "0.5",
    advert_int: Duration::from_millis(500),
};

/// VRRPv3 at 0.2 s (20 cs), for the scenarios that need not be slow: each interval-bound wait
/// is 2.5 times shorter, while Master_Down_Interval (>= 0.6 s) still dwarfs scheduling jitter.
const V3_FAST: Params = Params {
    version: 3,
    ipv6: false,
    subnet: 5,
    ka_advert_int: "0.2",
    advert_int: Duration::from_millis(200),
};

const V3_IPV6: Params = Params {
    version: 3,
    ipv6: true,
    subnet: 6,
    ka_advert_int: "0.2",
    advert_int: Duration::from_millis(200),
};

impl Params {
    /// keepalived's IPv4 address (its advert source for IPv4; for IPv6 its eth0 link-local
    /// address is, found at run time).
    fn ka_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, 2)
    }
    /// Our advert source: 10.77.x.3, or the link-local fe80::77:x:3 (RFC 9568 5.1.2.1: the
    /// IPv6 source is the interface's link-local address).
    fn our_ip(&self) -> IpAddr {
        if self.ipv6 {
            IpAddr::V6(Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0x77,
                u16::from(self.subnet),
                3,
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 77, self.subnet, 3))
        }
    }
    /// The VIP: 10.77.x.100 or fd77:x::100.
    fn vip(&self) -> IpAddr {
        if self.ipv6 {
            IpAddr::V6(Ipv6Addr::new(
                0xfd77,
                u16::from(self.subnet),
                0,
                0,
                0,
                0,
                0,
                0x100,
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 77, self.subnet, 100))
        }
    }
    fn vip_cidr(&self) -> String {
        format!("{}/{}", self.vip(), if self.ipv6 { 64 } else { 24 })
    }
    fn our_mac(&self) -> [u8; 6] {
        [0x02, 0x00, 0x00, 0x77, self.subnet, 0x03]
    }
    fn ka_conf(&self, priority: u8) -> KeepalivedConf {
        KeepalivedConf {
            advert_int: self.ka_advert_int.into(),
            version: self.version,
            ..KeepalivedConf::new(VRID, priority, &self.vip_cidr())
        }
    }
    fn our_conf(&self, priority: u8) -> VrrpConfig {
        VrrpConfig {
            interface: "tap".into(),
            interface_addr: self.our_ip(),
            interface_mac: self.our_mac(),
            virtual_router_id: VRID,
            priority,
            advert_int: self.advert_int,
            version: Some(if self.version == 2 {
                Version::V2
            } else {
                Version::V3
            }),
            virtual_ipaddress: vec![self.vip()],
            // keepalived's second GARP burst is at 1 s here too (KeepalivedConf::new).
            garp_master_delay: Duration::from_secs(1),
            ..VrrpConfig::default()
        }
    }
    /// Skew_Time for `priority` against a master advertising at this interval: v2
    /// (256 - Priority) / 256 s (RFC 3768 6.1); v3 ((256 - Priority) * Master_Adver_Interval)
    /// / 256 cs (RFC 9568 6.1).
    fn skew(&self, priority: u8) -> Duration {
        let unit = if self.version == 2 {
            Duration::from_secs(1)
        } else {
            self.advert_int
        };
        unit.mul_f64(f64::from(256 - u32::from(priority)) / 256.0)
    }
    /// Master_Down_Interval = 3 * interval + Skew_Time (RFC 3768 6.1, RFC 9568 6.1).
    fn master_down(&self, priority: u8) -> Duration {
        self.advert_int * 3 + self.skew(priority)
    }
}

/// A VRRP advert seen on the TAP, decoded by hand (RFC 3768 5.1 / RFC 9568 5.1: byte 0
/// version << 4 | type, byte 1 VRID, byte 2 priority).
#[derive(Clone, Copy, Debug)]
struct SeenAdvert {
    at: Instant,
    version: u8,
    vrid: u8,
    priority: u8,
    ttl: u8,
    /// IP destination (224.0.0.18 / ff02::12, or our address in unicast mode).
    dst: IpAddr,
}

/// RFC 1071 Internet checksum of `chunks` concatenated (each of even length but the last).
fn inet_checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for b in chunks.iter().flat_map(|c| c.iter().copied()) {
        match odd.take() {
            None => odd = Some(b),
            Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checks one of our adverts independently of lvs-vrrp (etherparse for the headers, the
/// VRRP fields by hand): IPv4 TTL / IPv6 hop limit 255 (RFC 3768 5.2.3, RFC 9568 5.1.1.3 /
/// 5.1.2.3) to 224.0.0.18 / ff02::12 from our address, protocol 112; VRRP version, type 1,
/// VRID, count 1, our VIP, interval, and the checksum: v2 over the message (RFC 3768 5.3.8), v3
/// over the pseudo-header + message (RFC 5798 5.2.8; for IPv4 that is what keepalived 2.2.7
/// sends and checks, RFC 9568 dropped the IPv4 pseudo-header).
/// `unicast`: the peer's address and MAC when the advert is unicast (keepalived's
/// `unicast_peer`; the pseudo-header then holds the peer's address, as keepalived computes it).
fn check_our_advert(
    p: &Params,
    frame: &[u8],
    priority: u8,
    pass: Option<&str>,
    vip: IpAddr,
    unicast: Option<(IpAddr, [u8; 6])>,
) {
    let sliced = SlicedPacket::from_ethernet(frame).expect("our advert parses");
    assert_eq!(frame[6..12], p.our_mac(), "source MAC");
    let dst_ip = unicast.map_or(
        if p.ipv6 {
            IpAddr::V6(wire::MCAST_V6)
        } else {
            IpAddr::V4(wire::MCAST_V4)
        },
        |(ip, _)| ip,
    );
    let dst_mac = unicast.map_or(
        if p.ipv6 {
            wire::MCAST_MAC_V6
        } else {
            wire::MCAST_MAC_V4
        },
        |(_, mac)| mac,
    );
    assert_eq!(frame[..6], dst_mac, "destination MAC");
    let (m, pseudo) = match (&sliced.net, p.our_ip()) {
        (Some(NetSlice::Ipv4(ip)), IpAddr::V4(src)) => {
            let h = ip.header();
            assert_eq!(h.ttl(), 255, "TTL 255");
            assert_eq!(h.protocol().0, 112);
            assert_eq!(h.source(), src.octets());
            assert_eq!(IpAddr::V4(h.destination_addr()), dst_ip);
            let m = ip.payload().payload;
            let len = u16::try_from(m.len()).unwrap().to_be_bytes();
            let pseudo = [&h.source()[..], &h.destination()[..], &[0, 112], &len[..]].concat();
            (m, pseudo)
        }
        (Some(NetSlice::Ipv6(ip)), IpAddr::V6(src)) => {
            let h = ip.header();
            assert_eq!(h.hop_limit(), 255, "hop limit 255");
            assert_eq!(h.next_header().0, 112);
            assert_eq!(h.source(), src.octets());
            assert_eq!(IpAddr::V6(h.destination_addr()), dst_ip);
            let m = ip.payload().payload;
            // RFC 8200 8.1: source, destination, 32-bit upper-layer length, 3 zero bytes,
            // next header.
            let len = u32::try_from(m.len()).unwrap().to_be_bytes();
            let pseudo = [
                &h.source()[..],
                &h.destination()[..],
                &len[..],
                &[0, 0, 0, 112],
            ]
            .concat();
            (m, pseudo)
        }
        (net, src) => panic!("our advert from {src} is {net:?}"),
    };
    assert_eq!(m[0], p.version << 4 | 1, "version/type");
    assert_eq!(m[1], VRID);
    assert_eq!(m[2], priority);
    assert_eq!(m[3], 1, "count");
    let vip = match vip {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    if p.version == 2 {
        assert_eq!(m.len(), 8 + 4 + 8, "v2 length with auth data");
        assert_eq!(u64::from(m[5]), p.advert_int.as_secs(), "Adver Int s");
        assert_eq!(m[8..12], vip);
        // Auth Type 0 with zero Authentication Data (RFC 3768 5.3.6, 5.3.10), or keepalived's
        // PASS: type 1, the password zero-padded to 8 bytes.
        let mut data = [0u8; 8];
        for (d, b) in data.iter_mut().zip(pass.unwrap_or("").bytes()) {
            *d = b;
        }
        assert_eq!(m[4], u8::from(pass.is_some()), "auth type");
        assert_eq!(m[12..20], data, "authentication data");
        assert_eq!(inet_checksum(&[m]), 0, "v2 checksum over the message");
    } else {
        assert_eq!(m.len(), 8 + vip.len(), "v3 length");
        let mai = u16::from_be_bytes([m[4], m[5]]) & 0x0fff;
        assert_eq!(
            u128::from(mai) * 10,
            p.advert_int.as_millis(),
            "Max Adver Int cs"
        );
        assert_eq!(m[8..], vip[..]);
        assert_eq!(
            inet_checksum(&[&pseudo, m]),
            0,
            "v3 checksum with pseudo-header"
        );
    }
}

/// The test process's side: the TAP, our instance, and what was seen.
struct Harness {
    p: Params,
    /// keepalived's advert source address.
    ka_src: IpAddr,
    /// keepalived's eth0 MAC.
    ka_mac: [u8; 6],
    /// Our instance sends unicast adverts to keepalived.
    our_unicast: bool,
    tap: Tap,
    t0: Instant,
    ours: Option<VrrpInstance>,
    buf: Vec<u8>,
    /// keepalived's adverts seen on the TAP.
    ka_adverts: Vec<SeenAdvert>,
    /// keepalived's gratuitous ARPs for the VIP seen on the TAP.
    ka_garps: Vec<Instant>,
    /// Our adverts (time, priority) as written to the TAP.
    our_adverts: Vec<(Instant, u8)>,
    /// Our gratuitous ARPs written to the TAP.
    our_garps: Vec<Instant>,
    /// Our state changes.
    our_changes: Vec<(Instant, State)>,
    /// Frames our instance dropped, with the reason.
    our_drops: Vec<String>,
    /// Our `auth_pass`, if any.
    our_pass: Option<String>,
    /// Our (single) VIP.
    our_vip: IpAddr,
    /// While set, our transmissions are discarded (a one-way partition: we hear keepalived,
    /// it does not hear us).
    muted: bool,
    /// Frames discarded while muted.
    muted_frames: u64,
    /// Unmute when the next advert of keepalived arrives, before our instance handles it.
    heal_on_ka_advert: bool,
    /// Our events other than state changes.
    our_other_events: Vec<(Instant, Event)>,
    trace: String,
}

impl Harness {
    fn new(p: Params, tap: Tap, ka_src: IpAddr, ka_mac: [u8; 6]) -> Harness {
        Harness {
            p,
            ka_src,
            ka_mac,
            our_unicast: false,
            tap,
            t0: Instant::now(),
            ours: None,
            buf: vec![0; wire::MAX_FRAME_LEN],
            ka_adverts: Vec::new(),
            ka_garps: Vec::new(),
            our_adverts: Vec::new(),
            our_garps: Vec::new(),
            our_changes: Vec::new(),
            our_drops: Vec::new(),
            our_pass: None,
            our_vip: p.vip(),
            muted: false,
            muted_frames: 0,
            heal_on_ka_advert: false,
            our_other_events: Vec::new(),
            trace: String::new(),
        }
    }

    fn micros(&self, t: Instant) -> u64 {
        u64::try_from(t.duration_since(self.t0).as_micros()).unwrap()
    }

    fn note(&mut self, what: impl AsRef<str>) {
        let ms = self.t0.elapsed().as_millis();
        let _ = writeln!(self.trace, "{ms:>7} ms  {}", what.as_ref());
    }

    /// Starts our instance (Startup event at now).
    fn start_ours(&mut self, priority: u8) {
        self.start_ours_with(self.p.our_conf(priority));
    }

    /// Starts our instance with `conf`.
    fn start_ours_with(&mut self, conf: VrrpConfig) {
        let now = self.micros(Instant::now());
        let priority = conf.priority;
        self.our_pass = conf.authentication.as_ref().map(|a| a.auth_pass.clone());
        self.our_unicast = !conf.unicast_peer.is_empty();
        self.our_vip = match conf.virtual_ipaddress.as_slice() {
            [v] => *v,
            other => panic!("the harness checks one VIP, not {other:?}"),
        };
        let inst = VrrpInstance::new(conf, now).expect("our config is valid");
        self.note(format!(
            "ours started, priority {priority}, {:?}",
            inst.state()
        ));
        self.ours = Some(inst);
        self.flush();
    }

    fn ours(&self) -> &VrrpInstance {
        self.ours.as_ref().expect("our instance runs")
    }

    fn our_state(&self) -> State {
        self.ours().state()
    }

    /// Our shutdown (priority 0 if master); returns when the frames are written.
    fn shutdown_ours(&mut self) -> Instant {
        let now = Instant::now();
        let us = self.micros(now);
        if let Some(o) = self.ours.as_mut() {
            o.shutdown(us);
        }
        self.note("ours shutdown");
        self.flush();
        now
    }

    /// Drains our transmissions to the TAP and our events into the record.
    fn flush(&mut self) {
        let Some(inst) = self.ours.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(t) = inst.poll_transmit(&mut self.buf) {
            let (len, what) = match t {
                Transmit::Advert {
                    priority,
                    len,
                    dst,
                    dst_mac,
                    ..
                } => {
                    if dst_mac.is_none() {
                        // Unicast: the caller writes the peer's MAC (its neighbour table).
                        assert_eq!(dst, self.ka_src, "unicast advert to keepalived");
                        self.buf[..6].copy_from_slice(&self.ka_mac);
                    }
                    (len, Some(priority))
                }
                Transmit::GratuitousArp { len, .. } | Transmit::UnsolicitedNa { len, .. } => {
                    (len, None)
                }
                other => panic!("unexpected transmit: {other:?}"),
            };
            out.push((self.buf[..len].to_vec(), what));
        }
        let mut events = Vec::new();
        while let Some(e) = inst.poll_event() {
            events.push(e);
        }
        let now = Instant::now();
        for (frame, prio) in out {
            if self.muted {
                self.note(format!("ours -> (muted) {prio:?}"));
                self.muted_frames += 1;
                continue;
            }
            self.tap.send(&frame).expect("TAP write");
            match prio {
                Some(prio) => {
                    check_our_advert(
                        &self.p,
                        &frame,
                        prio,
                        self.our_pass.as_deref(),
                        self.our_vip,
                        self.our_unicast.then_some((self.ka_src, self.ka_mac)),
                    );
                    self.our_adverts.push((now, prio));
                    self.note(format!("ours -> advert prio {prio}"));
                }
                None => {
                    self.our_garps.push(now);
                }
            }
        }
        for e in events {
            if let Event::StateChange {
                from,
                to,
                reason,
                priority,
            } = e
            {
                self.note(format!(
                    "ours {from:?} -> {to:?} ({reason:?}, prio {priority})"
                ));
                self.our_changes.push((now, to));
            } else {
                self.note(format!("ours event {e:?}"));
                self.our_other_events.push((now, e));
            }
        }
    }

    /// One frame from the TAP: keepalived's VRRP adverts (recorded, then fed to our instance
    /// as a driver reading protocol 112 would), its gratuitous ARPs / unsolicited NAs for the
    /// VIP (recorded).
    fn on_frame(&mut self, frame: &[u8], at: Instant) {
        let Ok(sliced) = SlicedPacket::from_ethernet(frame) else {
            return;
        };
        let (src, dst, hops, proto, m): (IpAddr, IpAddr, u8, u8, &[u8]) = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
                ip.header().ttl(),
                ip.payload().ip_number.0,
                ip.payload().payload,
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
                ip.header().hop_limit(),
                ip.payload().ip_number.0,
                ip.payload().payload,
            ),
            Some(NetSlice::Arp(arp)) => {
                let Ok(arp) = arp.to_packet().try_eth_ipv4() else {
                    return;
                };
                // Answer ARP for our address (keepalived's kernel resolves it to send unicast
                // adverts; RFC 826 reply).
                if arp.operation == ArpOperation::REQUEST
                    && IpAddr::V4(arp.target_ipv4_addr()) == self.p.our_ip()
                {
                    let reply = ArpEthIpv4Packet {
                        operation: ArpOperation::REPLY,
                        sender_mac: self.p.our_mac(),
                        sender_ipv4: arp.target_ipv4,
                        target_mac: arp.sender_mac,
                        target_ipv4: arp.sender_ipv4,
                    };
                    let mut out = Vec::with_capacity(42);
                    out.extend_from_slice(&arp.sender_mac);
                    out.extend_from_slice(&self.p.our_mac());
                    out.extend_from_slice(&EtherType::ARP.0.to_be_bytes());
                    out.extend_from_slice(&reply.to_bytes());
                    self.tap.send(&out).expect("TAP write");
                    self.note("ours -> ARP reply");
                    return;
                }
                let vip = self.p.vip();
                if arp.operation == ArpOperation::REQUEST
                    && IpAddr::V4(arp.sender_ipv4_addr()) == vip
                    && IpAddr::V4(arp.target_ipv4_addr()) == vip
                    && arp.sender_mac != self.p.our_mac()
                {
                    self.note("ka -> gratuitous ARP");
                    self.ka_garps.push(at);
                }
                return;
            }
            None => return,
        };
        // ICMPv6 Neighbor Advertisement (type 136) for the VIP: target at bytes 8..24
        // (RFC 4861 4.4).
        // (keepalived 2.2.7 sends it from the VIP itself, flags O only; ours from the link-local
        // address with R and O, RFC 9568 6.4.2.) The bridge does not return our own frames.
        if proto == 58 && m.first() == Some(&136) {
            if m.get(8..24).and_then(|t| <[u8; 16]>::try_from(t).ok())
                == Some(match self.p.vip() {
                    IpAddr::V6(v) => v.octets(),
                    IpAddr::V4(_) => [0; 16],
                })
            {
                self.note("ka -> unsolicited NA");
                self.ka_garps.push(at);
            }
            return;
        }
        if proto != 112 {
            return;
        }
        if src != self.ka_src || m.len() < 8 {
            self.note(format!("unexpected VRRP frame {frame:02x?}"));
            return;
        }
        let seen = SeenAdvert {
            at,
            version: m[0] >> 4,
            vrid: m[1],
            priority: m[2],
            ttl: hops,
            dst,
        };
        self.note(format!(
            "ka -> advert v{} prio {}",
            seen.version, seen.priority
        ));
        self.ka_adverts.push(seen);
        if self.heal_on_ka_advert {
            self.heal_on_ka_advert = false;
            self.muted = false;
            self.note("partition healed");
        }
        let us = self.micros(at);
        if let Some(o) = self.ours.as_mut()
            && let Err(e) = o.handle_frame(us, frame)
        {
            let s = format!("{e} ({e:?}) on {frame:02x?}");
            self.note(format!("ours dropped: {s}"));
            self.our_drops.push(s);
        }
    }

    /// Runs the loop until `done` holds (checked after every input) or `timeout` passes;
    /// returns whether `done` held.
    fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&Harness) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush();
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let mut wake = deadline;
            if let Some(t) = self.ours.as_ref().and_then(VrrpInstance::poll_timeout) {
                wake = wake.min(self.t0 + Duration::from_micros(t));
            }
            // Wake at least every 50 ms so `done` may poll outside state (dump files).
            let wait = wake
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            if let Some(frame) = self.tap.recv(wait).expect("TAP read") {
                let at = Instant::now();
                self.on_frame(&frame, at);
                // Drain what else is queued before timers.
                while let Ok(Some(frame)) = self.tap.try_recv() {
                    self.on_frame(&frame, Instant::now());
                }
            }
            let now = Instant::now();
            let us = self.micros(now);
            if let Some(o) = self.ours.as_mut()
                && o.poll_timeout().is_some_and(|t| t <= us)
            {
                o.handle_timeout(us);
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// keepalived's clean stop (SIGTERM: priority 0 if master), keeping our instance running
    /// until keepalived has exited (about one second).
    fn stop_ka(&mut self, ka: &mut Keepalived) {
        ka.request_stop().expect("SIGTERM to keepalived");
        let exited = self.run_until(Duration::from_secs(5), |_| ka.has_exited());
        assert!(
            exited,
            "keepalived still runs 5 s after SIGTERM; log:\n{}",
            ka.log()
        );
    }

    /// keepalived started at `since` while ours is master with a higher priority (or it has
    /// `nopreempt`): ours must still be master, keepalived must have sent no advert since,
    /// be BACKUP by its own data dump, and have accepted at least 3 of our adverts without
    /// counting an error or ever becoming master. Returns its statistics.
    fn assert_ka_silent_backup(&mut self, ka: &mut Keepalived, since: Instant) -> KeepalivedStats {
        assert_eq!(self.our_state(), State::Master, "ours stays master");
        let sent: Vec<_> = self.ka_adverts_since(since).copied().collect();
        assert!(
            sent.is_empty(),
            "keepalived advertised while ours is master: {sent:?}; log:\n{}",
            ka.log()
        );
        assert_eq!(self.ka_state(ka), "BACKUP", "keepalived's own state");
        let ks = self.ka_stats(ka);
        assert!(
            ks.adverts_received >= 3,
            "keepalived accepted our adverts:\n{}",
            ks.text
        );
        assert_eq!(ks.errors, 0, "keepalived counted errors:\n{}", ks.text);
        assert_eq!(ks.became_master, 0, "{}", ks.text);
        assert_eq!(ks.adverts_sent, 0, "{}", ks.text);
        ks
    }

    /// Keeps our instance running until keepalived's instance has started.
    fn wait_ka_started(&mut self, ka: &Keepalived) {
        let ok = self.run_until(Duration::from_secs(5), |_| ka.started());
        assert!(
            ok,
            "keepalived did not start within 5 s; log:\n{}",
            ka.log()
        );
    }

    /// keepalived's statistics, keeping our instance running while keepalived writes them.
    fn ka_stats(&mut self, ka: &mut Keepalived) -> KeepalivedStats {
        ka.request_stats().expect("SIGUSR2 to keepalived");
        let mut got = None;
        self.run_until(Duration::from_secs(3), |_| {
            got = ka.try_stats();
            got.is_some()
        });
        got.unwrap_or_else(|| panic!("keepalived wrote no statistics; log:\n{}", ka.log()))
    }

    /// keepalived's `State = ` from its data dump, keeping our instance running.
    fn ka_state(&mut self, ka: &mut Keepalived) -> String {
        ka.request_state().expect("SIGUSR1 to keepalived");
        let mut got = None;
        self.run_until(Duration::from_secs(3), |_| {
            got = ka.try_state();
            got.is_some()
        });
        got.unwrap_or_else(|| panic!("keepalived wrote no data dump; log:\n{}", ka.log()))
    }

    fn ka_adverts_since(&self, t: Instant) -> impl Iterator<Item = &SeenAdvert> {
        self.ka_adverts.iter().filter(move |a| a.at >= t)
    }

    fn our_change_since(&self, t: Instant, to: State) -> Option<Instant> {
        self.our_changes
            .iter()
            .find(|(at, s)| *at >= t && *s == to)
            .map(|(at, _)| *at)
    }
}

/// Builds the topology and runs every scenario for one version.
/// One `#[test]` running `interop(params, "<its name>", scenario)`.
macro_rules! interop_test {
    ($name:ident, $params:expr, $scenario:expr) => {
        #[test]
        fn $name() {
            interop($params, stringify!($name), $scenario);
        }
    };
}

/// What a scenario gets: the parameters, keepalived's binary, its namespace, a temp dir, the
/// harness and a report to append measurements to.
type Scenario = fn(&Ctx<'_>, &mut Harness, &mut String);

/// A scenario's fixed surroundings.
struct Ctx<'a> {
    p: Params,
    /// keepalived's binary.
    bin: String,
    /// keepalived's namespace.
    ka_ns: &'a Netns,
    /// Where each keepalived run keeps its files (a subdirectory per run).
    dir: &'a TempDir,
}

impl Ctx<'_> {
    /// Starts keepalived with `conf`, its files in `dir/run`.
    fn keepalived(&self, run: &str, conf: &KeepalivedConf) -> Keepalived {
        Keepalived::start(&self.bin, self.ka_ns, &self.dir.join(run), conf)
            .expect("start keepalived")
    }

    /// Starts keepalived alone and keeps `h` running until keepalived's first advert (it became
    /// master by its Master_Down_Timer).
    fn keepalived_master(&self, h: &mut Harness, run: &str, conf: &KeepalivedConf) -> Keepalived {
        let ka = self.keepalived(run, conf);
        let up = h.run_until(
            self.p.master_down(conf.priority) + Duration::from_secs(3),
            |h| !h.ka_adverts.is_empty(),
        );
        assert!(
            up,
            "keepalived {} never advertised; log:\n{}",
            conf.priority,
            ka.log()
        );
        ka
    }
}

fn interop(p: Params, test: &str, scenario: Scenario) {
    if !netns::root_or_skip(test) {
        return;
    }
    let bin = keepalived::binary().unwrap_or_else(|| {
        panic!(
            "keepalived is not installed: this root-only test needs keepalived 2.2.7 \
             (Debian package `keepalived`; .ci/run installs it)"
        )
    });
    let dir = TempDir::new("vrrpka").expect("temp dir");
    let mut lan = Lan::new("lan").expect("bridge namespace");
    let ka_ns: Netns = lan
        .add_host("ka", &[&format!("{}/24", p.ka_v4())])
        .expect("keepalived namespace");
    let ka_src = if p.ipv6 {
        IpAddr::V6(
            ka_ns
                .link_local("eth0")
                .expect("keepalived's link-local address"),
        )
    } else {
        // IPv4 only: keep the kernel's IPv6 chatter (MLD, router solicitations) off the LAN.
        ka_ns
            .sysctl("net.ipv6.conf.eth0.disable_ipv6", "1")
            .expect("sysctl");
        IpAddr::V4(p.ka_v4())
    };
    let tap = Tap::create("vrrp").expect("TAP");
    lan.attach_tap(&tap).expect("TAP on the bridge");
    let ka_mac = ka_ns.mac("eth0").expect("keepalived's MAC");
    let mut h = Harness::new(p, tap, ka_src, ka_mac);
    let mut report = String::new();

    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let c = Ctx {
            p,
            bin,
            ka_ns: &ka_ns,
            dir: &dir,
        };
        scenario(&c, &mut h, &mut report)
    }));
    println!("{test}: timeline\n{}", h.trace);
    println!("{test}: measured\n{report}");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn scenarios(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let adv = p.advert_int;

    // (a) keepalived 150 starts alone and becomes master by its Master_Down_Timer.
    let ka_start = Instant::now();
    let mut ka = c.keepalived_master(h, "ka1", &p.ka_conf(150));
    let first = h.ka_adverts[0];
    assert_eq!(
        (first.version, first.vrid, first.priority, first.ttl),
        (p.version, VRID, 150, 255),
        "keepalived's advert"
    );
    let _ = writeln!(
        report,
        "(a) keepalived 150 first advert {:?} after start",
        first.at - ka_start
    );
    // Ours 100 joins: stays Backup, accepts every advert of keepalived.
    h.start_ours(100);
    assert_eq!(h.our_state(), State::Backup);
    let joined = Instant::now();
    h.run_for(p.master_down(100) + adv);
    assert_eq!(
        h.our_state(),
        State::Backup,
        "ours stays backup under keepalived 150"
    );
    assert!(h.our_adverts.is_empty(), "a backup sends no adverts");
    let heard = h.ka_adverts_since(joined).count() as u64;
    let st = *h.ours().stats();
    assert!(heard >= 3, "keepalived advertised every interval ({heard})");
    assert!(
        st.advert_rcvd >= heard - 1 && st.advert_rcvd <= heard,
        "ours accepted keepalived's adverts: {st:?}, heard {heard}"
    );
    assert!(h.our_drops.is_empty(), "ours dropped: {:?}", h.our_drops);
    assert_eq!(
        h.ours().master_addr(),
        Some(h.ka_src),
        "ours knows keepalived as master"
    );
    let ks = h.ka_stats(&mut ka);
    assert_eq!(ks.errors, 0, "keepalived counted errors:\n{}", ks.text);
    assert_eq!(ks.became_master, 1, "{}", ks.text);
    let _ = writeln!(
        report,
        "(a) ours backup, accepted {} of {heard} keepalived adverts, 0 drops",
        st.advert_rcvd
    );

    // (b) keepalived stops: priority 0, ours master after Skew_Time. The harness keeps
    // running while keepalived exits (about one second).
    h.stop_ka(&mut ka);
    let p0 = h
        .ka_adverts
        .iter()
        .rev()
        .find(|a| a.priority == 0)
        .unwrap_or_else(|| {
            panic!(
                "keepalived sent no priority-0 advert on SIGTERM; log:\n{}",
                ka.log()
            )
        })
        .at;
    let skew = p.skew(100);
    h.run_until(skew + SLACK, |h| h.our_state() == State::Master);
    let took = h
        .our_change_since(p0, State::Master)
        .unwrap_or_else(|| panic!("ours not master after keepalived's priority 0"))
        - p0;
    assert!(
        took >= skew.mul_f64(0.9) && took <= skew + SLACK,
        "ours became master {took:?} after keepalived's priority 0; Skew_Time {skew:?} \
         (RFC 9568 6.4.2: priority 0 sets Master_Down_Timer to Skew_Time)"
    );
    let _ = writeln!(
        report,
        "(b) keepalived SIGTERM -> priority 0 -> ours master after {took:?} (Skew_Time {skew:?})"
    );
    h.run_for(adv + Duration::from_millis(100));
    assert!(
        h.our_adverts.iter().any(|&(_, pr)| pr == 100),
        "ours advertises as master"
    );
    assert!(
        !h.our_garps.is_empty(),
        "ours sent gratuitous ARPs / unsolicited NAs on becoming master"
    );

    // (c) keepalived restarts at 200: it preempts, ours returns to Backup at its first advert.
    let ka_start = Instant::now();
    let mut ka = c.keepalived("ka2", &p.ka_conf(200));
    let preempted = h.run_until(p.master_down(200) + Duration::from_secs(3), |h| {
        h.our_state() == State::Backup
    });
    assert!(
        preempted,
        "keepalived 200 did not preempt ours; log:\n{}",
        ka.log()
    );
    let ka_first = h
        .ka_adverts_since(ka_start)
        .find(|a| a.priority == 200)
        .expect("keepalived 200 advertised")
        .at;
    let back = h.our_change_since(ka_start, State::Backup).unwrap();
    let react = back.saturating_duration_since(ka_first);
    assert!(
        react < Duration::from_millis(100),
        "ours went backup {react:?} after keepalived's first priority-200 advert"
    );
    let _ = writeln!(
        report,
        "(c) keepalived 200 preempted after {:?} (its Master_Down_Interval {:?}); ours backup \
         {react:?} after its first advert",
        ka_first - ka_start,
        p.master_down(200)
    );
    // keepalived may write its GARPs (IPv6: unsolicited NAs) just before or just after its
    // first advert.
    h.run_until(Duration::from_secs(2), |h| {
        h.ka_garps.iter().any(|&t| t >= ka_start)
    });
    assert!(
        h.ka_garps.iter().any(|&t| t >= ka_start),
        "keepalived sent gratuitous ARPs / unsolicited NAs on becoming master"
    );
    let ks = h.ka_stats(&mut ka);
    assert!(
        ks.adverts_received >= 1,
        "keepalived received our adverts while backup:\n{}",
        ks.text
    );
    assert_eq!(ks.errors, 0, "keepalived counted errors:\n{}", ks.text);
    let _ = writeln!(
        report,
        "(c) keepalived accepted {} of our adverts, 0 errors",
        ks.adverts_received
    );

    // Between scenarios: ours (backup) shuts down, keepalived is killed (no clean stop
    // needed: nobody listens).
    h.shutdown_ours();
    h.ours = None;
    drop(ka);
    c.ka_ns.kill_all(netns::Signal::SIGKILL);
    h.run_for(Duration::from_millis(200));

    // (d) ours 200 alone becomes master by its Master_Down_Timer; keepalived 100 joins and
    // stays backup and silent.
    let ours_start = Instant::now();
    h.start_ours(200);
    assert!(
        h.run_until(p.master_down(200) + SLACK, |h| h.our_state()
            == State::Master),
        "ours 200 not master within Master_Down_Interval {:?}",
        p.master_down(200)
    );
    let _ = writeln!(
        report,
        "(d) ours 200 alone master after {:?} (Master_Down_Interval {:?})",
        h.our_change_since(ours_start, State::Master).unwrap() - ours_start,
        p.master_down(200)
    );
    let ka_start = Instant::now();
    let sent_before = h.ours().stats().advert_sent;
    let mut ka = c.keepalived("ka3", &p.ka_conf(100));
    h.wait_ka_started(&ka);
    // Start-up settles once keepalived has counted one of our adverts.
    let settle_by = Instant::now() + Duration::from_secs(5);
    while h.ka_stats(&mut ka).adverts_received == 0 {
        assert!(
            Instant::now() < settle_by,
            "keepalived 100 never counted our adverts; log:\n{}",
            ka.log()
        );
        h.run_for(adv / 2);
    }
    h.run_for(adv * 3 + adv / 2);
    let ks = h.assert_ka_silent_backup(&mut ka, ka_start);
    let sent = h.ours().stats().advert_sent - sent_before;
    let _ = writeln!(
        report,
        "(d) keepalived 100 BACKUP and silent for {:?}; it accepted {} adverts (we sent {sent} \
         since its start), 0 errors",
        ka_start.elapsed(),
        ks.adverts_received
    );

    // (e) our shutdown: priority 0, keepalived master after its Skew_Time.
    let down = h.shutdown_ours();
    assert_eq!(
        h.our_adverts.last().map(|&(_, pr)| pr),
        Some(0),
        "our shutdown sent priority 0"
    );
    let ka_skew = p.skew(100);
    let took_over = h.run_until(ka_skew + Duration::from_secs(1), |h| {
        h.ka_adverts_since(down).any(|a| a.priority == 100)
    });
    assert!(
        took_over,
        "keepalived did not take over after our priority 0; log:\n{}",
        ka.log()
    );
    let took = h
        .ka_adverts_since(down)
        .find(|a| a.priority == 100)
        .unwrap()
        .at
        - down;
    assert!(
        took <= ka_skew + SLACK,
        "keepalived took over after {took:?}, Skew_Time {ka_skew:?}"
    );
    let ks = h.ka_stats(&mut ka);
    assert_eq!(ks.prio_zero_received, 1, "{}", ks.text);
    assert_eq!(ks.became_master, 1, "{}", ks.text);
    assert_eq!(ks.errors, 0, "{}", ks.text);
    let _ = writeln!(
        report,
        "(e) our shutdown -> priority 0 -> keepalived master after {took:?} (its Skew_Time \
         {ka_skew:?})"
    );
}

interop_test!(
    keepalived_v2_and_lvs_vrrp_agree_fail_over_and_accept_each_other,
    V2,
    scenarios
);

interop_test!(
    keepalived_v3_ipv6_and_lvs_vrrp_agree_fail_over_and_accept_each_other,
    V3_IPV6,
    scenarios
);

interop_test!(
    keepalived_v3_and_lvs_vrrp_agree_fail_over_and_accept_each_other,
    V3,
    scenarios
);

/// (f) VRRPv3, keepalived crashes (SIGKILL: no priority 0). keepalived 150 advertises every
/// 0.1 s (10 cs) while ours is configured with 0.5 s: as a Backup, ours must learn
/// Master_Adver_Interval = 10 cs from keepalived's adverts (RFC 9568 6.4.2: "Set
/// Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT; Recompute the
/// Master_Down_Interval") and so take over 3 * 10 + (256 - 100) * 10 / 256 = 36.09 cs after
/// keepalived's last advert, not the 180.5 cs its own interval would give.
fn crash_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let conf = KeepalivedConf {
        advert_int: "0.1".into(),
        ..p.ka_conf(150)
    };
    let ka = c.keepalived_master(h, "ka", &conf);
    h.start_ours(100);
    h.run_for(Duration::from_millis(600));
    assert_eq!(h.our_state(), State::Backup);
    assert!(h.our_drops.is_empty(), "ours dropped: {:?}", h.our_drops);
    assert_eq!(
        h.ours().master_adver_interval_cs(),
        10,
        "ours learnt keepalived's Max Adver Int"
    );
    let killed = Instant::now();
    // Freeze every keepalived process first: killing the parent first would make the VRRP
    // child's parent-death signal (SIGTERM) send a priority-0 advert, a clean stop.
    let n = c.ka_ns.kill_all(netns::Signal::SIGSTOP);
    assert!(n >= 2, "keepalived's parent and VRRP child stopped ({n})");
    c.ka_ns.kill_all(netns::Signal::SIGKILL);
    let killed_by = Instant::now();
    // Expected Master_Down_Interval from the learnt interval (RFC 9568 6.1):
    // 3 * 100 ms + (256 - 100) * 100 ms / 256.
    let mdi = Duration::from_millis(300) + Duration::from_micros(156 * 100_000 / 256);
    assert!(
        h.run_until(mdi + SLACK, |h| h.our_state() == State::Master),
        "ours not master within the learnt Master_Down_Interval {mdi:?} + {SLACK:?}"
    );
    let last = h.ka_adverts.last().expect("keepalived advertised").at;
    assert!(
        last <= killed_by + Duration::from_millis(20),
        "no advert after SIGKILL"
    );
    assert!(
        h.ka_adverts.iter().all(|a| a.priority == 150),
        "a crash sends no priority 0"
    );
    let took = h.our_change_since(killed, State::Master).unwrap() - last;
    assert!(
        took >= mdi.mul_f64(0.9) && took <= mdi + SLACK,
        "ours took over {took:?} after keepalived's last advert; learnt Master_Down_Interval \
         {mdi:?}"
    );
    let _ = writeln!(
        report,
        "(f) keepalived SIGKILL -> ours master {took:?} after its last advert (learnt \
         Master_Down_Interval {mdi:?})"
    );
    drop(ka);
}

interop_test!(
    keepalived_v3_crash_fails_over_after_the_learnt_master_down_interval,
    V3,
    crash_scenario
);

/// (g) VRRPv2 simple-password authentication (keepalived's `auth_type PASS`, RFC 2338 5.3.6.1,
/// Auth Type 1, the password zero-padded to 8 bytes). Same password: ours accepts keepalived's
/// adverts and stays backup. Wrong password: each side rejects the other (ours counts
/// `auth_failure`, keepalived "Authentication Errors: Failure"), so both become master: the
/// split brain keepalived users see with mismatched passwords.
fn auth_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let conf = KeepalivedConf {
        auth_pass: Some("lvs77pw".into()),
        ..p.ka_conf(150)
    };
    let mut ka = c.keepalived_master(h, "ka", &conf);
    let with_pass = |pass: &str| VrrpConfig {
        authentication: Some(Authentication {
            auth_type: AuthType::Pass,
            auth_pass: pass.into(),
        }),
        ..p.our_conf(100)
    };

    // Same password.
    h.start_ours_with(with_pass("lvs77pw"));
    h.run_for(p.advert_int * 2 + Duration::from_millis(100));
    assert_eq!(h.our_state(), State::Backup);
    assert!(h.our_drops.is_empty(), "ours dropped: {:?}", h.our_drops);
    let good = h.ours().stats().advert_rcvd;
    assert!(
        good >= 2,
        "ours accepted keepalived's PASS adverts ({good})"
    );
    h.shutdown_ours();

    // Wrong password: ours rejects every advert and takes over after Master_Down_Interval.
    h.our_drops.clear();
    let start = Instant::now();
    h.start_ours_with(with_pass("wrongpw"));
    assert!(
        h.run_until(p.master_down(100) + SLACK, |h| h.our_state()
            == State::Master),
        "ours, deaf to keepalived's adverts, becomes master"
    );
    let st = *h.ours().stats();
    assert_eq!(st.advert_rcvd, 0, "{st:?}");
    assert!(st.auth_failure >= 3, "{st:?}");
    assert!(
        h.our_drops
            .iter()
            .all(|d| d.contains(&format!("{:?}", DropReason::AuthFailure))),
        "{:?}",
        h.our_drops
    );
    h.run_for(p.advert_int * 2);
    let ks = h.ka_stats(&mut ka);
    assert!(
        ks.auth_failure >= 2,
        "keepalived rejected our adverts with the wrong password:\n{}",
        ks.text
    );
    assert_eq!(ks.adverts_received, 0, "{}", ks.text);
    // keepalived stays MASTER too (split brain). Observed with 2.2.7: while it receives our
    // rejected adverts at its own interval it sends none itself (its advert timer restarts on
    // every packet it reads, apparently), so its role is read from its data dump, not the wire.
    let state = h.ka_state(&mut ka);
    assert_eq!(
        state,
        "MASTER",
        "keepalived's own state; log:\n{}",
        ka.log()
    );
    let ka_silent = h.ka_adverts_since(start + p.master_down(100)).count();
    let _ = writeln!(
        report,
        "(g) PASS: same password accepted ({good} adverts); wrong password: ours {} auth \
         failures, keepalived {}, both MASTER (keepalived sent {ka_silent} adverts meanwhile)",
        st.auth_failure, ks.auth_failure
    );
}

interop_test!(
    keepalived_v2_pass_authentication_is_checked_both_ways,
    V2,
    auth_scenario
);

/// (h) VRRPv3, different `virtual_ipaddress` sets on the two sides. keepalived 2.2.7 drops an
/// advert whose address list differs from its own ("ip address associated with VRID not
/// present in MASTER advert", counted under Packet Errors: Address List) in v3 as in v2, and so
/// does lvs-vrrp (`addr_list_err`, RFC 3768 7.1 / RFC 9568 7.1 leave it to the implementation):
/// each side ignores the other and both are MASTER, the split brain the seeds warn about.
fn vip_mismatch_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let mut conf = p.our_conf(200);
    conf.virtual_ipaddress = vec![IpAddr::V4(Ipv4Addr::new(10, 77, p.subnet, 101))];
    assert!(!p.ipv6, "an IPv4 scenario");
    h.start_ours_with(conf);
    assert!(
        h.run_until(p.master_down(200) + Duration::from_secs(1), |h| {
            h.our_state() == State::Master
        }),
        "ours alone becomes master"
    );
    let mut ka = c.keepalived("ka", &p.ka_conf(100));
    h.wait_ka_started(&ka);
    let start = Instant::now();
    // keepalived ignores our priority-200 adverts and becomes master after its
    // Master_Down_Interval.
    let ka_master = h.run_until(p.master_down(100) + Duration::from_secs(2), |h| {
        h.ka_adverts_since(start).any(|a| a.priority == 100)
    });
    assert!(
        ka_master,
        "keepalived 100 ignored our adverts and advertised; log:\n{}",
        ka.log()
    );
    h.run_for(p.advert_int * 2);
    assert_eq!(
        h.our_state(),
        State::Master,
        "ours ignores keepalived's adverts"
    );
    let st = *h.ours().stats();
    assert_eq!(st.advert_rcvd, 0, "{st:?}");
    assert!(st.addr_list_err >= 1, "{st:?}");
    assert_eq!(h.ka_state(&mut ka), "MASTER", "keepalived's own state");
    let ks = h.ka_stats(&mut ka);
    assert!(
        ks.addr_list_err >= 3,
        "keepalived counted address-list errors:\n{}",
        ks.text
    );
    // (keepalived counts them under Advertisements: Received too, before its checks.)
    let _ = writeln!(
        report,
        "(h) VIP sets differ: ours dropped {} adverts (addr_list_err), keepalived {} (Address \
         List); both MASTER",
        st.addr_list_err, ks.addr_list_err
    );
}

interop_test!(
    keepalived_v3_and_lvs_vrrp_both_reject_a_different_vip_set,
    V3_FAST,
    vip_mismatch_scenario
);

/// (i) VRRPv3, the Backup-side rules against keepalived as master:
/// - equal priority: a Backup stays Backup ("If the Priority in the ADVERTISEMENT is greater
///   than or equal to the local Priority, then: ... Reset the Master_Down_Timer", RFC 9568
///   6.4.2); the address tie-break is only between two masters;
/// - `nopreempt` (Preempt_Mode False): a higher-priority Backup does not preempt (same rule,
///   "or Preempt_Mode is False");
/// - and the other way round: keepalived 250 with `nopreempt` restarted against ours 200 as
///   master stays BACKUP.
fn backup_rules_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let mut ka = c.keepalived_master(h, "ka1", &p.ka_conf(100));

    // Equal priority.
    h.start_ours(100);
    h.run_for(p.master_down(100) + p.advert_int);
    assert_eq!(
        h.our_state(),
        State::Backup,
        "equal priority: ours stays backup"
    );
    assert!(h.our_drops.is_empty(), "ours dropped: {:?}", h.our_drops);
    h.shutdown_ours();

    // nopreempt with a higher priority.
    let conf = VrrpConfig {
        nopreempt: true,
        ..p.our_conf(200)
    };
    h.start_ours_with(conf);
    h.run_for(p.master_down(200) + p.advert_int);
    assert_eq!(
        h.our_state(),
        State::Backup,
        "nopreempt: ours 200 stays backup"
    );
    assert!(h.our_adverts.is_empty(), "a backup sends no adverts");
    let _ = writeln!(
        report,
        "(i) ours 100 (equal) and ours 200 nopreempt stayed backup under keepalived 100"
    );

    // keepalived stops: ours (200, nopreempt) takes over after its Skew_Time.
    h.stop_ka(&mut ka);
    assert!(
        h.run_until(p.skew(200) + SLACK, |h| h.our_state() == State::Master),
        "ours 200 takes over after keepalived's priority 0"
    );
    let p0 = h.ka_adverts.last().expect("keepalived advertised").at;
    assert_eq!(h.ka_adverts.last().map(|a| a.priority), Some(0));
    let took = h.our_change_since(p0, State::Master).unwrap() - p0;
    assert!(took <= p.skew(200) + SLACK, "{took:?}");

    // keepalived 250 nopreempt restarts: stays backup under ours 200.
    let conf = KeepalivedConf {
        nopreempt: true,
        ..p.ka_conf(250)
    };
    let start = Instant::now();
    let mut ka = c.keepalived("ka2", &conf);
    h.wait_ka_started(&ka);
    h.run_for(p.master_down(250) + p.advert_int * 2);
    let ks = h.assert_ka_silent_backup(&mut ka, start);
    let _ = writeln!(
        report,
        "(i) keepalived 250 nopreempt stayed BACKUP under ours 200 ({} adverts accepted)",
        ks.adverts_received
    );
}

interop_test!(
    keepalived_v3_and_lvs_vrrp_keep_equal_priority_and_nopreempt_backups,
    V3_FAST,
    backup_rules_scenario
);

/// (j) VRRPv3, partition and heal. Ours 200 is master but its frames are discarded (keepalived
/// does not hear it), so keepalived 100 also becomes master: both are master, and ours reports
/// each lower-priority advert it hears (keepalived's `notify_master_rx_lower_pri`). When the
/// partition heals, ours answers keepalived's next advert at once ("If the Priority in the
/// ADVERTISEMENT is ... less than the local Priority ... Send an ADVERTISEMENT immediately",
/// keepalived's default without `lower_prio_no_advert`) and keepalived, hearing priority 200,
/// goes back to BACKUP (RFC 9568 6.4.3) within one of its advert intervals.
fn partition_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    h.muted = true;
    h.start_ours(200);
    assert!(
        h.run_until(p.master_down(200) + Duration::from_secs(1), |h| {
            h.our_state() == State::Master
        }),
        "ours alone becomes master"
    );
    let mut ka = c.keepalived("ka", &p.ka_conf(100));
    h.wait_ka_started(&ka);
    let start = Instant::now();
    let ka_master = h.run_until(p.master_down(100) + Duration::from_secs(2), |h| {
        h.ka_adverts_since(start).count() >= 2
    });
    assert!(
        ka_master,
        "keepalived 100, not hearing ours, becomes master; log:\n{}",
        ka.log()
    );
    assert_eq!(
        h.our_state(),
        State::Master,
        "both master during the partition"
    );
    assert!(
        h.our_other_events
            .iter()
            .any(|(_, e)| matches!(e, Event::MasterRxLowerPriority { priority: 100, .. })),
        "ours reported keepalived's lower-priority adverts: {:?}",
        h.our_other_events
    );
    assert!(h.muted_frames > 0);

    // Heal as keepalived's next advert arrives (before ours handles it): the first frame
    // keepalived then hears from us can only be the immediate answer, and it must yield on it
    // without advertising again.
    h.heal_on_ka_advert = true;
    let healing = Instant::now();
    let yielded = h.run_until(p.advert_int * 4, |h| {
        !h.heal_on_ka_advert
            && h.ka_adverts
                .last()
                .is_some_and(|a| a.at + p.advert_int * 2 < Instant::now())
    });
    assert!(
        yielded,
        "keepalived kept advertising after the heal; log:\n{}",
        ka.log()
    );
    let ka_last = h.ka_adverts.last().unwrap().at;
    let healed = h
        .ka_adverts_since(healing)
        .next()
        .expect("keepalived advertised once more")
        .at;
    assert_eq!(
        ka_last, healed,
        "keepalived's advert at the heal was its last"
    );
    let answer = h
        .our_adverts
        .iter()
        .find(|(t, pr)| *t >= ka_last && *pr == 200)
        .expect("ours advertised after keepalived's last advert")
        .0;
    let reply = answer - ka_last;
    assert!(
        reply < Duration::from_millis(50),
        "ours answered keepalived's lower-priority advert after {reply:?}, not at once"
    );
    assert_eq!(h.our_state(), State::Master);
    assert_eq!(h.ka_state(&mut ka), "BACKUP", "keepalived yielded");
    let ks = h.ka_stats(&mut ka);
    assert_eq!(ks.became_master, 1, "{}", ks.text);
    assert_eq!(ks.released_master, 1, "{}", ks.text);
    assert_eq!(ks.errors, 0, "{}", ks.text);
    let _ = writeln!(
        report,
        "(j) partition: both master; heal: ours answered keepalived's advert after {reply:?}, \
         keepalived BACKUP with no further advert ({} of ours discarded while partitioned)",
        h.muted_frames
    );
}

interop_test!(
    keepalived_v3_yields_when_a_partition_heals,
    V3_FAST,
    partition_scenario
);

/// (k) VRRPv3 with keepalived's unicast peers (`unicast_src_ip`, `unicast_peer { }`): adverts go
/// to the peer's address and MAC instead of 224.0.0.18 (keepalived's kernel ARPs for our
/// address; the harness answers), and the v3 checksum's pseudo-header holds that unicast
/// destination. Same roles as (a), (b), (d): keepalived 150 master, ours 100 backup accepting
/// its unicast adverts; keepalived's clean stop: ours master after Skew_Time, advertising
/// unicast; keepalived 100 restarted stays BACKUP and silent, accepting ours.
fn unicast_scenario(c: &Ctx<'_>, h: &mut Harness, report: &mut String) {
    let p = &c.p;
    let ka_conf = |priority: u8| KeepalivedConf {
        unicast_src_ip: Some(p.ka_v4().to_string()),
        unicast_peer: vec![p.our_ip().to_string()],
        ..p.ka_conf(priority)
    };
    let mut ka = c.keepalived_master(h, "ka1", &ka_conf(150));
    h.start_ours_with(VrrpConfig {
        unicast_peer: vec![IpAddr::V4(p.ka_v4())],
        ..p.our_conf(100)
    });
    let joined = Instant::now();
    h.run_for(p.master_down(100) + p.advert_int);
    assert_eq!(h.our_state(), State::Backup, "ours stays backup");
    assert!(h.our_drops.is_empty(), "ours dropped: {:?}", h.our_drops);
    let heard: Vec<_> = h.ka_adverts_since(joined).collect();
    assert!(heard.len() >= 3, "keepalived advertised: {heard:?}");
    assert!(
        heard.iter().all(|a| a.dst == p.our_ip()),
        "keepalived's adverts are unicast to us: {heard:?}"
    );
    let accepted = h.ours().stats().advert_rcvd;
    assert!(accepted >= 3, "{:?}", h.ours().stats());

    h.stop_ka(&mut ka);
    let p0 = h
        .ka_adverts
        .iter()
        .rev()
        .find(|a| a.priority == 0)
        .expect("keepalived sent priority 0 (unicast)")
        .at;
    h.run_until(p.skew(100) + SLACK, |h| h.our_state() == State::Master);
    let took = h
        .our_change_since(p0, State::Master)
        .expect("ours master after keepalived's priority 0")
        - p0;
    assert!(took <= p.skew(100) + SLACK, "{took:?}");

    let start = Instant::now();
    let mut ka = c.keepalived("ka2", &ka_conf(100));
    h.wait_ka_started(&ka);
    h.run_for(p.master_down(100) + p.advert_int * 2);
    let ks = h.assert_ka_silent_backup(&mut ka, start);
    let _ = writeln!(
        report,
        "(k) unicast: ours accepted {accepted} unicast adverts as backup, master {took:?} after \
         keepalived's priority 0; keepalived 100 BACKUP accepting {} of ours",
        ks.adverts_received
    );
}

interop_test!(
    keepalived_v3_unicast_peers_interoperate,
    V3_FAST,
    unicast_scenario
);
