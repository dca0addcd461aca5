//! The `lvs-demo` binary's library: the four forwarding methods (DR, NAT, TUN, FULLNAT) each
//! carrying real HTTP requests through a director, with the seed notes' rules.
//!
//! Two variants run the same [`Scenario`]s:
//! - [`vlan`]: without root, an in-process virtual LAN: the client and the real servers are
//!   smoltcp hosts, links are in-memory frame queues carrying real Ethernet frames, the
//!   director is `lvs-director`'s runtime without its TAP ([`crate::director::Engine`]:
//!   [`lvs_core::Director`] plus ARP decided by [`lvs_arp`]), time is simulated.
//! - [`ns`]: as root, Linux network namespaces: the kernel's TCP in a client namespace and in
//!   the real servers' namespaces (HTTP served by `lvs-demo __http-server`), the director on a
//!   TAP device (bridged into the LAN), a smoltcp real server on a TAP for TUN.
//!
//! Every scenario prints the requests, the successes, requests per second, the spread across
//! real servers (checked against the scheduler's rule) and `ipvsadm -Ln --stats`.

pub mod client;
pub mod http;
pub mod ns;
pub mod vlan;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// The virtual IP of every scenario (the seeds' `192.168.56.200:80`).
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 200);
/// The virtual service's port.
pub const VPORT: u16 = 80;
/// The director's address on the client subnet (192.168.56.0/24).
pub const DIP_CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 100);
/// The director's address on the server subnet (10.0.0.0/24): NAT real servers' gateway.
pub const DIP_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// FULLNAT local address (`--laddr`): the source of the packets real servers see.
pub const LADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// Client addresses (all on one client host, 192.168.56.0/24): several, so that source
/// hashing shows its stickiness per client.
pub const CLIENTS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(192, 168, 56, 10),
    Ipv4Addr::new(192, 168, 56, 11),
    Ipv4Addr::new(192, 168, 56, 12),
    Ipv4Addr::new(192, 168, 56, 13),
];
/// The GUE port of the TUN scenario's GUE real server (`--tun-port`).
pub const GUE_PORT: u16 = 6080;

/// A forwarding method (ipvsadm `-g`, `-m`, `-i`, `--fullnat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Direct routing (`-g`, LVS-DR).
    Dr,
    /// Masquerading (`-m`, LVS-NAT).
    Nat,
    /// Tunnelling (`-i`, LVS-TUN: IPIP, GUE, GRE).
    Tun,
    /// Full NAT (`--fullnat`): source and destination rewritten.
    FullNat,
}

impl Mode {
    /// Short name as printed (`DR`, `NAT`, `TUN`, `FULLNAT`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dr => "DR",
            Mode::Nat => "NAT",
            Mode::Tun => "TUN",
            Mode::FullNat => "FULLNAT",
        }
    }

    /// Whether the real servers live on the server subnet (10.0.0.0/24) rather than on the
    /// client subnet with the VIP on lo.
    pub fn server_subnet(self) -> bool {
        matches!(self, Mode::Nat | Mode::FullNat)
    }
}

/// How a scenario's spread across real servers is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadRule {
    /// rr (ip_vs_rr.c): every real server gets `n / servers` requests, give or take one.
    Even,
    /// wrr (ip_vs_wrr.c): shares proportional to the weights, give or take one per server
    /// per cycle of the weights' sum.
    ByWeight,
    /// wlc (ip_vs_wlc.c): every real server gets some (at least a sixth of the even share:
    /// the least-connection choice follows the timing of the connections).
    AllServed,
    /// sh / mh (ip_vs_sh.c, ip_vs_mh.c, both hashing the source address): every client
    /// address sticks to one real server.
    StickyPerClient,
}

/// One real server of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// Its name, which its HTTP responder returns as the body (`rs1`).
    pub name: String,
    /// Its RIP.
    pub rip: Ipv4Addr,
    /// Its ipvsadm weight.
    pub weight: u32,
    /// TUN only: the tunnel type its rule asks for (`ipip`, `gue`, `gre`).
    pub tun_type: Option<&'static str>,
}

/// One demo scenario: a forwarding method, a scheduler, the rules and the real servers.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The forwarding method.
    pub mode: Mode,
    /// The ipvsadm scheduler name (`rr`, `wrr`, `wlc`, `sh`, `mh`).
    pub scheduler: &'static str,
    /// The real servers.
    pub servers: Vec<RealServer>,
    /// The judgement of the spread.
    pub spread: SpreadRule,
    /// HTTP requests to send.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Scenario {
    /// The five scenarios in order: DR rr (the seed's rules), NAT wrr 3:2:1, TUN wlc (one
    /// real server per tunnel type: ipip, gue, gre), FULLNAT sh, and DR again with mh
    /// (Maglev hashing, ip_vs_mh.c).
    pub fn all(requests: usize) -> Vec<Scenario> {
        let client_side = |i: u8| Ipv4Addr::new(192, 168, 56, 100 + i);
        let server_side = |i: u8| Ipv4Addr::new(10, 0, 0, 10 + i);
        let rs = |i: u8, rip: Ipv4Addr, weight: u32, tun: Option<&'static str>| RealServer {
            name: format!("rs{i}"),
            rip,
            weight,
            tun_type: tun,
        };
        vec![
            Scenario {
                mode: Mode::Dr,
                scheduler: "rr",
                servers: (1..=3).map(|i| rs(i, client_side(i), 1, None)).collect(),
                spread: SpreadRule::Even,
                requests,
                concurrency: 8,
            },
            Scenario {
                mode: Mode::Nat,
                scheduler: "wrr",
                servers: (1..=3)
                    .map(|i| rs(i, server_side(i), u32::from(4 - i), None))
                    .collect(),
                spread: SpreadRule::ByWeight,
                requests,
                concurrency: 8,
            },
            Scenario {
                mode: Mode::Tun,
                scheduler: "wlc",
                servers: [(1, "ipip"), (2, "gue"), (3, "gre")]
                    .into_iter()
                    .map(|(i, t)| rs(i, client_side(i), 1, Some(t)))
                    .collect(),
                spread: SpreadRule::AllServed,
                requests,
                concurrency: 8,
            },
            Scenario {
                mode: Mode::FullNat,
                scheduler: "sh",
                servers: (1..=3).map(|i| rs(i, server_side(i), 1, None)).collect(),
                spread: SpreadRule::StickyPerClient,
                requests,
                concurrency: 8,
            },
            Scenario {
                mode: Mode::Dr,
                scheduler: "mh",
                servers: (1..=3).map(|i| rs(i, client_side(i), 1, None)).collect(),
                spread: SpreadRule::StickyPerClient,
                requests,
                concurrency: 8,
            },
        ]
    }

    /// The scenario's ipvsadm rules (`ipvsadm -R` lines, without the leading `ipvsadm`).
    pub fn rules(&self) -> Vec<String> {
        let svc = format!("-t {VIP}:{VPORT}");
        let mut v = vec![match self.mode {
            Mode::FullNat => format!("-A {svc} -s {} --laddr {LADDR}", self.scheduler),
            _ => format!("-A {svc} -s {}", self.scheduler),
        }];
        for s in &self.servers {
            let fwd = match (self.mode, s.tun_type) {
                (Mode::Dr, _) => "-g".to_owned(),
                (Mode::Nat, _) => "-m".to_owned(),
                (Mode::Tun, Some("gue")) => format!("-i --tun-type gue --tun-port {GUE_PORT}"),
                (Mode::Tun, Some(t)) => format!("-i --tun-type {t}"),
                (Mode::Tun, None) => "-i".to_owned(),
                (Mode::FullNat, _) => "--fullnat".to_owned(),
            };
            v.push(format!(
                "-a {svc} -r {}:{VPORT} {fwd} -w {}",
                s.rip, s.weight
            ));
        }
        v
    }

    /// Title line: `DR (direct routing, -g), scheduler rr`.
    pub fn title(&self) -> String {
        let long = match self.mode {
            Mode::Dr => {
                "direct routing, -g; real servers: VIP on lo/32, arp_ignore=1, arp_announce=2"
            }
            Mode::Nat => "masquerading, -m; real servers: default route via the DIP",
            Mode::Tun => "tunnelling, -i; real servers decapsulate ipip / gue / gre",
            Mode::FullNat => "full NAT, --fullnat; real servers see the local address",
        };
        format!(
            "{} ({long}), scheduler {}",
            self.mode.name(),
            self.scheduler
        )
    }
}

/// What a client run measured (also the JSON the namespace demo's `__http-client` prints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered `200 OK` with a real server's name as the body.
    pub successes: u64,
    /// Wall-clock seconds the run took.
    pub elapsed_s: f64,
    /// Successful requests per real-server name.
    pub by_server: BTreeMap<String, u64>,
    /// Successful requests per client address, then per real-server name.
    pub by_client: BTreeMap<String, BTreeMap<String, u64>>,
    /// The first few failures, described.
    pub errors: Vec<String>,
}

impl ClientReport {
    /// Count one success from `client` answered by `server`.
    pub fn success(&mut self, client: Ipv4Addr, server: &str) {
        self.successes += 1;
        *self.by_server.entry(server.to_owned()).or_default() += 1;
        *self
            .by_client
            .entry(client.to_string())
            .or_default()
            .entry(server.to_owned())
            .or_default() += 1;
    }

    /// Record one failure (the first 5 are kept).
    pub fn failure(&mut self, what: String) {
        if self.errors.len() < 5 {
            self.errors.push(what);
        }
    }

    /// Successful requests per second of wall-clock time.
    pub fn rate(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.successes as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// Parse an HTTP/1.0 response: `Some(body)` (trimmed) for a `200` status line.
pub fn parse_response(resp: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(resp).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    let mut parts = status.split_whitespace();
    let (version, code) = (parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || code != "200" {
        return None;
    }
    Some(body.trim().to_owned())
}

/// The request every client sends.
pub const HTTP_REQUEST: &str =
    "GET / HTTP/1.0\r\nHost: 192.168.56.200\r\nUser-Agent: lvs-demo\r\n\r\n";

/// Judge the spread of `report` against `scenario`'s [`SpreadRule`]: `Ok(description)` or
/// `Err(what is wrong)`.
pub fn check_spread(scenario: &Scenario, report: &ClientReport) -> Result<String, String> {
    let n = report.successes;
    let count = |name: &str| report.by_server.get(name).copied().unwrap_or(0);
    let unknown: Vec<&String> = report
        .by_server
        .keys()
        .filter(|k| !scenario.servers.iter().any(|s| &s.name == *k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!("answers from unknown servers {unknown:?}"));
    }
    match scenario.spread {
        SpreadRule::Even => {
            let k = scenario.servers.len() as u64;
            for s in &scenario.servers {
                let c = count(&s.name);
                if c.abs_diff(n / k) > 1 {
                    return Err(format!("rr: {} got {c}, expected {} +- 1", s.name, n / k));
                }
            }
            Ok("rr: even".to_owned())
        }
        SpreadRule::ByWeight => {
            let total: u64 = scenario.servers.iter().map(|s| u64::from(s.weight)).sum();
            for s in &scenario.servers {
                let c = count(&s.name);
                let expect = n * u64::from(s.weight) / total.max(1);
                if c.abs_diff(expect) > u64::from(s.weight) {
                    return Err(format!("wrr: {} got {c}, expected {expect}", s.name));
                }
            }
            let w: Vec<String> = scenario
                .servers
                .iter()
                .map(|s| s.weight.to_string())
                .collect();
            Ok(format!("wrr: by weight {}", w.join(":")))
        }
        SpreadRule::AllServed => {
            let k = scenario.servers.len() as u64;
            for s in &scenario.servers {
                let c = count(&s.name);
                if c * 6 * k < n {
                    return Err(format!(
                        "{}: {} got only {c} of {n}",
                        scenario.scheduler, s.name
                    ));
                }
            }
            Ok(format!("{}: every real server served", scenario.scheduler))
        }
        SpreadRule::StickyPerClient => {
            for (client, servers) in &report.by_client {
                if servers.len() != 1 {
                    return Err(format!(
                        "{}: client {client} went to several real servers {servers:?}",
                        scenario.scheduler
                    ));
                }
            }
            let map: Vec<String> = report
                .by_client
                .iter()
                .map(|(c, s)| format!("{c}->{}", s.keys().next().map_or("?", |k| k)))
                .collect();
            Ok(format!(
                "{}: sticky per client ({})",
                scenario.scheduler,
                map.join(", ")
            ))
        }
    }
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ModeResult {
    /// The scenario run.
    pub scenario: Scenario,
    /// What the client measured.
    pub client: ClientReport,
    /// `ipvsadm -Ln --stats` at the end of the run.
    pub stats: String,
    /// The spread judgement.
    pub spread: Result<String, String>,
    /// A setup or run error that stopped the scenario, if any.
    pub error: Option<String>,
    /// Extra lines to print (e.g. simulated time, director counters).
    pub notes: Vec<String>,
}

impl ModeResult {
    /// A scenario that could not run.
    pub fn failed(scenario: &Scenario, error: String) -> ModeResult {
        ModeResult {
            scenario: scenario.clone(),
            client: ClientReport::default(),
            stats: String::new(),
            spread: Err("not run".to_owned()),
            error: Some(error),
            notes: Vec::new(),
        }
    }

    /// Passed: no error, every request answered, the spread as the scheduler says.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.client.requests > 0
            && self.client.successes == self.client.requests
            && self.spread.is_ok()
    }

    /// The per-mode block the demo prints.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let c = &self.client;
        let _ = writeln!(o, "== {} ==", self.scenario.title());
        for r in self.scenario.rules() {
            let _ = writeln!(o, "  ipvsadm {r}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(o, "error: {e}");
        }
        let _ = writeln!(
            o,
            "requests: {}  successes: {}  elapsed: {:.3} s  requests/s: {:.0}",
            c.requests,
            c.successes,
            c.elapsed_s,
            c.rate()
        );
        let spread: Vec<String> = self
            .scenario
            .servers
            .iter()
            .map(|s| {
                format!(
                    "{} ({}) {}",
                    s.name,
                    s.rip,
                    c.by_server.get(&s.name).copied().unwrap_or(0)
                )
            })
            .collect();
        let _ = writeln!(o, "spread: {}", spread.join(", "));
        match &self.spread {
            Ok(s) => {
                let _ = writeln!(o, "spread check: ok ({s})");
            }
            Err(e) => {
                let _ = writeln!(o, "spread check: FAILED ({e})");
            }
        }
        for e in &c.errors {
            let _ = writeln!(o, "failure: {e}");
        }
        for n in &self.notes {
            let _ = writeln!(o, "{n}");
        }
        o.push_str("$ lvsadm -Ln --stats\n");
        o.push_str(&self.stats);
        let _ = writeln!(
            o,
            "result: {}\n",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        o
    }
}

/// The closing table: one line per mode, requests/s, PASS / FAIL.
pub fn summary(variant: &str, results: &[ModeResult]) -> String {
    let mut o = format!("== summary ({variant}) ==\n");
    let _ = writeln!(
        o,
        "{:<8} {:<5} {:>8} {:>9} {:>11}  result",
        "mode", "sched", "requests", "successes", "requests/s"
    );
    for r in results {
        let _ = writeln!(
            o,
            "{:<8} {:<5} {:>8} {:>9} {:>11.0}  {}",
            r.scenario.mode.name(),
            r.scenario.scheduler,
            r.client.requests,
            r.client.successes,
            r.client.rate(),
            if r.passed() { "PASS" } else { "FAIL" }
        );
    }
    let ok = results.iter().all(ModeResult::passed) && !results.is_empty();
    let _ = writeln!(o, "all modes passed: {}", if ok { "yes" } else { "NO" });
    o
}

/// Requests per mode when `--requests` is not given.
pub const DEFAULT_REQUESTS: usize = 200;

fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Print the results' blocks' summary and turn them into the exit status.
fn finish(variant: &str, results: &[ModeResult]) -> std::process::ExitCode {
    print!("{}", summary(variant, results));
    if !results.is_empty() && results.iter().all(ModeResult::passed) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The HA scene (root only, after the four modes): two directors with VRRPv3 (advert_int
/// 10 cs) and connection sync, 100 connections streaming through the VIP in DR mode, the
/// master killed with SIGKILL, then restarted (it preempts back). Passes when the backup took
/// over and every connection survived (none reset or stalled more than 2 s). See
/// [`crate::ha::demo_scene`].
fn ha_scene() -> bool {
    println!(
        "\n== HA (two directors, VRRPv3 advert_int 10 cs, connection sync, mh; the master is \
         killed with SIGKILL, then restarted) =="
    );
    match crate::ha::demo_scene(1, 100, false, &mut std::io::stdout()) {
        Ok(r) => {
            let ok = r.streams.total > 0 && r.streams.lost() == 0;
            println!("result: {}", if ok { "PASS" } else { "FAIL" });
            ok
        }
        Err(e) => {
            println!("ha: {e}\nresult: FAIL");
            false
        }
    }
}

/// The `lvs-demo` command line (arguments without the program name). See the binary's docs.
pub fn main(args: Vec<String>) -> std::process::ExitCode {
    use std::process::ExitCode;
    match args.first().map(String::as_str) {
        Some("__http-server") => {
            let name = flag_value(&args, "--name").unwrap_or_else(|| "rs".to_owned());
            let port = flag_value(&args, "--port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(VPORT);
            return match http::serve(&name, port) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lvs-demo __http-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("__http-client") => return http::client_main(&args),
        Some("-h" | "--help") => {
            println!(
                "usage: lvs-demo [--vlan | --netns] [--requests N]\n\
                 Runs DR, NAT, TUN and FULLNAT through the lvs-rs director with real HTTP \
                 requests: in network namespaces as root, on an in-process virtual LAN \
                 otherwise. Exit status 0 only if every mode passed."
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let requests = flag_value(&args, "--requests")
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let force_vlan = args.iter().any(|a| a == "--vlan");
    let force_netns = args.iter().any(|a| a == "--netns");
    let root = crate::netns::is_root();
    let mut use_netns = force_netns || (root && !force_vlan);
    if use_netns && !root {
        eprintln!("lvs-demo: --netns needs root");
        return ExitCode::FAILURE;
    }
    if use_netns && let Err(why) = ns::available() {
        if force_netns {
            eprintln!("lvs-demo: --netns: cannot build the namespaces: {why}");
            return ExitCode::FAILURE;
        }
        println!("lvs-demo: root, but network namespaces are not usable here ({why})");
        use_netns = false;
    }
    if use_netns {
        println!("lvs-demo: root: Linux network namespaces, kernel TCP clients and real servers\n");
        let results = ns::run_all(requests, |s| print!("{s}"));
        let modes = finish("network namespaces", &results);
        let ha = ha_scene();
        return if modes == ExitCode::SUCCESS && ha {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    println!(
        "lvs-demo: {}in-process virtual LAN (smoltcp hosts, in-memory Ethernet links, \
         simulated time)\n",
        if root { "" } else { "not root: " }
    );
    let results = vlan::run_all(requests, |s| print!("{s}"));
    finish("virtual LAN", &results)
}
