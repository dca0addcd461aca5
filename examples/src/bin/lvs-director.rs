//! `lvs-director`: an LVS director on one TAP (one-armed) or two TAPs (client side and server
//! side), configured by ipvsadm rules, managed over a control socket by `lvsadm`.
//!
//! ```text
//! lvs-director --tap tap0 --mac 02:00:00:00:00:01 --vip 10.0.0.100 --dip 10.0.0.1/24 \
//!     --rules rules.txt [--tap-server tap1 --dip-server 10.1.0.1/24] [--gateway 10.0.0.254] \
//!     [--laddr 10.0.0.50]... [--control /run/lvs-director.sock] \
//!     [--ha-config keepalived.conf] [--sync-peer 10.0.0.2]
//! ```
//!
//! High availability (lvs_examples::ha): `--ha-config` runs the file's `vrrp_instance`s (a
//! BACKUP stays silent for the VIPs), `vrrp_script`s, notify scripts and `lvs_sync_daemon`;
//! `--start-daemon` rules run the sync daemons too. SIGTERM sends the priority-0 advert.
//! The link state of every `track_interface` and of each instance's `interface` (when it
//! exists in the director's namespace at start) is read from `/sys/class/net/IFNAME` every
//! 150 ms (lvs_examples::ha::link): down (operstate down / lowerlayerdown, carrier 0, or the
//! interface missing) puts the instance in FAULT (weight 0) or changes its priority.
//! `vrrp_track_file` / `vrrp_track_process` trackers (`track_file`, `track_process` in an
//! instance) are polled every 250 ms: the file's integer, and a /proc scan in place of
//! keepalived's netlink proc connector (lvs_examples::ha::track).
//!
//! The TAPs are opened by name (an existing persistent TAP, e.g. `ip tuntap add tap0 mode tap`,
//! is attached to; otherwise one is created) and set up. One thread runs everything: it reads
//! the TAPs without blocking, waits on the (first) TAP with a timeout bounded by the next timer
//! and by 10 ms (1 ms with two TAPs, whose second one it cannot wait on at the same time), and
//! accepts control connections between frames. SIGINT / SIGTERM end the loop; the control
//! socket file is removed on exit.
//!
//! Frames are read in bursts: every frame ready on a TAP, up to 32 (lvs-core's
//! `PROCESS_BATCH`), is read, passed through HA in arrival order, and the frames HA lets
//! through go to the engine together (`Engine::handle_frames`: one `process_batch` call for
//! their IP frames), all at one `now`; at most 256 frames per TAP per turn of the loop. A
//! frame to send longer than the MTU (`--mtu`, default the TAP's MTU, else 1500) leaves as IP
//! fragments.

/// jemalloc built with transparent huge pages (`thp:always`, see .cargo/config.toml): the
/// connection table's slab and hash index are mapped with 2 MiB pages, so a lookup among
/// millions of connections does not also pay a TLB miss per cache miss.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use lvs_arp::MacAddr;
use lvs_core::{Director, DirectorConfig, PROCESS_BATCH, PacketMeta};
use lvs_examples::control::{self, Request};
use lvs_examples::director::{
    DEFAULT_MTU, Engine, EngineConfig, IF_CLIENT, IF_SERVER, NeighMode, RxFrame, parse_cidr,
};
use lvs_examples::ha::link::{LinkWatch, read_link};
use lvs_examples::ha::{HaRuntime, Intercept};
use lvs_examples::health::VirtualServerHealth;
use lvs_examples::keepalived;
use lvs_examples::netns::{self, Tap};

/// An LVS director over TAP devices.
#[derive(Parser, Debug)]
#[command(name = "lvs-director", version)]
struct Args {
    /// The client-side (or only) TAP device.
    #[arg(long)]
    tap: String,
    /// The server-side TAP device of a two-legged director.
    #[arg(long, requires = "dip_server")]
    tap_server: Option<String>,
    /// The director's MAC address (both TAPs).
    #[arg(long)]
    mac: MacAddr,
    /// Virtual IPs the director answers ARP for (the services' VIPs are added anyway).
    #[arg(long)]
    vip: Vec<Ipv4Addr>,
    /// DIP(s) on the client-side TAP, IP/PREFIX (repeatable).
    #[arg(long, required = true, value_parser = parse_cidr)]
    dip: Vec<(Ipv4Addr, u8)>,
    /// DIP on the server-side TAP, IP/PREFIX.
    #[arg(long, value_parser = parse_cidr)]
    dip_server: Vec<(Ipv4Addr, u8)>,
    /// Next hop for destinations outside the DIP subnets.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// ipvsadm -R rules to load at start.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// keepalived.conf: its virtual_server blocks configure the services and their health
    /// checks (TCP_CHECK, HTTP_GET), run over the director's own IP presence.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Control socket path (default $LVS_CONTROL, $XDG_RUNTIME_DIR/lvs-director.sock or
    /// /run/lvs-director.sock).
    #[arg(long)]
    control: Option<PathBuf>,
    /// FULLNAT local addresses the director answers ARP for (server side).
    #[arg(long)]
    laddr: Vec<Ipv4Addr>,
    /// High availability: a keepalived.conf whose `vrrp_instance`s, `vrrp_script`s and
    /// `lvs_sync_daemon` run on the (first) TAP (lvs_examples::ha). Without it, sync daemons
    /// started by `--start-daemon` rules still run.
    #[arg(long)]
    ha_config: Option<PathBuf>,
    /// Connection sync to this unicast peer instead of the multicast group.
    #[arg(long)]
    sync_peer: Option<Ipv4Addr>,
    /// IP MTU of the TAPs, bytes: longer packets to send are refragmented, DF-set ones get
    /// ICMP fragmentation needed. Default: the smallest MTU of the TAPs when they exist
    /// already (/sys/class/net/TAP/mtu), else 1500.
    #[arg(long)]
    mtu: Option<u32>,
}

/// The MTU of an existing interface from sysfs.
fn sysfs_mtu(name: &str) -> Option<u32> {
    let p = std::path::Path::new("/sys/class/net")
        .join(name)
        .join("mtu");
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The next frame ready on `tap`, if any. A failed read (EIO while the TAP's link is down or
/// it is being moved to another namespace) counts as no frame: the link may come back, and
/// HA follows link state on its own.
fn read_frame(tap: &mut Tap) -> Option<Vec<u8>> {
    tap.try_recv().unwrap_or_else(|e| {
        tracing::debug!("{e}");
        None
    })
}

fn open_tap(name: &str) -> Result<Tap, String> {
    let tap = Tap::open(name).map_err(|e| e.to_string())?;
    netns::ip(&["link", "set", "dev", name, "up"]).map_err(|e| e.to_string())?;
    Ok(tap)
}

fn main() {
    // RUST_LOG=debug shows every drop and health probe decision; info by default.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let args = Args::parse();
    if let Err(e) = run(args) {
        tracing::error!("{e}");
        eprintln!("lvs-director: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let now = Instant::now();
    let mtu = args.mtu.unwrap_or_else(|| {
        std::iter::once(&args.tap)
            .chain(&args.tap_server)
            .filter_map(|t| sysfs_mtu(t))
            .min()
            .unwrap_or(DEFAULT_MTU as u32)
    });
    let dcfg = DirectorConfig {
        local_v4: args.dip.first().map(|d| d.0),
        // The director's MTU check (ICMP fragmentation needed for DF) at the TAPs' MTU.
        tun_mtu: mtu,
        ..DirectorConfig::default()
    };
    let mut director = Director::new(dcfg, now);
    if let Some(rules) = &args.rules {
        let text =
            std::fs::read_to_string(rules).map_err(|e| format!("{}: {e}", rules.display()))?;
        let resp = control::execute(
            &mut director,
            &Request {
                args: vec!["-R".into()],
                stdin: Some(text),
            },
            now,
        );
        if resp.status != 0 {
            return Err(format!("{}: {}", rules.display(), resp.stderr.trim_end()));
        }
    }
    let mut healths = Vec::new();
    if let Some(path) = &args.config {
        let conf = keepalived::parse_file(path).map_err(|e| e.to_string())?;
        for vs in &conf.virtual_servers {
            let h = VirtualServerHealth::new(vs, now);
            let add = lvs_core::ipvsadm::Command::AddService {
                key: vs.key,
                config: vs.config.clone(),
            };
            for c in std::iter::once(add).chain(h.initial_dest_commands()) {
                director.apply(&c, now).map_err(|e| {
                    format!("{}: virtual_server line {}: {e}", path.display(), vs.line)
                })?;
            }
            healths.push(h);
        }
    }
    let ecfg = EngineConfig {
        mac: args.mac,
        vips: args.vip.clone(),
        dips: args.dip.clone(),
        dips_server: args.dip_server.clone(),
        laddrs: args.laddr.clone(),
        gateway: args.gateway,
        neigh_mode: NeighMode::Resolve,
        local_stack: true,
        mtu: mtu as usize,
    };
    let mut engine = Engine::new(director, ecfg, now).map_err(|e| format!("addresses: {e}"))?;
    for h in healths {
        engine.add_health(h);
    }
    let dip = args.dip.first().map_or(Ipv4Addr::UNSPECIFIED, |d| d.0);
    let mut ha = HaRuntime::for_director(
        args.ha_config.as_deref(),
        dip,
        args.mac.0,
        args.sync_peer,
        now,
    )?;
    ha.follow_director_daemons(&engine.director);

    let mut taps = vec![open_tap(&args.tap)?];
    if let Some(t) = &args.tap_server {
        taps.push(open_tap(t)?);
    }

    // Link state of the instances' `interface` and `track_interface`s, polled from sysfs.
    // An instance's own interface missing at start is not watched: the VRRP of this binary
    // runs on its TAP whatever the name says (keepalived would refuse to start).
    let mut links = LinkWatch::new(
        ha.link_names().into_iter().filter_map(|(name, own)| {
            if own && !std::path::Path::new("/sys/class/net").join(&name).exists() {
                tracing::warn!(
                    "vrrp_instance interface {name} not found in this network namespace: \
                     its link state is not tracked (VRRP runs on TAP {})",
                    args.tap
                );
                return None;
            }
            Some(name)
        }),
        now,
    );

    let path = args.control.clone().unwrap_or_else(control::default_path);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", path.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| format!("signal: {e}"))?;
    }
    tracing::info!(
        tap = %args.tap,
        tap_server = ?args.tap_server,
        control = %path.display(),
        "director running"
    );

    let max_wait = if taps.len() > 1 {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(10)
    };
    // One burst of frames read from a TAP, and which of them HA passed (allocated once).
    let mut burst: Vec<Vec<u8>> = Vec::with_capacity(PROCESS_BATCH);
    let mut passed: Vec<usize> = Vec::with_capacity(PROCESS_BATCH);
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        for (i, tap) in taps.iter_mut().enumerate() {
            let ifindex = if i == 0 { IF_CLIENT } else { IF_SERVER };
            // Bounded per TAP so the other TAP and the control socket are served.
            let mut read = 0;
            while read < 256 {
                burst.clear();
                while burst.len() < PROCESS_BATCH
                    && let Some(frame) = read_frame(tap)
                {
                    burst.push(frame);
                }
                if burst.is_empty() {
                    break;
                }
                read += burst.len();
                busy = true;
                let now = Instant::now();
                passed.clear();
                for (k, frame) in burst.iter().enumerate() {
                    if i == 0 {
                        // A sync message changes the director: the frames before it first.
                        if ha.may_import(frame) {
                            to_engine(&mut engine, ifindex, &burst, &mut passed, now);
                        }
                        if ha.intercept(&mut engine.director, frame, now) != Intercept::Pass {
                            continue;
                        }
                    }
                    passed.push(k);
                }
                to_engine(&mut engine, ifindex, &burst, &mut passed, now);
            }
        }
        let now = Instant::now();
        if engine.poll_timeout(now).is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
        ha.handle_timeout(now);
        for (ifname, up) in links.poll(now, read_link) {
            ha.set_link(now, &ifname, up);
        }
        flush(&mut engine, &mut taps);
        flush_ha(&mut ha, &mut engine, &mut taps);
        match listener.accept() {
            Ok((conn, _)) => {
                busy = true;
                serve(&mut engine, &conn);
                ha.follow_director_daemons(&engine.director);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => tracing::warn!("control accept: {e}"),
        }
        flush(&mut engine, &mut taps);
        if !busy {
            let now = Instant::now();
            let wait = [
                engine.poll_timeout(now),
                ha.poll_timeout(),
                links.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait));
            let micros = u64::try_from(wait.as_micros()).unwrap_or(0);
            if let Some(tap) = taps.first() {
                let _ = smoltcp::phy::wait(
                    tap.as_raw_fd(),
                    Some(smoltcp::time::Duration::from_micros(micros)),
                );
            }
        }
    }
    // SIGTERM: a MASTER's priority-0 advert, so the backup takes over after Skew_Time.
    ha.shutdown(Instant::now());
    flush_ha(&mut ha, &mut engine, &mut taps);
    let _ = std::fs::remove_file(&path);
    let s = engine.stats();
    tracing::info!(
        rx = s.rx,
        tx = s.tx,
        drops = engine.director.drop_counts().iter().sum::<u64>(),
        "director stopped"
    );
    Ok(())
}

/// Hands the frames `passed` (indices into `burst`, received on `ifindex`) to the engine as
/// one batch, and empties `passed`.
fn to_engine(
    engine: &mut Engine,
    ifindex: u32,
    burst: &[Vec<u8>],
    passed: &mut Vec<usize>,
    now: Instant,
) {
    let frames = passed
        .iter()
        .filter_map(|&k| burst.get(k))
        .map(|f| RxFrame {
            ifindex,
            frame: f,
            meta: PacketMeta::default(),
        });
    engine.handle_frames(frames, now, |_, _| {});
    passed.clear();
}

fn flush(engine: &mut Engine, taps: &mut [Tap]) {
    while let Some((ifindex, frame)) = engine.poll_transmit() {
        let i = if ifindex == IF_SERVER && taps.len() > 1 {
            1
        } else {
            0
        };
        if let Some(t) = taps.get_mut(i)
            && let Err(e) = t.send(&frame)
        {
            tracing::warn!("TAP {}: {e}", t.name());
        }
    }
}

/// HA output (adverts, gratuitous ARPs, sync frames) goes out of the first TAP; HA's log
/// lines go to the log.
fn flush_ha(ha: &mut HaRuntime, engine: &mut Engine, taps: &mut [Tap]) {
    while let Some(frame) = ha.poll_transmit(&mut engine.director, Instant::now()) {
        if let Some(t) = taps.first_mut()
            && let Err(e) = t.send(&frame)
        {
            tracing::warn!("TAP {}: {e}", t.name());
        }
    }
    for l in ha.take_log() {
        tracing::info!("{l}");
    }
}

fn serve(engine: &mut Engine, conn: &std::os::unix::net::UnixStream) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    match control::read_request(conn) {
        Ok(req) => {
            let resp = if req.args.len() == 1 && req.args[0] == control::DROPS_ARG {
                let mut stdout = control::drops_text(&engine.director);
                stdout.push_str(&format!("engine {}\n", engine.stats().engine_drops));
                control::Response {
                    status: 0,
                    stdout,
                    stderr: String::new(),
                }
            } else {
                control::execute(&mut engine.director, &req, Instant::now())
            };
            tracing::info!(args = ?req.args, status = resp.status, "control command");
            if let Err(e) = control::write_response(conn, &resp) {
                tracing::warn!("control reply: {e}");
            }
        }
        Err(e) => tracing::warn!("control request: {e}"),
    }
}
