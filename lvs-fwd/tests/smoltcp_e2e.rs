//! End to end through the director's rewrites: a smoltcp TCP client talks to a smoltcp TCP
//! server across lvs-fwd NAT / FULLNAT, IPv4 and IPv6, in simulated time. smoltcp verifies
//! every IP and TCP checksum on receive (default `ChecksumCapabilities`) and drops what fails,
//! so a completed exchange proves the rewritten packets are valid and the flows map back.

use std::collections::VecDeque;
use std::net::IpAddr;

use lvs_fwd::{Outcome, fullnat_in, fullnat_out, nat_in, nat_out, parse};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// An IP-medium device whose frames the test moves by hand.
#[derive(Default)]
struct Link {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}

impl Device for Link {
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
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

fn host(dev: &mut Link, addr: IpAddr, prefix: u8, gw: IpAddr) -> Interface {
    let mut cfg = Config::new(HardwareAddress::Ip);
    cfg.random_seed = 7;
    let mut iface = Interface::new(cfg, dev, Instant::from_millis(0));
    iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::from(addr), prefix)).unwrap());
    match gw {
        IpAddr::V4(g) => iface
            .routes_mut()
            .add_default_ipv4_route(g)
            .map(|_| ())
            .unwrap(),
        IpAddr::V6(g) => iface
            .routes_mut()
            .add_default_ipv6_route(g)
            .map(|_| ())
            .unwrap(),
    }
    iface
}

#[derive(Clone, Copy)]
enum Mode {
    Nat,
    FullNat,
}

struct Net {
    cip: IpAddr,
    vip: IpAddr,
    rip: IpAddr,
    lip: IpAddr,
    client_gw: IpAddr,
    server_gw: IpAddr,
}

const CPORT: u16 = 40000;
const VPORT: u16 = 80;
const RPORT: u16 = 8080;
const LPORT: u16 = 5000;

/// The director: wrap the IP packet in an Ethernet header, parse, rewrite, unwrap.
fn direct(n: &Net, mode: Mode, ip_packet: Vec<u8>, inbound: bool, seen: &mut usize) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(if ip_packet[0] >> 4 == 4 {
        &[0x08, 0x00]
    } else {
        &[0x86, 0xdd]
    });
    f.extend_from_slice(&ip_packet);
    let p = parse(&f).unwrap();
    let r = match (mode, inbound) {
        (Mode::Nat, true) => {
            assert_eq!(p.flow().unwrap().dst, n.vip);
            nat_in(&mut f, &p, n.rip, RPORT)
        }
        (Mode::Nat, false) => {
            assert_eq!(p.flow().unwrap().src, n.rip);
            nat_out(&mut f, &p, n.vip, VPORT)
        }
        (Mode::FullNat, true) => fullnat_in(&mut f, &p, n.lip, LPORT, n.rip, RPORT),
        (Mode::FullNat, false) => {
            assert_eq!(p.flow().unwrap().dst, n.lip);
            fullnat_out(&mut f, &p, n.vip, VPORT, n.cip, CPORT)
        }
    };
    assert_eq!(r, Ok(Outcome::Forward));
    *seen += 1;
    f.split_off(14)
}

fn exchange(n: &Net, mode: Mode) {
    let (mut cdev, mut sdev) = (Link::default(), Link::default());
    let mut ciface = host(
        &mut cdev,
        n.cip,
        if n.cip.is_ipv4() { 24 } else { 64 },
        n.client_gw,
    );
    let mut siface = host(
        &mut sdev,
        n.rip,
        if n.rip.is_ipv4() { 24 } else { 64 },
        n.server_gw,
    );
    let sock = || {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        )
    };
    let (mut csocks, mut ssocks) = (SocketSet::new(vec![]), SocketSet::new(vec![]));
    let ch = csocks.add(sock());
    let sh = ssocks.add(sock());
    ssocks.get_mut::<tcp::Socket>(sh).listen(RPORT).unwrap();
    csocks
        .get_mut::<tcp::Socket>(ch)
        .connect(ciface.context(), (IpAddress::from(n.vip), VPORT), CPORT)
        .unwrap();
    let (mut sent, mut answered, mut got) = (false, false, Vec::new());
    let mut seen = 0;
    for step in 0..400 {
        let now = Instant::from_millis(step * 5);
        ciface.poll(now, &mut cdev, &mut csocks);
        siface.poll(now, &mut sdev, &mut ssocks);
        while let Some(p) = cdev.tx.pop_front() {
            sdev.rx.push_back(direct(n, mode, p, true, &mut seen));
        }
        while let Some(p) = sdev.tx.pop_front() {
            cdev.rx.push_back(direct(n, mode, p, false, &mut seen));
        }
        let c = csocks.get_mut::<tcp::Socket>(ch);
        if c.may_send() && !sent {
            c.send_slice(b"hello through the director").unwrap();
            sent = true;
        }
        if c.can_recv() {
            c.recv(|b| {
                got.extend_from_slice(b);
                (b.len(), ())
            })
            .unwrap();
        }
        let s = ssocks.get_mut::<tcp::Socket>(sh);
        if s.can_recv() && !answered {
            let mut buf = [0u8; 64];
            let k = s.recv_slice(&mut buf).unwrap();
            assert_eq!(&buf[..k], b"hello through the director");
            // The real server sees the client (NAT) or the director's local address (FULLNAT).
            let remote = s.remote_endpoint().unwrap();
            match mode {
                Mode::Nat => assert_eq!((IpAddr::from(remote.addr), remote.port), (n.cip, CPORT)),
                Mode::FullNat => {
                    assert_eq!((IpAddr::from(remote.addr), remote.port), (n.lip, LPORT))
                }
            }
            s.send_slice(b"welcome").unwrap();
            answered = true;
        }
        if got == b"welcome" {
            assert!(seen >= 5, "handshake and data crossed the director");
            return;
        }
    }
    panic!("exchange did not complete: sent {sent} answered {answered} got {got:?} seen {seen}");
}

fn v4() -> Net {
    Net {
        cip: "192.0.2.10".parse().unwrap(),
        vip: "10.0.0.100".parse().unwrap(),
        rip: "192.168.10.2".parse().unwrap(),
        lip: "10.0.0.200".parse().unwrap(),
        client_gw: "192.0.2.1".parse().unwrap(),
        server_gw: "192.168.10.1".parse().unwrap(),
    }
}

fn v6() -> Net {
    Net {
        cip: "2001:db8:c::10".parse().unwrap(),
        vip: "2001:db8:f::100".parse().unwrap(),
        rip: "2001:db8:a::2".parse().unwrap(),
        lip: "2001:db8:f::200".parse().unwrap(),
        client_gw: "2001:db8:c::1".parse().unwrap(),
        server_gw: "2001:db8:a::1".parse().unwrap(),
    }
}

#[test]
fn tcp_exchange_through_nat_ipv4() {
    exchange(&v4(), Mode::Nat);
}

#[test]
fn tcp_exchange_through_fullnat_ipv4() {
    exchange(&v4(), Mode::FullNat);
}

#[test]
fn tcp_exchange_through_nat_ipv6() {
    exchange(&v6(), Mode::Nat);
}

#[test]
fn tcp_exchange_through_fullnat_ipv6() {
    exchange(&v6(), Mode::FullNat);
}
