//! The virtual-LAN demo (no root): one Ethernet segment in memory.
//!
//! Nodes: one [`SmolHost`] client (the four [`CLIENTS`] addresses), three [`SmolHost`] real
//! servers configured per forwarding method (DR / TUN: RIP on the client subnet with the VIP
//! on lo/32, `arp_ignore=1`, `arp_announce=2`, TUN decapsulating; NAT: RIP on 10.0.0.0/24
//! with the DIP as default route; FULLNAT: RIP on 10.0.0.0/24 only), and the director, one-armed
//! on the segment: the `lvs-director` runtime without its TAP ([`Engine`]:
//! [`lvs_core::Director`], ARP answered and next hops resolved with [`lvs_arp`]).
//!
//! Links: every node's transmitted frames go to a learning-free switch that delivers each
//! frame to the node owning its destination MAC, or floods it (broadcast, unknown unicast).
//! Frames are real Ethernet (ARP, IPv4, TCP, the tunnels), nothing is abstracted away.
//!
//! Time is simulated: each round of the loop polls every node, moves every frame one hop and
//! advances the clock by [`TICK_US`] microseconds (both smoltcp's clock and the director's
//! `now`, an `Instant` taken once plus the simulated time), so TCP timers, connection
//! timeouts and the rate estimator run as on a real LAN with a fixed per-hop latency. A
//! scenario stops when the client has its answers or after [`SIM_LIMIT_MS`] simulated
//! milliseconds.

use std::time::{Duration, Instant};

use smoltcp::time::Instant as SmolInstant;

use lvs_arp::MacAddr;
use lvs_core::{ApplyOutput, Director, DirectorConfig, PacketMeta};

use super::smolhost::{SmolHost, VipMode};
use super::{
    CLIENTS, DIP_CLIENT, DIP_SERVER, LADDR, Mode, ModeResult, Scenario, VIP, check_spread,
};
use crate::director::{Engine, EngineConfig, IF_CLIENT, NeighMode};

/// Simulated microseconds per round (one hop of latency).
pub const TICK_US: u64 = 100;
/// Longest jump of the simulated clock while no frame is on the wire (microseconds).
pub const IDLE_JUMP_US: u64 = 50_000;
/// A scenario fails when it has not finished after this many simulated milliseconds.
pub const SIM_LIMIT_MS: u64 = 60_000;

const DIRECTOR_MAC: [u8; 6] = [0x02, 0x4c, 0x56, 0x53, 0x00, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0x4c, 0x56, 0x53, 0x00, 0x0a];

fn rs_mac(i: usize) -> [u8; 6] {
    [0x02, 0x4c, 0x56, 0x53, 0x01, i as u8]
}

enum Port {
    Director(Box<Engine>),
    Host([u8; 6], Box<SmolHost>),
}

impl Port {
    fn mac(&self) -> [u8; 6] {
        match self {
            Port::Director(_) => DIRECTOR_MAC,
            Port::Host(m, _) => *m,
        }
    }
}

/// The director of scenario `sc`: its rules applied, one-armed with the client-side DIP, the
/// VIP, and for NAT / FULLNAT the server-side DIP and the local address.
fn director(sc: &Scenario, now: Instant) -> Result<Engine, String> {
    let cfg = DirectorConfig {
        local_v4: Some(DIP_CLIENT),
        ..DirectorConfig::default()
    };
    let mut d = Director::new(cfg, now);
    for line in sc.rules() {
        d.apply_line(&line, now)
            .map_err(|e| format!("rule `{line}`: {e}"))?;
    }
    let mut dips = vec![(DIP_CLIENT, 24)];
    if sc.mode.server_subnet() {
        dips.push((DIP_SERVER, 24));
    }
    let cfg = EngineConfig {
        mac: MacAddr(DIRECTOR_MAC),
        vips: vec![VIP],
        dips,
        dips_server: Vec::new(),
        laddrs: if sc.mode == Mode::FullNat {
            vec![LADDR]
        } else {
            Vec::new()
        },
        gateway: None,
        neigh_mode: NeighMode::Resolve,
    };
    Engine::new(d, cfg, now).map_err(|e| format!("director addresses: {e}"))
}

/// Run one scenario on a fresh virtual LAN.
pub fn run_scenario(sc: &Scenario) -> ModeResult {
    let wall = Instant::now();
    let base = Instant::now();
    let t0 = SmolInstant::from_micros(0);
    let director = match director(sc, base) {
        Ok(d) => d,
        Err(e) => return ModeResult::failed(sc, e),
    };
    let mut ports = vec![
        Port::Director(Box::new(director)),
        Port::Host(
            CLIENT_MAC,
            Box::new(SmolHost::client(
                CLIENT_MAC,
                &CLIENTS,
                sc.requests,
                sc.concurrency,
                t0,
            )),
        ),
    ];
    let (vip, gw) = match sc.mode {
        Mode::Dr => (VipMode::Lo, None),
        Mode::Tun => (VipMode::LoTunnel, None),
        Mode::Nat => (VipMode::None, Some(DIP_SERVER)),
        Mode::FullNat => (VipMode::None, None),
    };
    for (i, s) in sc.servers.iter().enumerate() {
        match SmolHost::server(&s.name, rs_mac(i + 1), s.rip, vip, gw, t0) {
            Ok(h) => ports.push(Port::Host(rs_mac(i + 1), Box::new(h))),
            Err(e) => return ModeResult::failed(sc, format!("real server {}: {e}", s.name)),
        }
    }

    if let (Mode::Dr | Mode::Tun, Some(Port::Host(_, client))) = (sc.mode, ports.get_mut(1)) {
        let rips: Vec<_> = sc.servers.iter().map(|s| s.rip).collect();
        client.warm_up(&rips);
    }
    // The measured run starts once the warm-up is over.
    let mut measured: Option<Instant> = None;
    let mut measured_sim: u64 = 0;
    let mut sim_us: u64 = 0;
    let mut in_flight: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut frames: u64 = 0;
    loop {
        let now = SmolInstant::from_micros(sim_us as i64);
        let dnow = base + Duration::from_micros(sim_us);
        // Deliver the frames sent last round.
        for (from, f) in in_flight.drain(..) {
            frames += 1;
            let dst: [u8; 6] = f
                .get(..6)
                .and_then(|d| d.try_into().ok())
                .unwrap_or([0xff; 6]);
            let known = ports.iter().any(|p| p.mac() == dst);
            for (i, p) in ports.iter_mut().enumerate() {
                if i == from || (known && p.mac() != dst) {
                    continue;
                }
                match p {
                    Port::Director(d) => {
                        let _ = d.handle_frame(IF_CLIENT, &f, &PacketMeta::default(), dnow);
                    }
                    Port::Host(_, h) => h.deliver(&f),
                }
            }
        }
        // Poll every node and collect what it sends.
        for (i, p) in ports.iter_mut().enumerate() {
            match p {
                Port::Director(d) => {
                    d.handle_timeout(dnow);
                    while let Some((_, f)) = d.poll_transmit() {
                        in_flight.push((i, f));
                    }
                }
                Port::Host(_, h) => {
                    h.poll(now);
                    while let Some(f) = h.poll_transmit() {
                        in_flight.push((i, f));
                    }
                }
            }
        }
        if measured.is_none() && !matches!(ports.get(1), Some(Port::Host(_, c)) if c.warming()) {
            measured = Some(Instant::now());
            measured_sim = sim_us;
        }
        let done = ports.iter().all(|p| match p {
            Port::Host(_, h) => h.finished(),
            Port::Director(_) => true,
        });
        if done || sim_us >= SIM_LIMIT_MS * 1000 {
            break;
        }
        sim_us += if in_flight.is_empty() {
            // Nothing on the wire: jump to the next host timer (capped, so the director's
            // timers and ARP retries still run often enough).
            let next = ports
                .iter_mut()
                .filter_map(|p| match p {
                    Port::Host(_, h) => h.poll_delay(now),
                    Port::Director(_) => None,
                })
                .map(|d| d.total_micros())
                .min()
                .unwrap_or(IDLE_JUMP_US);
            next.clamp(TICK_US, IDLE_JUMP_US)
        } else {
            TICK_US
        };
    }

    let elapsed = measured.unwrap_or(wall).elapsed().as_secs_f64();
    let dnow = base + Duration::from_micros(sim_us);
    let mut result = ModeResult::failed(sc, String::new());
    result.error = None;
    let mut served = Vec::new();
    for p in &mut ports {
        match p {
            Port::Director(d) => {
                result.stats = match d.director.apply_line("-L -n --stats", dnow) {
                    Ok(ApplyOutput::Text(t)) => t,
                    Ok(ApplyOutput::Done) => String::new(),
                    Err(e) => format!("listing failed: {e}\n"),
                };
                let c = d.stats();
                let drops: u64 = d.director.drop_counts().iter().sum();
                result.notes.push(format!(
                    "director: {} frames in, {} out, {} ARP replies, {} ARP requests, {} dropped",
                    c.rx,
                    c.tx,
                    c.arp_replies,
                    c.arp_requests,
                    c.engine_drops + drops
                ));
            }
            Port::Host(_, h) => {
                if let Some(r) = h.report() {
                    result.client = r.clone();
                } else {
                    served.push(format!(
                        "{} responses ({} ARP requests for the VIP left unanswered (arp_ignore=1), {} packets decapsulated)",
                        h.served(),
                        h.arp_ignored,
                        h.decapsulated
                    ));
                }
            }
        }
    }
    result.client.elapsed_s = elapsed;
    let warm = if measured_sim > 0 {
        format!(
            " (+ {:.3} s warm-up: each client address to each RIP, so that the smoltcp real \
             servers know the clients' MACs)",
            measured_sim as f64 / 1e6
        )
    } else {
        String::new()
    };
    result.notes.push(format!(
        "virtual LAN: {frames} frames; {:.3} s simulated time for the measured requests{warm}; \
         requests/s above is wall-clock",
        (sim_us - measured_sim) as f64 / 1e6
    ));
    for (s, line) in sc.servers.iter().zip(served) {
        result.notes.push(format!("{}: {line}", s.name));
    }
    if result.client.successes < result.client.requests && sim_us >= SIM_LIMIT_MS * 1000 {
        result.error = Some(format!("not finished after {SIM_LIMIT_MS} ms simulated"));
    }
    result.spread = check_spread(sc, &result.client);
    result
}

/// Run every scenario on the virtual LAN, printing each block as it finishes; returns the
/// results.
pub fn run_all(requests: usize, mut print: impl FnMut(&str)) -> Vec<ModeResult> {
    let mut out = Vec::new();
    for sc in Scenario::all(requests) {
        let r = run_scenario(&sc);
        print(&r.render());
        out.push(r);
    }
    out
}
