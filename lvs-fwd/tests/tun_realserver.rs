//! A userspace TUN-mode real server: the director's IPIP packet (a client's TCP SYN to the VIP,
//! encapsulated by lvs-fwd) is decapsulated by lvs-fwd and handed to a real TCP/IP stack
//! (smoltcp) that owns the VIP, the way a Linux real server's tunl0 does (the kernel's ipvs.sh
//! selftest topology: CIP 10.0.0.2, VIP 207.175.44.110:8080, RS 172.16.0.2 with 10.0.0.3/24 on
//! the client's segment for the direct return). The stack must accept the SYN and answer the
//! client directly with a SYN-ACK from the VIP.

mod tun_util;

use lvs_fwd::tun::{
    DecapConfig, EncapMeta, TunKind, TunType, TunnelConfig, decapsulate, encapsulate,
};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use tun_util::*;

/// An in-memory Ethernet port: frames pushed to `rx` are received, frames sent land in `tx`.
#[derive(Default)]
struct Port {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Device for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((Rx(f), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

#[test]
fn smoltcp_real_server_answers_a_decapsulated_syn() {
    let gue = TunType::Gue {
        port: 6080,
        csum: lvs_fwd::tun::GueCsum::Csum,
    };
    for (tun_type, kind) in [
        (TunType::Ipip, TunKind::Ipip),
        (gue, TunKind::Gue),
        (TunType::Gre { csum: true }, TunKind::Gre),
    ] {
        real_server_round(tun_type, kind);
    }
}

fn real_server_round(tun_type: TunType, kind: TunKind) {
    // The real server: 10.0.0.3/24 on the client's segment, the VIP on the "tunnel".
    let mut port = Port::default();
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ethernet(EthernetAddress(RS_MAC))),
        &mut port,
        Instant::from_millis(0),
    );
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 3), 24)).unwrap();
        a.push(IpCidr::new(IpAddress::v4(207, 175, 44, 110), 32))
            .unwrap();
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut listener = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 2048]),
        tcp::SocketBuffer::new(vec![0; 2048]),
    );
    listener.listen(8080).unwrap();
    let handle = sockets.add(listener);

    // The client's SYN (CIP 10.0.0.2:40000 -> VIP:8080, seq 1), as the director received it,
    // encapsulated toward RIP 172.16.0.2.
    let syn = {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [207, 175, 44, 110], 63)
            .tcp(40000, 8080, 1, 64240)
            .syn();
        let mut v = Vec::new();
        b.write(&mut v, &[]).unwrap();
        v
    };
    let cfg = TunnelConfig::new(tun_type, v4_addrs());
    let oh = cfg.overhead(false);
    let mut buf = with_headroom(&syn, oh, 0);
    let outer = encapsulate(&mut buf, oh, &cfg, &EncapMeta::default()).unwrap();
    verify_outer(&buf[outer.clone()]);

    // The client is a neighbour on 10.0.0.0/24: its ARP reply (RFC 826) fills the real
    // server's neighbour cache so the SYN-ACK can leave at once.
    let mut arp = Vec::new();
    arp.extend_from_slice(&RS_MAC);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[10, 0, 0, 2]);
    arp.extend_from_slice(&RS_MAC);
    arp.extend_from_slice(&[10, 0, 0, 3]);
    port.rx.push_back(arp);

    // The real server's receive path: decapsulate, then hand the inner packet to the stack as
    // an Ethernet frame from the client's segment.
    let dcfg = DecapConfig {
        gue_port: Some(6080),
    };
    let d = decapsulate(&mut buf[outer.clone()], &dcfg).unwrap();
    assert_eq!(d.kind, kind);
    let inner = &buf[outer.start + d.inner.start..outer.start + d.inner.end];
    assert_eq!(inner, &syn[..]);
    let mut frame = Vec::new();
    frame.extend_from_slice(&RS_MAC);
    frame.extend_from_slice(&CLIENT_MAC);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(inner);
    port.rx.push_back(frame);
    for t in 0..5 {
        iface.poll(Instant::from_millis(t), &mut port, &mut sockets);
    }

    // The SYN-ACK goes straight back to the client (direct return), from the VIP.
    let synack = port
        .tx
        .iter()
        .find_map(|f| {
            let p = etherparse::SlicedPacket::from_ethernet(f).ok()?;
            match p.transport? {
                etherparse::TransportSlice::Tcp(t) if t.syn() && t.ack() => {
                    Some((f.clone(), t.to_header()))
                }
                _ => None,
            }
        })
        .expect("the real server answers with a SYN-ACK");
    let (frame, tcp) = synack;
    assert_eq!(&frame[..6], &CLIENT_MAC);
    let (ip, _) = etherparse::Ipv4Header::from_slice(&frame[14..]).unwrap();
    assert_eq!(ip.source, [207, 175, 44, 110], "reply from the VIP");
    assert_eq!(ip.destination, [10, 0, 0, 2]);
    assert_eq!((tcp.source_port, tcp.destination_port), (8080, 40000));
    assert_eq!(tcp.acknowledgment_number, 2);
    assert_eq!(
        sockets.get::<tcp::Socket>(handle).state(),
        tcp::State::SynReceived
    );
}
