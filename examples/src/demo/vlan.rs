//! The virtual-LAN demo (no root): one Ethernet segment in memory.
//!
//! Nodes: one [`HttpClient`] (a smoltcp host with the four [`CLIENTS`] addresses), three
//! real servers (lvs-realserver's smoltcp core, [`RealServer`]) configured per forwarding method (DR / TUN: RIP on the client subnet with the VIP
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

use super::client::HttpClient;
use super::{
    CLIENTS, DIP_CLIENT, DIP_SERVER, GUE_PORT, LADDR, Mode, ModeResult, Scenario, VIP, check_spread,
};
use crate::director::{DEFAULT_MTU, Engine, EngineConfig, IF_CLIENT, NeighMode};
use crate::realserver::{Decap, RealServer, RealServerConfig};

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

/// The nodes of the segment: index 0 the director, 1 the client, 2.. the real servers.
struct Lan {
    director: Engine,
    client: HttpClient,
    servers: Vec<RealServer>,
}

impl Lan {
    fn mac(&self, i: usize) -> [u8; 6] {
        match i {
            0 => DIRECTOR_MAC,
            1 => CLIENT_MAC,
            n => rs_mac(n - 1),
        }
    }

    fn nodes(&self) -> usize {
        2 + self.servers.len()
    }

    fn deliver(&mut self, i: usize, frame: &[u8], now: SmolInstant, dnow: Instant) {
        match i {
            0 => {
                let _ = self
                    .director
                    .handle_frame(IF_CLIENT, frame, &PacketMeta::default(), dnow);
            }
            1 => self.client.receive(frame),
            n => {
                if let Some(rs) = self.servers.get_mut(n - 2) {
                    rs.receive(frame);
                    rs.poll(now);
                }
            }
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
        local_stack: false,
        mtu: DEFAULT_MTU,
    };
    Engine::new(d, cfg, now).map_err(|e| format!("director addresses: {e}"))
}

/// The real servers of scenario `sc` (lvs-realserver's core): DR and TUN carry the VIP on
/// lo/32 with arp_ignore=1 / arp_announce=2 (TUN also decapsulates ipip, gue and gre), NAT
/// routes via the server-side DIP, FULLNAT needs nothing but its RIP.
fn real_servers(sc: &Scenario, now: SmolInstant) -> Result<Vec<RealServer>, String> {
    let mut v = Vec::new();
    for (i, s) in sc.servers.iter().enumerate() {
        let mut cfg = RealServerConfig::new(&s.name, rs_mac(i + 1), s.rip, 24);
        match sc.mode {
            Mode::Dr => cfg.vips = vec![VIP],
            Mode::Tun => {
                cfg.vips = vec![VIP];
                cfg.decap = vec![Decap::Ipip, Decap::Gue(GUE_PORT), Decap::Gre];
            }
            Mode::Nat => cfg.gateway = Some(DIP_SERVER),
            Mode::FullNat => {}
        }
        v.push(RealServer::new(cfg, now).map_err(|e| format!("real server {}: {e}", s.name))?);
    }
    Ok(v)
}

/// Run one scenario on a fresh virtual LAN.
pub fn run_scenario(sc: &Scenario) -> ModeResult {
    let wall = Instant::now();
    let base = Instant::now();
    let t0 = SmolInstant::from_micros(0);
    let built = director(sc, base).and_then(|d| Ok((d, real_servers(sc, t0)?)));
    let (director, servers) = match built {
        Ok(x) => x,
        Err(e) => return ModeResult::failed(sc, e),
    };
    let client = HttpClient::new(CLIENT_MAC, &CLIENTS, sc.requests, sc.concurrency, t0);
    let mut lan = Lan {
        director,
        client,
        servers,
    };
    if matches!(sc.mode, Mode::Dr | Mode::Tun) {
        let rips: Vec<_> = sc.servers.iter().map(|s| s.rip).collect();
        lan.client.warm_up(&rips);
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
        // Deliver the frames sent last round: to the owner of the destination MAC, or to
        // everyone but the sender (broadcast, unknown unicast).
        for (from, f) in std::mem::take(&mut in_flight) {
            frames += 1;
            let dst: [u8; 6] = f
                .get(..6)
                .and_then(|d| d.try_into().ok())
                .unwrap_or([0xff; 6]);
            let owner = (0..lan.nodes()).find(|&i| lan.mac(i) == dst);
            for i in 0..lan.nodes() {
                if i != from && owner.is_none_or(|o| o == i) {
                    lan.deliver(i, &f, now, dnow);
                }
            }
        }
        // Poll every node and collect what it sends.
        lan.director.handle_timeout(dnow);
        while let Some((_, f)) = lan.director.poll_transmit() {
            in_flight.push((0, f));
        }
        lan.client.poll(now);
        while let Some(f) = lan.client.transmit() {
            in_flight.push((1, f));
        }
        for (i, rs) in lan.servers.iter_mut().enumerate() {
            rs.poll(now);
            while let Some(f) = rs.transmit() {
                in_flight.push((i + 2, f));
            }
        }
        if measured.is_none() && !lan.client.warming() {
            measured = Some(Instant::now());
            measured_sim = sim_us;
        }
        if lan.client.finished() || sim_us >= SIM_LIMIT_MS * 1000 {
            break;
        }
        sim_us += if in_flight.is_empty() {
            // Nothing on the wire: jump to the next host timer (capped, so the director's
            // timers and ARP retries still run often enough).
            let next = std::iter::once(lan.client.poll_delay(now))
                .chain(lan.servers.iter_mut().map(|rs| rs.poll_delay(now)))
                .flatten()
                .map(|d| d.total_micros())
                .min()
                .unwrap_or(IDLE_JUMP_US);
            next.clamp(TICK_US, IDLE_JUMP_US)
        } else {
            TICK_US
        };
    }

    let dnow = base + Duration::from_micros(sim_us);
    let mut result = ModeResult::failed(sc, String::new());
    result.error = None;
    result.client = lan.client.report().clone();
    result.client.elapsed_s = measured.unwrap_or(wall).elapsed().as_secs_f64();
    let d = &mut lan.director;
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
    for (s, rs) in sc.servers.iter().zip(&lan.servers) {
        let st = rs.stats();
        result.notes.push(format!(
            "{}: {} HTTP responses; ARP requests left unanswered (arp_ignore=1) {}; \
             decapsulated ipip {} gue {} gre {}",
            s.name, st.http_responses, st.arp_ignored, st.decap_ipip, st.decap_gue, st.decap_gre
        ));
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
