//! The namespace demo (root): the kernel's TCP as client and as real server, the lvs-rs
//! director on a TAP device.
//!
//! Per scenario a fresh topology is built with [`crate::netns`] (every namespace named
//! [`NS_PREFIX`] + process id + `x` + counter) and torn down afterwards, also on failure:
//! - a bridge namespace (the LAN, [`Lan`]) holding the TAP links of the userspace nodes;
//! - a client namespace with the four [`CLIENTS`] addresses on `eth0`;
//! - the director: `lvs-director` (a sibling binary of `lvs-demo`) one-armed on a persistent
//!   TAP of the bridge, with the scenario's rules (`--rules`, ipvsadm -R lines) and a control
//!   socket that `lvsadm -Ln --stats` reads at the end;
//! - DR, NAT, FULLNAT: three kernel real servers, one namespace each, set up as the seeds do
//!   (DR: `ip addr add VIP/32 dev lo`, `arp_ignore=1`, `arp_announce=2`; NAT: default route
//!   via the DIP), each serving HTTP with `lvs-demo __http-server --name rsN`;
//! - TUN (this kernel has no IPIP): three `lvs-realserver` processes on TAPs of the bridge,
//!   decapsulating ipip, gue and gre.
//!
//! The client is `lvs-demo __http-client` in the client namespace (kernel TCP, std::net),
//! printing a JSON [`ClientReport`]. SIGINT / SIGTERM set a flag that stops the run between
//! steps; the RAII guards of [`crate::netns`] then remove processes, links and namespaces.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::netns::{ChildGuard, LAN_BRIDGE, Lan, Netns, TempDir};

use super::{
    CLIENTS, ClientReport, DIP_CLIENT, DIP_SERVER, GUE_PORT, LADDR, Mode, ModeResult, Scenario,
    VIP, VPORT, check_spread,
};

/// Prefix of every namespace the demo creates (`lvsd<pid>x<n>`): a test checks that none is
/// left after a run.
pub const NS_PREFIX: &str = "lvsd";
/// How long a node may take to come up (director control socket, HTTP listeners).
const STARTUP: Duration = Duration::from_secs(10);
/// First source port of the measured requests (one fresh port per request).
const CLIENT_PORT_BASE: u16 = 20000;
/// The director's MAC.
const DIRECTOR_MAC: &str = "02:4c:56:53:00:01";

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The sibling binaries (`lvs-director`, `lvsadm`, `lvs-realserver`) next to this executable.
/// `cargo run --bin lvs-demo` builds only lvs-demo, so when one is missing they are built
/// with the cargo that built this binary (same profile).
fn sibling(name: &str) -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let dir = exe.parent().ok_or("executable has no directory")?;
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    println!("lvs-demo: {name} not built yet; building the lvs-examples binaries");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-q",
        "-p",
        "lvs-examples",
        "--bins",
        "--manifest-path",
    ])
    .arg(&manifest);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let st = cmd.status().map_err(err("cargo build"))?;
    if st.success() && path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found; run `cargo build --release -p lvs-examples --bins`",
            path.display()
        ))
    }
}

/// Everything one scenario runs on; fields drop in order: processes first, then namespaces.
struct Topology {
    servers: Vec<ChildGuard>,
    director: Option<ChildGuard>,
    hosts: Vec<Netns>,
    client: Netns,
    lan: Lan,
    dir: TempDir,
}

fn check_stop(stop: &AtomicBool) -> Res<()> {
    if stop.load(Ordering::Relaxed) {
        Err("interrupted".to_owned())
    } else {
        Ok(())
    }
}

/// Poll `probe` every 50 ms until it is true or [`STARTUP`] passes.
fn wait_for(what: &str, stop: &AtomicBool, mut probe: impl FnMut() -> bool) -> Res<()> {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        check_stop(stop)?;
        if probe() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{what} did not come up within {} s",
        STARTUP.as_secs()
    ))
}

/// A persistent TAP link `name` in the bridge namespace, a bridge port, up.
fn add_tap(lan: &Lan, name: &str) -> Res<()> {
    let br = lan.netns();
    br.ip(&["tuntap", "add", "dev", name, "mode", "tap"])
        .map_err(err("ip tuntap add"))?;
    br.sysctl(&format!("net.ipv6.conf.{name}.disable_ipv6"), "1")
        .map_err(err("sysctl"))?;
    br.set_master(name, LAN_BRIDGE)
        .map_err(err("bridge port"))?;
    Ok(())
}

/// Whether this machine lets the demo build its topology: `ip` (iproute2) present, network
/// namespaces, a bridge, veth pairs and TAP devices creatable (root in an unprivileged
/// container is not enough). `Err(why)` otherwise; nothing is left behind either way.
pub fn available() -> Res<()> {
    if !crate::netns::have_program("ip") {
        return Err("`ip` (iproute2) is not installed".to_owned());
    }
    let mut lan = Lan::new(NS_PREFIX).map_err(err("network namespace with a bridge"))?;
    add_tap(&lan, "ptap0")?;
    let _host = lan
        .add_host(NS_PREFIX, &["192.0.2.1/24"])
        .map_err(err("veth pair"))?;
    Ok(())
}

fn build(sc: &Scenario, stop: &AtomicBool) -> Res<Topology> {
    let demo = std::env::current_exe().map_err(err("current_exe"))?;
    let director_bin = sibling("lvs-director")?;
    let dir = TempDir::new(NS_PREFIX).map_err(err("temp dir"))?;
    let mut lan = Lan::new(NS_PREFIX).map_err(err("bridge namespace"))?;
    let cidrs: Vec<String> = CLIENTS.iter().map(|c| format!("{c}/24")).collect();
    let cidr_refs: Vec<&str> = cidrs.iter().map(String::as_str).collect();
    let client = lan
        .add_host(NS_PREFIX, &cidr_refs)
        .map_err(err("client namespace"))?;
    let mut topo = Topology {
        servers: Vec::new(),
        director: None,
        hosts: Vec::new(),
        client,
        lan,
        dir,
    };

    // The director, one-armed on a TAP of the bridge.
    let rules = topo.dir.join("rules");
    std::fs::write(&rules, sc.rules().join("\n") + "\n").map_err(err("rules file"))?;
    let control = topo.dir.join("control.sock");
    let log = std::fs::File::create(topo.dir.join("director.log")).map_err(err("log"))?;
    add_tap(&topo.lan, "dtap0")?;
    let mut cmd = topo.lan.netns().command(&director_bin);
    cmd.args([
        "--tap",
        "dtap0",
        "--mac",
        DIRECTOR_MAC,
        "--vip",
        &VIP.to_string(),
    ])
    .args(["--dip", &format!("{DIP_CLIENT}/24")])
    .arg("--rules")
    .arg(&rules)
    .arg("--control")
    .arg(&control)
    .stdout(Stdio::null())
    .stderr(log);
    if sc.mode.server_subnet() {
        cmd.args(["--dip", &format!("{DIP_SERVER}/24")]);
    }
    if sc.mode == Mode::FullNat {
        cmd.args(["--laddr", &LADDR.to_string()]);
    }
    topo.director = Some(ChildGuard::spawn(&mut cmd, "lvs-director").map_err(err("lvs-director"))?);
    wait_for("lvs-director's control socket", stop, || control.exists())?;

    // The real servers.
    for (i, s) in sc.servers.iter().enumerate() {
        let rip = format!("{}/24", s.rip);
        if sc.mode == Mode::Tun {
            let rs_bin = sibling("lvs-realserver")?;
            let tap = format!("rtap{i}");
            add_tap(&topo.lan, &tap)?;
            let mut cmd = topo.lan.netns().command(&rs_bin);
            cmd.args([
                "--tap",
                &tap,
                "--mac",
                &format!("02:4c:56:53:01:{:02x}", i + 1),
            ])
            .args(["--rip", &rip, "--vip", &VIP.to_string(), "--name", &s.name])
            .args(["--decap", "ipip", "--decap", &format!("gue:{GUE_PORT}")])
            .args(["--decap", "gre"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            topo.servers.push(
                ChildGuard::spawn(&mut cmd, "lvs-realserver").map_err(err("lvs-realserver"))?,
            );
            continue;
        }
        let ns = topo
            .lan
            .add_host(NS_PREFIX, &[rip.as_str()])
            .map_err(err("real server namespace"))?;
        match sc.mode {
            Mode::Dr => {
                ns.add_addr("lo", &format!("{VIP}/32"))
                    .map_err(err("VIP on lo"))?;
                for k in ["all", "eth0"] {
                    ns.sysctl(&format!("net.ipv4.conf.{k}.arp_ignore"), "1")
                        .map_err(err("arp_ignore"))?;
                    ns.sysctl(&format!("net.ipv4.conf.{k}.arp_announce"), "2")
                        .map_err(err("arp_announce"))?;
                }
            }
            Mode::Nat => {
                ns.ip(&["route", "add", "default", "via", &DIP_SERVER.to_string()])
                    .map_err(err("default route"))?;
            }
            Mode::Tun | Mode::FullNat => {}
        }
        let mut cmd = ns.command(&demo);
        cmd.args([
            "__http-server",
            "--name",
            &s.name,
            "--port",
            &VPORT.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        topo.servers
            .push(ChildGuard::spawn(&mut cmd, "http server").map_err(err("http server"))?);
        topo.hosts.push(ns);
    }
    // Every HTTP listener answers on its RIP (from its own namespace for the kernel ones,
    // from the client for lvs-realserver, which is on the client subnet).
    // lvs-realserver is probed from every client address, which also fills its neighbour
    // table (smoltcp drops the first reply to an unresolved client and retransmits it only
    // after its RTO, a second that would show in the measured rate).
    let from: Vec<String> = CLIENTS.iter().map(ToString::to_string).collect();
    let from = from.join(",");
    for (i, s) in sc.servers.iter().enumerate() {
        let (probe_ns, from, n) = match topo.hosts.get(i) {
            Some(ns) => (ns, None, 1),
            None => (&topo.client, Some(from.as_str()), CLIENTS.len()),
        };
        let target = format!("{}:{VPORT}", s.rip);
        wait_for(&format!("{}'s HTTP server", s.name), stop, || {
            run_client(&demo, probe_ns, &target, from, n, 1, None)
                .is_ok_and(|r| r.successes == n as u64)
        })?;
    }
    Ok(topo)
}

/// Run `lvs-demo __http-client` in `ns`.
fn run_client(
    demo: &Path,
    ns: &Netns,
    target: &str,
    from: Option<&str>,
    requests: usize,
    concurrency: usize,
    port_base: Option<u16>,
) -> Res<ClientReport> {
    let mut cmd = ns.command(demo);
    cmd.args(["__http-client", "--target", target])
        .args(["--requests", &requests.to_string()])
        .args(["--concurrency", &concurrency.to_string()]);
    if let Some(f) = from {
        cmd.args(["--from", f]);
    }
    if let Some(p) = port_base {
        cmd.args(["--port-base", &p.to_string()]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(err("__http-client"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "__http-client output ({e}): {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let v: Vec<&str> = s.lines().collect();
    v.get(v.len().saturating_sub(lines)..)
        .unwrap_or(&[])
        .join("\n")
}

fn run_in(sc: &Scenario, stop: &AtomicBool) -> Res<ModeResult> {
    let demo = std::env::current_exe().map_err(err("current_exe"))?;
    let mut topo = build(sc, stop)?;
    check_stop(stop)?;
    let from: Vec<String> = CLIENTS.iter().map(ToString::to_string).collect();
    let report = run_client(
        &demo,
        &topo.client,
        &format!("{VIP}:{VPORT}"),
        Some(&from.join(",")),
        sc.requests,
        sc.concurrency,
        Some(CLIENT_PORT_BASE),
    );
    let stats = Command::new(sibling("lvsadm")?)
        .arg("--control")
        .arg(topo.dir.join("control.sock"))
        .args(["-Ln", "--stats"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_else(|e| format!("lvsadm: {e}\n"));
    let mut result = ModeResult::failed(sc, String::new());
    result.error = None;
    result.stats = stats;
    match report {
        Ok(r) => result.client = r,
        Err(e) => result.error = Some(e),
    }
    result.spread = check_spread(sc, &result.client);
    result.notes.push(format!(
        "namespaces: bridge {}, client {}, real servers [{}]; director lvs-director on TAP dtap0",
        topo.lan.netns().name(),
        topo.client.name(),
        topo.hosts
            .iter()
            .map(Netns::name)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if !result.passed() {
        result.notes.push(format!(
            "lvs-director log (tail):\n{}",
            tail(&topo.dir.join("director.log"), 10)
        ));
    }
    if let Some(d) = topo.director.as_mut()
        && let Ok(Some(st)) = d.try_wait()
    {
        result.error = Some(format!("lvs-director exited early: {st}"));
    }
    drop(topo);
    check_stop(stop)?;
    Ok(result)
}

/// Run every scenario in network namespaces (root), printing each block as it finishes.
/// SIGINT / SIGTERM stop the run after cleaning up.
pub fn run_all(requests: usize, mut print: impl FnMut(&str)) -> Vec<ModeResult> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("lvs-demo: cannot handle signal {sig}: {e}");
        }
    }
    let mut out = Vec::new();
    for sc in Scenario::all(requests) {
        let r = run_in(&sc, &stop).unwrap_or_else(|e| ModeResult::failed(&sc, e));
        print(&r.render());
        out.push(r);
        if stop.load(Ordering::Relaxed) {
            print("lvs-demo: interrupted; everything removed\n");
            break;
        }
    }
    out
}
