//! The real server on an in-memory LAN (no root needed): real Ethernet frames between
//! [`RealServer`] and an independent TCP/IP stack (a second smoltcp interface playing the
//! client), with the test playing the director (LVS-DR: MAC rewrite; LVS-TUN: IPIP / GUE / GRE
//! encapsulation with `lvs_fwd::tun::encapsulate`) and the router. Every frame the real server
//! sends is checked with etherparse.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use lvs_arp::{ArpFrame, MacAddr};
use lvs_examples::realserver::{Decap, QueueDevice, RealServer, RealServerConfig};
use lvs_fwd::tun::{EncapMeta, GueCsum, TunAddrs, TunType, TunnelConfig, encapsulate};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use std::net::Ipv4Addr;

const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x02];
const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x03, 0x03];
const RIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const DIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const GUE_PORT: u16 = 6080;

/// The client host: smoltcp with `addr`/24 and a default route via `gw`.
struct Client {
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
}

impl Client {
    fn new(addr: Ipv4Addr, gw: Ipv4Addr) -> Client {
        let mut dev = QueueDevice::new();
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(CLIENT_MAC)));
        cfg.random_seed = 7;
        let mut iface = Interface::new(cfg, &mut dev, Instant::from_millis(0));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(addr.into(), 24)).unwrap());
        iface.routes_mut().add_default_ipv4_route(gw).unwrap();
        Client {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    fn tcp_connect(&mut self, dst: Ipv4Addr, port: u16, local_port: u16) -> SocketHandle {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 8192]),
            tcp::SocketBuffer::new(vec![0; 8192]),
        );
        s.connect(self.iface.context(), (dst, port), local_port)
            .unwrap();
        self.sockets.add(s)
    }
}

/// What the test's director does with a client frame addressed to its MAC.
#[derive(Clone, Copy)]
enum Mode {
    /// LVS-DR: only the destination MAC changes (to the real server's).
    Dr,
    /// LVS-TUN: the IP packet is encapsulated to the RIP.
    Tun(TunType),
}

/// The LAN: client, real server, and the director/router box (MAC [`DIRECTOR_MAC`], answering
/// ARP for `router_ips`).
struct Lan {
    now: i64,
    client: Client,
    rs: RealServer,
    mode: Mode,
    router_ips: Vec<Ipv4Addr>,
    /// Every frame the real server sent.
    rs_frames: Vec<Vec<u8>>,
}

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

impl Lan {
    fn new(mode: Mode, client_addr: Ipv4Addr, client_gw: Ipv4Addr, cfg: RealServerConfig) -> Lan {
        Lan {
            now: 0,
            client: Client::new(client_addr, client_gw),
            rs: RealServer::new(cfg, Instant::from_millis(0)).unwrap(),
            mode,
            router_ips: vec![DIP, client_gw],
            rs_frames: Vec::new(),
        }
    }

    /// The director/router box receives `frame` (sent by `from_rs` or the client).
    fn router(&mut self, frame: &[u8], from_rs: bool) {
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        if ethertype == 0x0806 {
            if let Ok(arp) = ArpFrame::parse(frame)
                && arp.op == lvs_arp::ArpOp::Request
                && self.router_ips.contains(&arp.target_ip)
            {
                let reply = arp.reply_to(MacAddr(DIRECTOR_MAC)).to_bytes();
                if from_rs {
                    self.rs.receive(&reply);
                } else {
                    self.client.dev.push_rx(&reply);
                }
            }
            return;
        }
        if frame[0..6] != DIRECTOR_MAC || ethertype != 0x0800 {
            return;
        }
        let ip = &frame[14..];
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        if from_rs {
            // Routed back to the client (the real server's gateway is this box).
            let f = eth(CLIENT_MAC, DIRECTOR_MAC, 0x0800, ip);
            self.client.dev.push_rx(&f);
            return;
        }
        assert_eq!(dst, VIP, "the client only talks to the VIP");
        match self.mode {
            Mode::Dr => {
                let f = eth(RS_MAC, DIRECTOR_MAC, 0x0800, ip);
                self.rs.receive(&f);
            }
            Mode::Tun(tun_type) => {
                let head = 64;
                let mut buf = vec![0u8; head + ip.len()];
                buf[head..].copy_from_slice(ip);
                let cfg = TunnelConfig::new(tun_type, TunAddrs::V4 { src: DIP, dst: RIP });
                let meta = EncapMeta {
                    flow_hash: 0x1234_5678,
                    ..EncapMeta::default()
                };
                let outer = encapsulate(&mut buf, head, &cfg, &meta).unwrap();
                let f = eth(RS_MAC, DIRECTOR_MAC, 0x0800, &buf[outer]);
                self.rs.receive(&f);
            }
        }
    }

    /// Delivers a frame sent by the real server (`from_rs`) or the client to the others.
    fn deliver(&mut self, frame: &[u8], from_rs: bool) {
        let dst = &frame[0..6];
        let bcast = dst == [0xff; 6];
        if from_rs {
            if bcast || dst == CLIENT_MAC {
                self.client.dev.push_rx(frame);
            }
        } else if bcast || dst == RS_MAC {
            self.rs.receive(frame);
        }
        if (bcast || dst == DIRECTOR_MAC) && frame[6..12] != DIRECTOR_MAC {
            self.router(frame, from_rs);
        }
    }

    /// One millisecond of the LAN.
    fn step(&mut self) {
        self.now += 1;
        let now = Instant::from_millis(self.now);
        self.client
            .iface
            .poll(now, &mut self.client.dev, &mut self.client.sockets);
        while let Some(f) = self.client.dev.pop_tx() {
            self.deliver(&f, false);
        }
        self.rs.poll(now);
        while let Some(f) = self.rs.transmit() {
            self.rs_frames.push(f.clone());
            self.deliver(&f, true);
        }
    }

    /// Runs until `done` or 10 simulated seconds.
    fn run_until(&mut self, mut done: impl FnMut(&mut Lan) -> bool) {
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("timed out (simulated 10 s)");
    }

    /// TCP exchange: sends `data`, half-closes, reads until the server closes.
    fn tcp_exchange(&mut self, port: u16, local_port: u16, data: &[u8]) -> Vec<u8> {
        let h = self.client.tcp_connect(VIP, port, local_port);
        let mut sent = false;
        let mut got = Vec::new();
        self.run_until(|lan| {
            let s = lan.client.sockets.get_mut::<tcp::Socket>(h);
            if !sent && s.may_send() {
                s.send_slice(data).unwrap();
                sent = true;
            }
            if s.can_recv() {
                let mut b = [0u8; 4096];
                let n = s.recv_slice(&mut b).unwrap();
                got.extend_from_slice(&b[..n]);
                if port != 80 && got.len() >= data.len() {
                    s.close();
                }
            }
            sent && !s.may_recv() && !s.can_recv()
        });
        got
    }

    /// Checks every IPv4 frame the real server sent: from its MAC; transport replies from the
    /// VIP (never the RIP); ARP requests with the RIP as sender (arp_announce=2); ARP replies
    /// only for the RIP.
    fn check_rs_frames(&self) {
        assert!(!self.rs_frames.is_empty());
        for f in &self.rs_frames {
            let p = SlicedPacket::from_ethernet(f).unwrap();
            assert_eq!(f[6..12], RS_MAC);
            match p.net {
                Some(NetSlice::Ipv4(ip)) => {
                    let src = ip.header().source_addr();
                    if matches!(
                        p.transport,
                        Some(TransportSlice::Tcp(_)) | Some(TransportSlice::Udp(_))
                    ) {
                        assert_eq!(src, VIP, "replies leave from the VIP");
                    }
                }
                Some(NetSlice::Arp(arp)) => {
                    let a = arp.to_packet().try_eth_ipv4().unwrap();
                    assert_eq!(
                        a.sender_ipv4_addr(),
                        RIP,
                        "arp_announce=2: the RIP, never the VIP, as ARP sender"
                    );
                }
                other => panic!("unexpected frame from the real server: {other:?}"),
            }
        }
    }
}

fn rs_config(decap: Vec<Decap>, gateway: Option<Ipv4Addr>) -> RealServerConfig {
    let mut cfg = RealServerConfig::new("rs1", RS_MAC, RIP, 24);
    cfg.vips.push(VIP);
    cfg.decap = decap;
    cfg.gateway = gateway;
    cfg
}

fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b
}

/// ARP for the RIP is answered (from the RS MAC, sender RIP); ARP for the VIP is not
/// (arp_ignore=1: "reply only if the target IP address is local address configured on the
/// incoming interface", Documentation/networking/ip-sysctl.rst), whoever asks.
#[test]
fn arp_for_rip_is_answered_and_for_vip_is_not() {
    let mut rs = RealServer::new(rs_config(vec![], None), Instant::from_millis(0)).unwrap();
    let asker = MacAddr(CLIENT_MAC);
    let req_vip = ArpFrame::request(asker, Ipv4Addr::new(10, 0, 0, 50), VIP, None).to_bytes();
    rs.receive(&req_vip);
    rs.poll(Instant::from_millis(1));
    assert!(rs.transmit().is_none(), "no reply for the VIP");
    assert_eq!(rs.stats().arp_ignored, 1);

    let req_rip = ArpFrame::request(asker, Ipv4Addr::new(10, 0, 0, 50), RIP, None).to_bytes();
    rs.receive(&req_rip);
    rs.poll(Instant::from_millis(2));
    let reply = rs.transmit().expect("reply for the RIP");
    assert!(
        rs.transmit().is_none(),
        "exactly one reply (smoltcp's own is dropped)"
    );
    let p = SlicedPacket::from_ethernet(&reply).unwrap();
    let Some(NetSlice::Arp(arp)) = p.net else {
        panic!("not ARP")
    };
    let a = arp.to_packet().try_eth_ipv4().unwrap();
    assert_eq!(a.operation, etherparse::ArpOperation::REPLY);
    assert_eq!(a.sender_mac, RS_MAC);
    assert_eq!(a.sender_ipv4_addr(), RIP);
    assert_eq!(a.target_mac, CLIENT_MAC);
    assert_eq!(reply[0..6], CLIENT_MAC);
}

/// LVS-DR: the client's SYN to the VIP arrives with only the MAC rewritten; the real server
/// answers HTTP from the VIP straight to the client, and echoes 32 random bytes over TCP and
/// UDP intact (the kernel selftest's check, tools/testing/selftests/net/ipvs.sh).
#[test]
fn dr_http_tcp_and_udp_echo_from_the_vip() {
    let client = Ipv4Addr::new(10, 0, 0, 50);
    let mut lan = Lan::new(Mode::Dr, client, DIP, rs_config(vec![], None));
    let body = lan.tcp_exchange(80, 40000, b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n");
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nrs1\n"), "{text}");

    let data = random_bytes(32);
    assert_eq!(lan.tcp_exchange(7, 40001, &data), data);

    let h = {
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
        );
        s.bind(40002).unwrap();
        lan.client.sockets.add(s)
    };
    let dgram = random_bytes(32);
    lan.client
        .sockets
        .get_mut::<udp::Socket>(h)
        .send_slice(&dgram, (VIP, 7))
        .unwrap();
    let mut got = None;
    lan.run_until(|l| {
        let s = l.client.sockets.get_mut::<udp::Socket>(h);
        if let Ok((n, meta)) = s.recv() {
            got = Some((n.to_vec(), meta.endpoint));
        }
        got.is_some()
    });
    let (echo, from) = got.unwrap();
    assert_eq!(echo, dgram);
    assert_eq!(from.addr, smoltcp::wire::IpAddress::Ipv4(VIP));
    assert_eq!(from.port, 7);
    lan.check_rs_frames();
    let st = lan.rs.stats();
    assert_eq!(st.http_responses, 1);
    assert_eq!(st.tcp_echo_bytes, 32);
    assert_eq!(st.udp_echo_datagrams, 1);
}

/// LVS-TUN with each tunnel type: the director encapsulates the client's packets to the RIP;
/// the real server decapsulates and answers from the VIP through its gateway, with direct
/// return (the reply is plain IP, not tunnelled). The client is off the RIP's subnet.
fn tun_round_trip(tun_type: TunType, decap: Decap) {
    let client = Ipv4Addr::new(172, 16, 0, 50);
    let client_gw = Ipv4Addr::new(172, 16, 0, 1);
    let mut lan = Lan::new(
        Mode::Tun(tun_type),
        client,
        client_gw,
        rs_config(vec![decap], Some(DIP)),
    );
    let body = lan.tcp_exchange(80, 41000, b"GET / HTTP/1.0\r\n\r\n");
    let text = String::from_utf8(body).unwrap();
    assert!(text.ends_with("\r\n\r\nrs1\n"), "{text}");
    let data = random_bytes(32);
    assert_eq!(lan.tcp_exchange(7, 41001, &data), data);
    lan.check_rs_frames();
    let st = lan.rs.stats();
    let decapped = st.decap_ipip + st.decap_gue + st.decap_gre;
    assert!(decapped >= 6, "{st:?}");
    assert_eq!(st.decap_errors, 0);
    // Every reply went to the gateway's MAC (direct return via the router, not tunnelled).
    for f in &lan.rs_frames {
        if f[12..14] == [0x08, 0x00] {
            assert_eq!(f[0..6], DIRECTOR_MAC);
            assert_ne!(f[14 + 9], 4, "replies are not tunnelled");
        }
    }
}

#[test]
fn tun_ipip_round_trip() {
    tun_round_trip(TunType::Ipip, Decap::Ipip);
}

#[test]
fn tun_gue_round_trip() {
    tun_round_trip(
        TunType::Gue {
            port: GUE_PORT,
            csum: GueCsum::Csum,
        },
        Decap::Gue(GUE_PORT),
    );
}

#[test]
fn tun_gre_round_trip() {
    tun_round_trip(TunType::Gre { csum: true }, Decap::Gre);
}

/// The outer IP packet (DIP -> RIP, `tun_type`) carrying a UDP datagram 10.0.0.50:5000 ->
/// VIP:7 with payload "hello".
fn tunnelled_udp(tun_type: TunType) -> Vec<u8> {
    let head = 64;
    let mut buf = vec![0u8; head];
    etherparse::PacketBuilder::ipv4(Ipv4Addr::new(10, 0, 0, 50).octets(), VIP.octets(), 64)
        .udp(5000, 7)
        .write(&mut buf, b"hello")
        .unwrap();
    let cfg = TunnelConfig::new(tun_type, TunAddrs::V4 { src: DIP, dst: RIP });
    let outer = encapsulate(&mut buf, head, &cfg, &EncapMeta::default()).unwrap();
    buf[outer].to_vec()
}

/// A tunnel type not enabled is not decapsulated: an IPIP packet to a server with only GRE
/// enabled is handed to smoltcp as is, which answers ICMP protocol unreachable (type 3 code 2),
/// as a kernel without the ipip module does.
#[test]
fn ipip_not_enabled_gets_protocol_unreachable() {
    let mut rs =
        RealServer::new(rs_config(vec![Decap::Gre], None), Instant::from_millis(0)).unwrap();
    // A UDP datagram client -> VIP inside IPIP DIP -> RIP, DIP on-link: the ICMP goes to DIP.
    let frame = eth(RS_MAC, DIRECTOR_MAC, 0x0800, &tunnelled_udp(TunType::Ipip));
    rs.receive(&frame);
    // smoltcp drops the answer while it resolves the DIP (it queues nothing): answer its ARP
    // request, then send the packet again.
    rs.poll(Instant::from_millis(1));
    let req = rs.transmit().expect("ARP request for the DIP");
    let arp = ArpFrame::parse(&req).unwrap();
    assert_eq!(arp.target_ip, DIP);
    rs.receive(&arp.reply_to(MacAddr(DIRECTOR_MAC)).to_bytes());
    rs.receive(&frame);
    let mut icmp = None;
    for ms in 2..2000 {
        rs.poll(Instant::from_millis(ms));
        if let Some(f) = rs.transmit() {
            icmp = Some(f);
            break;
        }
    }
    let f = icmp.expect("an ICMP error");
    let p = SlicedPacket::from_ethernet(&f).unwrap();
    let Some(TransportSlice::Icmpv4(i)) = p.transport else {
        panic!("not ICMP: {p:?}")
    };
    assert_eq!((i.type_u8(), i.code_u8()), (3, 2));
    assert_eq!(rs.stats().decap_ipip, 0);
}

/// Malformed tunnel packets are dropped and counted, never passed on: a GRE packet whose
/// checksum is wrong.
#[test]
fn corrupt_gre_is_counted_and_dropped() {
    let mut rs =
        RealServer::new(rs_config(vec![Decap::Gre], None), Instant::from_millis(0)).unwrap();
    let mut pkt = tunnelled_udp(TunType::Gre { csum: true });
    let last = pkt.len() - 1;
    pkt[last] ^= 0xff; // payload byte: the GRE checksum no longer verifies
    rs.receive(&eth(RS_MAC, DIRECTOR_MAC, 0x0800, &pkt));
    rs.poll(Instant::from_millis(1));
    assert!(rs.transmit().is_none());
    let st = rs.stats();
    assert_eq!(st.decap_errors, 1);
    assert_eq!(st.udp_echo_datagrams, 0);
}

/// ICMP echo to the RIP and to the VIP is answered from the address asked (smoltcp's automatic
/// echo reply), checked with etherparse.
#[test]
fn icmp_echo_is_answered_from_the_address_asked() {
    let mut rs = RealServer::new(rs_config(vec![], None), Instant::from_millis(0)).unwrap();
    let client = Ipv4Addr::new(10, 0, 0, 50);
    // Let the server learn the client's MAC first (ARP request for the RIP).
    rs.receive(&ArpFrame::request(MacAddr(CLIENT_MAC), client, RIP, None).to_bytes());
    rs.poll(Instant::from_millis(1));
    assert!(rs.transmit().is_some(), "ARP reply");
    for (ms, dst) in [(2, RIP), (3, VIP)] {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2(CLIENT_MAC, RS_MAC)
            .ipv4(client.octets(), dst.octets(), 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut v, b"ping")
            .unwrap();
        rs.receive(&v);
        rs.poll(Instant::from_millis(ms));
        let f = rs.transmit().expect("echo reply");
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().source_addr(), dst);
        assert_eq!(ip.header().destination_addr(), client);
        let Some(TransportSlice::Icmpv4(i)) = &p.transport else {
            panic!("not ICMP")
        };
        assert_eq!(i.type_u8(), 0, "echo reply");
        assert_eq!(i.payload(), b"ping");
    }
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    /// An IPv4 frame to the RIP with a tunnel protocol (or UDP to the GUE port) and an arbitrary
    /// payload: reaches `lvs_fwd::tun::decapsulate`'s deeper checks.
    fn tunnel_shaped() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![4u8, 41, 47, 17]),
            prop::collection::vec(any::<u8>(), 0..120),
        )
            .prop_map(|(proto, payload)| {
                let mut payload = payload;
                if proto == 17 && payload.len() >= 8 {
                    payload[2..4].copy_from_slice(&GUE_PORT.to_be_bytes());
                    let len = payload.len() as u16;
                    payload[4..6].copy_from_slice(&len.to_be_bytes());
                    payload[6..8].copy_from_slice(&[0, 0]);
                }
                let mut h = etherparse::Ipv4Header::new(
                    payload.len() as u16,
                    64,
                    etherparse::IpNumber(proto),
                    DIP.octets(),
                    RIP.octets(),
                )
                .unwrap();
                h.header_checksum = h.calc_header_checksum();
                let mut ip = h.to_bytes().to_vec();
                ip.extend_from_slice(&payload);
                eth(RS_MAC, DIRECTOR_MAC, 0x0800, &ip)
            })
    }

    fn any_frame() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(any::<u8>(), 0..100)
                .prop_map(|p| eth(RS_MAC, CLIENT_MAC, 0x0806, &p)),
            tunnel_shaped(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Garbage frames (random bytes, ARP-typed junk, tunnel-shaped junk for every tunnel
        /// type) never panic the server, are never decapsulated into service traffic, and the
        /// HTTP service keeps working afterwards.
        #[test]
        fn garbage_frames_leave_the_service_undisturbed(
            frames in prop::collection::vec(any_frame(), 1..24)
        ) {
            let mut lan = Lan::new(
                Mode::Dr,
                Ipv4Addr::new(10, 0, 0, 50),
                DIP,
                rs_config(vec![Decap::Ipip, Decap::Gue(GUE_PORT), Decap::Gre], None),
            );
            for f in &frames {
                lan.rs.receive(f);
                lan.step();
            }
            let body = lan.tcp_exchange(80, 42000, b"GET / HTTP/1.0\r\n\r\n");
            prop_assert!(String::from_utf8_lossy(&body).ends_with("rs1\n"));
            let st = lan.rs.stats();
            prop_assert_eq!(st.http_responses, 1);
            prop_assert!(st.frames_in >= frames.len() as u64);
        }
    }
}
