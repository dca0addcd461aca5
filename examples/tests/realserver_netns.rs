//! The real server against the Linux kernel's TCP/IP stack (root only; prints a skip line
//! otherwise): a client network namespace on a bridge with the real server's TAP.
//!
//! - `dr_kernel_client_*`: the `lvs-realserver` binary as a child process on a persistent TAP;
//!   the client reaches the VIP through a static neighbour entry pointing at the real server's
//!   MAC (what a director's MAC rewrite does); HTTP, TCP echo and UDP echo with socat; ARP for
//!   the VIP gets no answer, ARP for the RIP does; SIGTERM ends the server with status 0.
//! - `tun_kernel_client_*`: the library's [`RealServerThread`] on a TAP, the test as a one-armed
//!   LVS-TUN director (a TAP of its own, the client's route to the VIP points at it): it
//!   encapsulates the client's packets with `lvs_fwd::tun::encapsulate` (IPIP, GUE, GRE in
//!   turn) and the real server answers the kernel client directly from the VIP.

use lvs_arp::{ArpFrame, ArpOp, MacAddr};
use lvs_examples::netns::{self, ChildGuard, Lan, Netns, Tap};
use lvs_examples::realserver::{Decap, RealServerConfig, RealServerThread};
use lvs_fwd::tun::{EncapMeta, GueCsum, TunAddrs, TunType, TunnelConfig, encapsulate};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

const RS_MAC: &str = "02:00:00:00:09:01";
const RS_MAC_BYTES: [u8; 6] = [2, 0, 0, 0, 9, 1];
const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 9, 0x0d];

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b
}

/// Runs `socat` in `ns` against `target` (e.g. `TCP:192.0.2.1:80`), feeding `input` and
/// returning what came back (bounded: socat's -T inactivity timeout and -t close wait).
fn socat(ns: &Netns, target: &str, input: &[u8]) -> Vec<u8> {
    let mut child = ns
        .command("socat")
        .args(["-t", "2", "-T", "5", "-", target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "socat {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Sends one UDP datagram from `ns` to `ip` port 9 (discard), which makes the kernel resolve
/// `ip` with ARP, waits `wait`, and returns the neighbour entry (`ip neigh show`).
fn arp_probe(ns: &Netns, ip: &str, wait: Duration) -> String {
    let mut c = ns
        .command("socat")
        .args(["-u", "-", &format!("UDP:{ip}:9")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"x").unwrap();
    let _ = c.wait();
    std::thread::sleep(wait);
    ns.ip(&["neigh", "show", ip, "dev", "eth0"]).unwrap()
}

/// Fetches `http://ip/` from `ns` until it answers (the body) or `timeout` passes (`None`).
fn http_until(ns: &Netns, ip: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let out = ns
            .command("socat")
            .args([
                "-t",
                "2",
                "-T",
                "2",
                "-",
                &format!("TCP:{ip}:80,connect-timeout=2"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                c.wait_with_output()
            });
        if let Ok(o) = out
            && o.status.success()
            && !o.stdout.is_empty()
        {
            return Some(String::from_utf8_lossy(&o.stdout).into_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn can_run(test: &str) -> bool {
    if !netns::root_or_skip(test) {
        return false;
    }
    if !netns::have_program("socat") {
        println!("{test}: skipped: socat not installed");
        return false;
    }
    true
}

/// LVS-DR against the kernel: the binary on a persistent TAP, the kernel client's HTTP, TCP
/// echo and UDP echo through the VIP, ARP for the VIP unanswered (arp_ignore=1), ARP for the
/// RIP answered, clean exit on SIGTERM.
#[test]
fn dr_kernel_client_http_echo_and_arp_policy() {
    if !can_run("dr_kernel_client_http_echo_and_arp_policy") {
        return;
    }
    let mut lan = Lan::new("rsdl").unwrap();
    let client = lan.add_host("rsdc", &["10.77.8.2/24"]).unwrap();
    let br = lan.netns();
    br.ip(&["tuntap", "add", "dev", "rs0", "mode", "tap"])
        .unwrap();
    br.sysctl("net.ipv6.conf.rs0.disable_ipv6", "1").unwrap();
    br.set_master("rs0", netns::LAN_BRIDGE).unwrap();

    let logs = netns::TempDir::new("rslog").unwrap();
    let log_path = logs.join("rs.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = ChildGuard::spawn(
        br.command(env!("CARGO_BIN_EXE_lvs-realserver"))
            .env("RUST_LOG", "debug")
            .stderr(log_file)
            .args([
                "--tap",
                "rs0",
                "--mac",
                RS_MAC,
                "--rip",
                "10.77.8.10/24",
                "--vip",
                "10.77.8.100",
                "--name",
                "rs1",
            ]),
        "lvs-realserver",
    )
    .unwrap();

    // The RIP serves (once the server is up), so ARP for the RIP was answered.
    let body = http_until(&client, "10.77.8.10", Duration::from_secs(10));
    assert!(
        body.is_some_and(|b| b.ends_with("rs1\n")),
        "HTTP on the RIP"
    );
    let neigh = arp_probe(&client, "10.77.8.10", Duration::ZERO);
    assert!(
        neigh.contains(RS_MAC),
        "RIP resolved to the RS MAC: {neigh}"
    );

    // ARP for the VIP is not answered (a reply would come within milliseconds; the kernel
    // retries once a second).
    let neigh = arp_probe(&client, "10.77.8.100", Duration::from_millis(1500));
    assert!(
        neigh.contains("INCOMPLETE") || neigh.contains("FAILED"),
        "the kernel asked for the VIP and got no ARP reply (arp_ignore=1): {neigh:?}"
    );

    // The director's job (MAC rewrite), done by a static neighbour entry.
    client
        .ip(&[
            "neigh",
            "replace",
            "10.77.8.100",
            "lladdr",
            RS_MAC,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])
        .unwrap();
    let http = socat(&client, "TCP:10.77.8.100:80", b"GET / HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&http);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nrs1\n"), "{text}");

    // The kernel selftest's check: random bytes arrive intact.
    let data = random_bytes(32);
    assert_eq!(socat(&client, "TCP:10.77.8.100:7", &data), data);
    let dgram = random_bytes(32);
    assert_eq!(socat(&client, "UDP:10.77.8.100:7", &dgram), dgram);

    // Several HTTP clients at once.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let name = client.name().to_owned();
            std::thread::spawn(move || {
                let out = Command::new("ip")
                    .args(["netns", "exec", &name, "socat", "-t", "2", "-T", "5", "-"])
                    .arg("TCP:10.77.8.100:80")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        c.stdin
                            .take()
                            .unwrap()
                            .write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                        c.wait_with_output()
                    })
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().ends_with("rs1\n"));
    }

    let status = server.terminate(Duration::from_secs(5)).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}\n{log}");
    // The server's own account: lvs-arp's reason for staying silent about the VIP.
    assert!(
        log.lines().any(|l| l.contains("who-has 10.77.8.100")
            && l.contains("no reply")
            && l.contains("arp_ignore=1")),
        "{log}"
    );
    assert!(log.contains("real server stopped"), "{log}");
}

/// Sets `stop` and joins the thread when dropped.
struct StopOnDrop {
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// The test's one-armed LVS-TUN director on its own TAP: answers ARP for the DIP, encapsulates
/// IPv4 frames addressed to its MAC and the VIP to the RIP with the tunnel type selected by
/// `mode` (0 IPIP, 1 GUE, 2 GRE), and sends them to the real server's MAC.
fn director(
    tap: &mut Tap,
    stop: &AtomicBool,
    mode: &AtomicU8,
    dip: Ipv4Addr,
    rip: Ipv4Addr,
    vip: Ipv4Addr,
    gue_port: u16,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(frame)) = tap.recv(Duration::from_millis(50)) else {
            continue;
        };
        if frame.len() < 34 {
            continue;
        }
        if frame[12..14] == [0x08, 0x06] {
            if let Ok(arp) = ArpFrame::parse(&frame)
                && arp.op == ArpOp::Request
                && arp.target_ip == dip
            {
                let _ = tap.send(&arp.reply_to(MacAddr(DIRECTOR_MAC)).to_bytes());
            }
            continue;
        }
        if frame[0..6] != DIRECTOR_MAC || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        if ip[16..20] != vip.octets() {
            continue;
        }
        let tun_type = match mode.load(Ordering::Relaxed) {
            0 => TunType::Ipip,
            1 => TunType::Gue {
                port: gue_port,
                csum: GueCsum::Csum,
            },
            _ => TunType::Gre { csum: false },
        };
        let head = 14 + 64;
        let mut buf = vec![0u8; head + ip.len()];
        buf[head..].copy_from_slice(ip);
        let cfg = TunnelConfig::new(tun_type, TunAddrs::V4 { src: dip, dst: rip });
        let meta = EncapMeta {
            flow_hash: u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]),
            ..EncapMeta::default()
        };
        let Ok(outer) = encapsulate(&mut buf, head, &cfg, &meta) else {
            continue;
        };
        let start = outer.start - 14;
        buf[start..start + 6].copy_from_slice(&RS_MAC_BYTES);
        buf[start + 6..start + 12].copy_from_slice(&DIRECTOR_MAC);
        buf[start + 12..start + 14].copy_from_slice(&[0x08, 0x00]);
        let _ = tap.send(&buf[start..outer.end]);
    }
}

/// LVS-TUN against the kernel: the client's TCP to the VIP goes through the test's director,
/// which tunnels it to the RIP (IPIP, then GUE, then GRE); the real server decapsulates and
/// answers the kernel client straight from the VIP (direct return). HTTP and 32 random bytes
/// of TCP echo per tunnel type; the server's counters show each tunnel was used.
#[test]
fn tun_kernel_client_ipip_gue_gre() {
    if !can_run("tun_kernel_client_ipip_gue_gre") {
        return;
    }
    let dip = Ipv4Addr::new(10, 77, 9, 1);
    let rip = Ipv4Addr::new(10, 77, 9, 10);
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let gue_port = 6080;

    let mut lan = Lan::new("rstl").unwrap();
    let client = lan.add_host("rstc", &["10.77.9.2/24"]).unwrap();
    client
        .ip(&["route", "add", "192.0.2.100/32", "via", "10.77.9.1"])
        .unwrap();

    // The director on its own TAP, in a thread (a Tap is not Send: it is created there),
    // stopped and joined when the guard drops, before the LAN is deleted (also on panic).
    let stop = Arc::new(AtomicBool::new(false));
    let mode = Arc::new(AtomicU8::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let director_thread = {
        let (stop, mode) = (Arc::clone(&stop), Arc::clone(&mode));
        std::thread::spawn(move || {
            let mut tap = Tap::create("rsdir").unwrap();
            tx.send(tap.name().to_owned()).unwrap();
            director(&mut tap, &stop, &mode, dip, rip, vip, gue_port);
        })
    };
    let director_guard = StopOnDrop {
        stop: Arc::clone(&stop),
        join: Some(director_thread),
    };
    let dir_tap = rx.recv().unwrap();
    let attach = |name: &str| {
        let br = lan.netns();
        br.adopt_link(name).unwrap();
        br.sysctl(&format!("net.ipv6.conf.{name}.disable_ipv6"), "1")
            .unwrap();
        br.set_master(name, netns::LAN_BRIDGE).unwrap();
    };
    attach(&dir_tap);

    let mut cfg = RealServerConfig::new("rs2", RS_MAC_BYTES, rip, 24);
    cfg.gateway = Some(dip);
    cfg.vips.push(vip);
    cfg.decap = vec![Decap::Ipip, Decap::Gue(gue_port), Decap::Gre];
    let rs = RealServerThread::spawn(cfg, &netns::unique_name("rstap")).unwrap();
    attach(rs.tap_name());

    let body = http_until(&client, "10.77.9.10", Duration::from_secs(10));
    assert!(
        body.is_some_and(|b| b.ends_with("rs2\n")),
        "HTTP on the RIP"
    );
    for m in 0..3u8 {
        mode.store(m, Ordering::Relaxed);
        let http = socat(&client, "TCP:192.0.2.100:80", b"GET / HTTP/1.0\r\n\r\n");
        let text = String::from_utf8_lossy(&http);
        assert!(text.ends_with("\r\n\r\nrs2\n"), "mode {m}: {text}");
        let data = random_bytes(32);
        assert_eq!(socat(&client, "TCP:192.0.2.100:7", &data), data, "mode {m}");
    }
    let dgram = random_bytes(32);
    assert_eq!(socat(&client, "UDP:192.0.2.100:7", &dgram), dgram);

    let stats = rs.stop().unwrap();
    drop(director_guard);
    assert!(stats.decap_ipip > 0, "{stats:?}");
    assert!(stats.decap_gue > 0, "{stats:?}");
    assert!(stats.decap_gre > 0, "{stats:?}");
    assert_eq!(stats.decap_errors, 0, "{stats:?}");
    // One answer on the RIP while waiting for the server, three through the VIP.
    assert_eq!(stats.http_responses, 4, "{stats:?}");
}
