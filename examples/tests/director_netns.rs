//! Root-only end-to-end tests of `lvs-director` with kernel clients and kernel real servers in
//! network namespaces, the check of the kernel's own IPVS selftest
//! (tools/testing/selftests/net/netfilter/ipvs.sh): random bytes sent over TCP (and UDP)
//! through the VIP arrive intact at the real server, and the client sees replies from the VIP.
//!
//! Topology (one-armed director): a LAN bridge namespace; the director's TAP is a bridge port
//! (a persistent TAP created in the bridge namespace, opened by the director run there); the
//! client and the real servers are namespaces with a veth on the bridge.
//! - DR: client 10.9.0.2/24, real servers 10.9.0.11/.12 with the VIP 10.9.0.100/32 on lo,
//!   `arp_ignore=1`, `arp_announce=2` (the LVS-DR recipe, ipvs.sh `setup_dr`).
//! - NAT: the client in another subnet (10.9.1.2/24, VIP 10.9.1.100 on-link) so its replies
//!   must cross the director; real servers route default via the DIP 10.9.0.1 (ipvs.sh
//!   `setup_nat`).
//! - FULLNAT: as NAT, but the real servers have no route to the client at all: they answer
//!   the FULLNAT local address 10.9.0.50 (on-link), which the director answers ARP for.
//!
//! Each real server runs socat: TCP (port 80) and UDP (port 53) answer with the server's name
//! line, then echo the request and append it to a file in the test's temporary directory. The
//! client's socat uses a connected socket, so a reply from another address than the VIP never
//! reaches it (TCP would be reset, UDP filtered by the kernel).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lvs_examples::netns::{self, ChildGuard, Lan, Netns, TempDir};

const DIRECTOR_MAC: &str = "02:00:00:00:09:01";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Dr,
    Nat,
    FullNat,
}

struct Topo {
    // Drop order: processes first, then namespaces, then files.
    servers: Vec<ChildGuard>,
    director: Option<ChildGuard>,
    client: Netns,
    rs: Vec<Netns>,
    lan: Lan,
    dir: TempDir,
    vip: &'static str,
    control: PathBuf,
    tap: String,
}

fn bin(name: &str) -> &'static str {
    match name {
        "lvs-director" => env!("CARGO_BIN_EXE_lvs-director"),
        _ => env!("CARGO_BIN_EXE_lvsadm"),
    }
}

impl Topo {
    /// Builds the LAN, client, `n` real servers with their socat servers, and starts the
    /// director with `rules` (ipvsadm -R text; `{VIP}` and `{RSi}` are substituted).
    fn new(mode: Mode, n: usize, rules: &str) -> Topo {
        Topo::with(mode, n, rules, None, false)
    }

    /// As [`Topo::new`], plus a keepalived.conf given to `--config` (same substitutions).
    /// `two`: a two-legged director (the selftest's topology): the client on bridge `br0`
    /// behind TAP `dtap0` (DIP 10.9.1.1/24), the real servers on bridge `br1` behind TAP
    /// `dtap1` (DIP 10.9.0.1/24).
    fn with(mode: Mode, n: usize, rules: &str, config: Option<&str>, two: bool) -> Topo {
        assert!(netns::have_program("socat"), "socat is needed");
        let dir = TempDir::new("lvsdir").expect("temp dir");
        let mut lan = Lan::new("dlan").expect("lan");
        let (ccidr, vip) = match mode {
            Mode::Dr => ("10.9.0.2/24", "10.9.0.100"),
            _ => ("10.9.1.2/24", "10.9.1.100"),
        };
        let client = lan.add_host("dcl", &[ccidr]).expect("client");
        let mut rs = Vec::new();
        let mut servers = Vec::new();
        for i in 0..n {
            let rip = format!("10.9.0.{}/24", 11 + i);
            let ns = if two {
                let ns = Netns::new("drs").expect("real server");
                let l = lan.netns();
                if i == 0 {
                    l.add_bridge("br1").expect("br1");
                }
                let port = format!("q{i}");
                l.add_veth(&port, "eth0", &ns).expect("veth");
                l.set_master(&port, "br1").expect("port");
                ns.add_addr("eth0", &rip).expect("RIP");
                ns.link_up("eth0").expect("up");
                ns
            } else {
                lan.add_host("drs", &[&rip]).expect("real server")
            };
            match mode {
                Mode::Dr => {
                    ns.add_addr("lo", &format!("{vip}/32")).expect("VIP on lo");
                    ns.sysctl("net.ipv4.conf.all.arp_ignore", "1")
                        .expect("sysctl");
                    ns.sysctl("net.ipv4.conf.all.arp_announce", "2")
                        .expect("sysctl");
                }
                Mode::Nat => {
                    ns.ip(&["route", "add", "default", "via", "10.9.0.1"])
                        .expect("route");
                }
                Mode::FullNat => {}
            }
            let name = format!("rs{}", i + 1);
            let tcp_file = dir.join(&format!("{name}.tcp"));
            let udp_file = dir.join(&format!("{name}.udp"));
            servers.push(tcp_server(&ns, &name, &tcp_file));
            let bind = if mode == Mode::Dr {
                format!(",bind={vip}")
            } else {
                String::new()
            };
            let mut udp = ns.command("socat");
            udp.args([
                "-T2".to_string(),
                format!("UDP-LISTEN:53,reuseaddr,fork{bind}"),
                format!("SYSTEM:echo {name}; tee -a {}", udp_file.display()),
            ]);
            servers.push(ChildGuard::spawn(&mut udp, "socat udp").expect("socat"));
            rs.push(ns);
        }
        // The director's TAP: persistent, in the bridge namespace, a bridge port.
        let tap = "dtap0".to_string();
        let l = lan.netns();
        // br_netfilter (when loaded) would drop malformed IPv4 frames on the bridge before
        // they reach the director; the garbage test wants them delivered.
        let _ = l.sysctl("net.bridge.bridge-nf-call-iptables", "0");
        l.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])
            .expect("tuntap");
        l.ip(&["link", "set", "dev", &tap, "master", netns::LAN_BRIDGE])
            .expect("master");
        l.sysctl(&format!("net.ipv6.conf.{tap}.disable_ipv6"), "1")
            .expect("sysctl");
        if two {
            l.ip(&["tuntap", "add", "dev", "dtap1", "mode", "tap"])
                .expect("tuntap");
            l.ip(&["link", "set", "dev", "dtap1", "master", "br1"])
                .expect("master");
        }
        let mut rules = rules.replace("{VIP}", vip);
        for i in 0..n {
            rules = rules.replace(&format!("{{RS{}}}", i + 1), &format!("10.9.0.{}", 11 + i));
        }
        let rules_path = dir.join("rules");
        std::fs::write(&rules_path, rules).expect("rules");
        let control = dir.join("ctl.sock");
        let mut cmd = l.command(bin("lvs-director"));
        cmd.args(["--tap", &tap, "--mac", DIRECTOR_MAC, "--vip", vip]);
        if two {
            cmd.args(["--tap-server", "dtap1", "--dip", "10.9.1.1/24"]);
            cmd.args(["--dip-server", "10.9.0.1/24"]);
        } else {
            cmd.args(["--dip", "10.9.0.1/24"]);
            if mode != Mode::Dr {
                cmd.args(["--dip", "10.9.1.1/24"]);
            }
        }
        if mode == Mode::FullNat {
            cmd.args(["--laddr", "10.9.0.50"]);
        }
        cmd.arg("--rules")
            .arg(&rules_path)
            .arg("--control")
            .arg(&control);
        if let Some(conf) = config {
            let conf = conf.replace("{VIP}", vip);
            let path = dir.join("keepalived.conf");
            std::fs::write(&path, conf).expect("keepalived.conf");
            cmd.arg("--config").arg(&path);
        }
        let director = ChildGuard::spawn(&mut cmd, "lvs-director").expect("director");
        let t = Topo {
            servers,
            director: Some(director),
            client,
            rs,
            lan,
            dir,
            vip,
            control,
            tap,
        };
        t.wait_ready();
        t
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.lvsadm(&["-Ln"]).0 == 0 {
                // Let socat listeners come up too.
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("director did not come up");
    }

    /// Runs lvsadm against the director: (status, stdout, stderr).
    fn lvsadm(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("lvsadm"))
            .arg("--control")
            .arg(&self.control)
            .args(args)
            .output()
            .expect("lvsadm");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn drops(&self) -> Vec<(String, u64)> {
        let (st, out, err) = self.lvsadm(&["--lvs-drops"]);
        assert_eq!(st, 0, "{err}");
        out.lines()
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect()
    }

    /// One client request through the VIP: sends `data` (TCP or UDP), returns what came back.
    fn request(&self, udp: bool, data: &[u8]) -> Vec<u8> {
        self.request_port(udp, if udp { 53 } else { 80 }, data)
    }

    /// As [`Topo::request`] to port `port` of the VIP.
    fn request_port(&self, udp: bool, port: u16, data: &[u8]) -> Vec<u8> {
        let input = self.dir.join("req.bin");
        std::fs::write(&input, data).expect("request file");
        let target = if udp {
            format!("UDP:{}:{port}", self.vip)
        } else {
            format!("TCP:{}:{port},connect-timeout=2", self.vip)
        };
        let out = self
            .client
            .command("socat")
            .args(["-T1", "-", &target])
            .stdin(File::open(&input).expect("open"))
            .stderr(Stdio::null())
            .output()
            .expect("client socat");
        out.stdout
    }

    /// The real server's name from a reply ("rs1\n...").
    fn served_by(reply: &[u8]) -> String {
        String::from_utf8_lossy(reply)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_default()
    }

    fn stop_director(&mut self) -> std::process::ExitStatus {
        let mut d = self.director.take().expect("director");
        d.terminate(Duration::from_secs(3)).expect("stop")
    }
}

/// Real server `name`'s TCP service on port 80: its name line, then an echo that is also
/// appended to `file`.
fn tcp_server(ns: &Netns, name: &str, file: &std::path::Path) -> ChildGuard {
    let mut tcp = ns.command("socat");
    tcp.args([
        "TCP-LISTEN:80,reuseaddr,fork",
        &format!("SYSTEM:echo {name}; tee -a {}", file.display()),
    ]);
    ChildGuard::spawn(&mut tcp, "socat tcp").expect("socat")
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut f = File::open("/dev/urandom").expect("urandom");
    let mut b = vec![0; n];
    std::io::Read::read_exact(&mut f, &mut b).expect("random");
    b
}

/// ipvs.sh's check: 32 random bytes over TCP and UDP arrive intact at the real server (its
/// file), the echo comes back through the VIP.
fn bytes_arrive_intact(t: &Topo) {
    for udp in [false, true] {
        let data = random_bytes(32);
        let reply = t.request(udp, &data);
        let who = Topo::served_by(&reply);
        assert!(
            who.starts_with("rs"),
            "udp={udp}: no reply through the VIP: {reply:?}"
        );
        let file = t.file(&format!("{who}.{}", if udp { "udp" } else { "tcp" }));
        assert!(
            file.ends_with(&data),
            "udp={udp}: the real server's file does not end with the 32 bytes sent"
        );
        let echoed = &reply[who.len() + 1..];
        assert_eq!(echoed, &data[..], "udp={udp}: echo through the VIP differs");
    }
}

fn spread(t: &Topo, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| Topo::served_by(&t.request(false, b"x")))
        .collect()
}

#[test]
fn dr_bytes_arrive_intact_and_rr_alternates() {
    if !netns::root_or_skip("dr_bytes_arrive_intact_and_rr_alternates") {
        return;
    }
    let mut t = Topo::new(
        Mode::Dr,
        2,
        "-A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r {RS1}:80 -g -w 1\n-a -t {VIP}:80 -r {RS2}:80 -g -w 1\n\
         -A -u {VIP}:53 -s rr\n-a -u {VIP}:53 -r {RS1}:53 -g -w 1\n-a -u {VIP}:53 -r {RS2}:53 -g -w 1\n",
    );
    bytes_arrive_intact(&t);
    // ip_vs_rr.c: successive new connections go to successive real servers.
    let s = spread(&t, 6);
    for w in s.windows(2) {
        assert_ne!(w[0], w[1], "rr must alternate: {s:?}");
    }
    assert_eq!(s.iter().filter(|x| *x == "rs1").count(), 3, "{s:?}");
    // Live -E to sh (ip_vs_sh.c): the source-address hash sends one client to one server.
    assert_eq!(t.lvsadm(&["-E", "-t", "10.9.0.100:80", "-s", "sh"]).0, 0);
    let s = spread(&t, 6);
    assert!(
        s.iter().all(|x| *x == s[0]),
        "sh is sticky per client: {s:?}"
    );
    let st = t.stop_director();
    assert!(
        st.success() || st.code().is_some(),
        "director stops on SIGTERM: {st:?}"
    );
    assert!(!t.control.exists(), "control socket removed on exit");
}

#[test]
fn nat_bytes_arrive_intact_and_wrr_follows_weights() {
    if !netns::root_or_skip("nat_bytes_arrive_intact_and_wrr_follows_weights") {
        return;
    }
    let t = Topo::new(
        Mode::Nat,
        2,
        "-A -t {VIP}:80 -s wrr\n-a -t {VIP}:80 -r {RS1}:80 -m -w 3\n-a -t {VIP}:80 -r {RS2}:80 -m -w 1\n\
         -A -u {VIP}:53 -s rr\n-a -u {VIP}:53 -r {RS1}:53 -m -w 1\n-a -u {VIP}:53 -r {RS2}:53 -m -w 1\n",
    );
    bytes_arrive_intact(&t);
    // ip_vs_wrr.c: weights 3:1 give 3 of every 4 new connections to rs1.
    let s = spread(&t, 8);
    assert_eq!(s.iter().filter(|x| *x == "rs1").count(), 6, "{s:?}");
    assert_eq!(s.iter().filter(|x| *x == "rs2").count(), 2, "{s:?}");
}

#[test]
fn fullnat_bytes_arrive_intact_without_route_to_client() {
    if !netns::root_or_skip("fullnat_bytes_arrive_intact_without_route_to_client") {
        return;
    }
    let t = Topo::new(
        Mode::FullNat,
        1,
        "-A -t {VIP}:80 -s rr --laddr 10.9.0.50\n-a -t {VIP}:80 -r {RS1}:80 --fullnat -w 1\n\
         -A -u {VIP}:53 -s rr --laddr 10.9.0.50\n-a -u {VIP}:53 -r {RS1}:53 --fullnat -w 1\n",
    );
    bytes_arrive_intact(&t);
}

/// Reads lines of a child's stdout on a thread.
fn line_reader(out: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn lvsadm_lists_and_edits_a_running_director() {
    if !netns::root_or_skip("lvsadm_lists_and_edits_a_running_director") {
        return;
    }
    let t = Topo::new(
        Mode::Dr,
        2,
        "-A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r {RS1}:80 -g -w 1\n",
    );
    // ipvsadm 1.31 -Ln layout (ipvsadm.c print_title / print_service_entry).
    let (st, out, _) = t.lvsadm(&["-Ln"]);
    assert_eq!(st, 0);
    let expect = "IP Virtual Server version 1.2.1 (size=4096)\n\
                  Prot LocalAddress:Port Scheduler Flags\n  \
                  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                  TCP  10.9.0.100:80 rr\n  \
                  -> 10.9.0.11:80                 Route   1      0          0         \n";
    assert_eq!(out, expect);
    // Immediate parse errors, ipvsadm's exit status 2, no director involved.
    let (st, _, err) = t.lvsadm(&[
        "-a",
        "-t",
        "10.9.0.100:80",
        "-r",
        "10.9.0.12:80",
        "-w",
        "70000",
    ]);
    assert_eq!(st, 2, "{err}");
    // A kernel refusal: ipvsadm prints ipvs_strerror and exits 255.
    let (st, _, err) = t.lvsadm(&["-A", "-t", "10.9.0.100:80", "-s", "rr"]);
    assert_eq!((st, err.as_str()), (255, "Service already exists\n"));

    // Live -a: rs2 joins; rr alternates over both.
    assert_eq!(
        t.lvsadm(&["-a", "-t", "10.9.0.100:80", "-r", "10.9.0.12:80", "-g"])
            .0,
        0
    );
    let s = spread(&t, 4);
    assert_eq!(s.iter().filter(|x| *x == "rs2").count(), 2, "{s:?}");

    // An established connection to rs1 (a client socat kept open through a pipe).
    let mut c = t
        .client
        .command("socat")
        .args(["-", &format!("TCP:{}:80", t.vip)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("client");
    let mut stdin = c.stdin.take().expect("stdin");
    let rx = line_reader(c.stdout.take().expect("stdout"));
    let first = rx.recv_timeout(Duration::from_secs(3)).expect("name line");
    let other = if first == "rs1" {
        "10.9.0.12:80"
    } else {
        "10.9.0.11:80"
    };
    let me = if first == "rs1" {
        "10.9.0.11:80"
    } else {
        "10.9.0.12:80"
    };
    writeln!(stdin, "hello1").expect("write");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(3)).expect("echo"),
        "hello1"
    );

    // -e weight 0 quiesces it: new connections avoid it, the established one goes on.
    assert_eq!(
        t.lvsadm(&["-e", "-t", "10.9.0.100:80", "-r", me, "-g", "-w", "0"])
            .0,
        0
    );
    let s = spread(&t, 4);
    assert!(
        s.iter().all(|x| *x != first),
        "weight 0 must get no new connection: {s:?}"
    );
    writeln!(stdin, "hello2").expect("write");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(3)).expect("echo"),
        "hello2"
    );
    let (_, out, _) = t.lvsadm(&["-Ln"]);
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.contains(me))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    // Weight 0, one active connection (the established one).
    assert_eq!(row.get(2..5), Some(&["Route", "0", "1"][..]), "{out}");
    drop(stdin);
    let _ = c.wait();

    // -d removes the other one: everything goes to the quiesced... no: the service has only
    // a weight-0 server left, so new connections get no reply (ip_vs_wrr/rr skip weight 0).
    assert_eq!(t.lvsadm(&["-d", "-t", "10.9.0.100:80", "-r", other]).0, 0);
    let (_, out, _) = t.lvsadm(&["-Ln"]);
    assert!(!out.contains(other), "{out}");
    assert!(
        t.request(false, b"x").is_empty(),
        "no usable real server: no reply"
    );
    let drops = t.drops();
    assert!(
        drops.iter().any(|(k, v)| k == "no real server" && *v >= 1),
        "{drops:?}"
    );
    // -S prints what is left; -C clears.
    let (_, out, _) = t.lvsadm(&["-S", "-n"]);
    assert_eq!(
        out,
        format!("-A -t 10.9.0.100:80 -s rr\n-a -t 10.9.0.100:80 -r {me} -g -w 0\n")
    );
    assert_eq!(t.lvsadm(&["-C"]).0, 0);
    assert_eq!(t.lvsadm(&["-S", "-n"]).1, "");
}

#[test]
fn garbage_frames_are_counted_drops_and_service_goes_on() {
    if !netns::root_or_skip("garbage_frames_are_counted_drops_and_service_goes_on") {
        return;
    }
    let mut t = Topo::new(
        Mode::Dr,
        1,
        "-A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r {RS1}:80 -g -w 1\n",
    );
    bytes_arrive_intact_tcp(&t);
    let before = t.drops();
    let malformed_before = before
        .iter()
        .find(|(k, _)| k == "malformed")
        .map_or(0, |x| x.1);
    // A second TAP on the bridge, ours, to inject frames to the director's MAC.
    let mut inj = netns::Tap::create("dinj").expect("tap");
    t.lan.attach_tap(&inj).expect("attach");
    let dmac: Vec<u8> = DIRECTOR_MAC
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect();
    let mut sent = 0;
    for i in 0..50u8 {
        let mut f = Vec::new();
        f.extend_from_slice(&dmac);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0x77, i]);
        f.extend_from_slice(&[0x08, 0x00]); // IPv4, then garbage: bad IHL / lengths
        f.extend_from_slice(&[0x4f, i, 0xff, 0xff]);
        f.extend(random_bytes(usize::from(i) + 4));
        inj.send(&f).expect("inject");
        sent += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut malformed = 0;
    while Instant::now() < deadline {
        malformed = t
            .drops()
            .iter()
            .find(|(k, _)| k == "malformed")
            .map_or(0, |x| x.1);
        if malformed >= malformed_before + sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(malformed, malformed_before + sent, "{:?}", t.drops());
    assert_eq!(
        malformed,
        malformed_before + sent,
        "every garbage frame is a counted drop"
    );
    bytes_arrive_intact_tcp(&t);
    let _ = t.stop_director();
    let _ = &t.tap;
    let _ = &t.rs;
}

fn bytes_arrive_intact_tcp(t: &Topo) {
    let data = random_bytes(32);
    let reply = t.request(false, &data);
    assert_eq!(Topo::served_by(&reply), "rs1", "{reply:?}");
    assert_eq!(&reply[4..], &data[..]);
}

/// One ICMP echo request over a raw socket, success on the matching echo reply from the target
/// (iputils' ping is not installed everywhere).
const PING_PY: &str = r#"import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
s.settimeout(3)
p=bytes([8,0,0,0,0x12,0x34,0,1])+b'lvs-ping'
c=0
for i in range(0,len(p),2): c+=p[i]<<8|p[i+1]
c=(c>>16)+(c&0xffff); c=~(c+(c>>16))&0xffff
p=p[:2]+bytes([c>>8,c&0xff])+p[4:]
s.sendto(p,(sys.argv[1],0))
while True:
    d,a=s.recvfrom(2048)
    h=(d[0]&15)*4
    if a[0]==sys.argv[1] and d[h]==0 and d[h+8:]==b'lvs-ping': sys.exit(0)
"#;

/// One echo request from `ns` to `ip`: true on the reply.
fn ping(ns: &Netns, ip: &str) -> bool {
    ns.command("python3")
        .args(["-c", PING_PY, ip])
        .status()
        .expect("python3")
        .success()
}

#[test]
fn director_answers_ping_on_its_dip_and_vip() {
    if !netns::root_or_skip("director_answers_ping_on_its_dip_and_vip") {
        return;
    }
    let t = Topo::new(
        Mode::Dr,
        1,
        "-A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r {RS1}:80 -g -w 1\n",
    );
    for ip in ["10.9.0.1", t.vip] {
        let st = ping(&t.client, ip);
        assert!(st, "ping {ip}: smoltcp's echo reply through the director");
    }
}

/// keepalived's TCP_CHECK (check_tcp.c) with delay_loop 1, connect_timeout 1, retry 1,
/// delay_before_retry 1: a real server whose listener is gone leaves the pool within
/// delay_loop + (retry + 1) * (connect_timeout + delay_before_retry) = 5 s; new connections
/// avoid it; it comes back within one delay_loop of its listener's return.
#[test]
fn health_check_takes_a_dead_real_server_out_and_back() {
    if !netns::root_or_skip("health_check_takes_a_dead_real_server_out_and_back") {
        return;
    }
    health_case(false);
}

/// As above with `inhibit_on_failure` (ipwrapper.c `perform_svr_state()`): the dead real
/// server stays listed with weight 0 instead of leaving, and gets weight 1 back.
#[test]
fn health_check_with_inhibit_on_failure_sets_weight_zero_and_back() {
    if !netns::root_or_skip("health_check_with_inhibit_on_failure_sets_weight_zero_and_back") {
        return;
    }
    health_case(true);
}

/// The weight column of real server `rip` in `-Ln`, `None` when not listed.
fn weight_of(t: &Topo, rip: &str) -> Option<String> {
    let out = t.lvsadm(&["-Ln"]).1;
    let row = out.lines().find(|l| l.contains(rip))?;
    row.split_whitespace().nth(3).map(str::to_owned)
}

fn health_case(inhibit: bool) {
    let rs = |ip: &str| {
        format!(
            "    real_server {ip} 80 {{\n        weight 1\n{}        TCP_CHECK {{\n            \
             connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n",
            if inhibit {
                "        inhibit_on_failure\n"
            } else {
                ""
            }
        )
    };
    let conf = format!(
        "virtual_server {{VIP}} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    \
         protocol TCP\n{}{}}}\n",
        rs("10.9.0.11"),
        rs("10.9.0.12")
    );
    let mut t = Topo::with(Mode::Dr, 2, "", Some(&conf), false);
    let up = Some("1".to_owned());
    let down = if inhibit { Some("0".to_owned()) } else { None };
    assert_eq!(weight_of(&t, "10.9.0.11:80"), up);
    assert_eq!(weight_of(&t, "10.9.0.12:80"), up);
    // Let the first probes pass, then kill rs1's listener (servers[0] is rs1's TCP socat).
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    t.servers[0]
        .terminate(Duration::from_secs(2))
        .expect("kill rs1");
    let bound = Duration::from_secs(5) + Duration::from_millis(1500);
    while weight_of(&t, "10.9.0.11:80") != down {
        assert!(
            killed.elapsed() < bound,
            "rs1 still in the pool after {:?}",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = spread(&t, 4);
    assert!(
        s.iter().all(|x| x == "rs2"),
        "new connections avoid the dead one: {s:?}"
    );
    // Restarted: one successful probe brings it back.
    let file = t.dir.join("rs1.tcp");
    let back = tcp_server(&t.rs[0], "rs1", &file);
    t.servers.push(back);
    let restarted = Instant::now();
    while weight_of(&t, "10.9.0.11:80") != up {
        assert!(restarted.elapsed() < Duration::from_secs(4), "rs1 not back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = spread(&t, 4);
    assert!(s.iter().any(|x| x == "rs1"), "rs1 serves again: {s:?}");
}

/// The kernel selftest's two-legged director: client and real servers on separate LANs, one
/// TAP each; NAT and FULLNAT carry the bytes intact both ways.
#[test]
fn two_legged_nat_and_fullnat_carry_bytes_intact() {
    if !netns::root_or_skip("two_legged_nat_and_fullnat_carry_bytes_intact") {
        return;
    }
    let t = Topo::with(
        Mode::Nat,
        2,
        "-A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r {RS1}:80 -m -w 1\n-a -t {VIP}:80 -r {RS2}:80 -m -w 1\n\
         -A -u {VIP}:53 -s rr\n-a -u {VIP}:53 -r {RS1}:53 -m -w 1\n-a -u {VIP}:53 -r {RS2}:53 -m -w 1\n",
        None,
        true,
    );
    bytes_arrive_intact(&t);
    let s = spread(&t, 4);
    assert_eq!(s.iter().filter(|x| *x == "rs1").count(), 2, "{s:?}");
    // The director's own presence answers on the client side too (its DIP and the VIP), and
    // a real server reaches its server-side DIP.
    assert!(ping(&t.client, "10.9.1.1") && ping(&t.client, t.vip));
    assert!(ping(&t.rs[0], "10.9.0.1"));
    drop(t);
    let t = Topo::with(
        Mode::FullNat,
        1,
        "-A -t {VIP}:80 -s rr --laddr 10.9.0.50\n-a -t {VIP}:80 -r {RS1}:80 --fullnat -w 1\n\
         -A -u {VIP}:53 -s rr --laddr 10.9.0.50\n-a -u {VIP}:53 -r {RS1}:53 --fullnat -w 1\n",
        None,
        true,
    );
    bytes_arrive_intact(&t);
}

/// LVS-TUN (ip_vs_tunnel_xmit) to lvs-realserver, the userspace real server that decapsulates
/// (this kernel has no IPIP): IPIP, GUE and GRE tunnels each carry 32 random bytes to its TCP
/// echo and its UDP echo, which answer the client straight from the VIP.
#[test]
fn tun_to_lvs_realserver_echoes_bytes_intact_over_ipip_gue_gre() {
    if !netns::root_or_skip("tun_to_lvs_realserver_echoes_bytes_intact_over_ipip_gue_gre") {
        return;
    }
    let rules = "-A -t {VIP}:7 -s rr\n-a -t {VIP}:7 -r 10.9.0.11:7 -i -w 1\n\
                 -A -u {VIP}:7 -s rr\n-a -u {VIP}:7 -r 10.9.0.11:7 -i --tun-type gue --tun-port 6080 -w 1\n\
                 -A -t {VIP}:80 -s rr\n-a -t {VIP}:80 -r 10.9.0.11:80 -i --tun-type gre -w 1\n";
    let mut t = Topo::new(Mode::Dr, 0, rules);
    let l = t.lan.netns();
    l.ip(&["tuntap", "add", "dev", "rs0", "mode", "tap"])
        .expect("tuntap");
    l.sysctl("net.ipv6.conf.rs0.disable_ipv6", "1")
        .expect("sysctl");
    l.set_master("rs0", netns::LAN_BRIDGE).expect("port");
    let mut cmd = l.command(env!("CARGO_BIN_EXE_lvs-realserver"));
    cmd.args([
        "--tap",
        "rs0",
        "--mac",
        "02:00:00:00:09:11",
        "--rip",
        "10.9.0.11/24",
        "--vip",
        t.vip,
        "--decap",
        "ipip",
        "--decap",
        "gue:6080",
        "--decap",
        "gre",
        "--name",
        "rs1",
    ]);
    t.servers
        .push(ChildGuard::spawn(&mut cmd, "lvs-realserver").expect("realserver"));
    // TCP echo over IPIP (retried while the real server comes up).
    let data = random_bytes(32);
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut reply = Vec::new();
    while Instant::now() < deadline {
        reply = t.request_port(false, 7, &data);
        if !reply.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(reply, data, "TCP echo through the VIP over IPIP");
    let data = random_bytes(32);
    assert_eq!(t.request_port(true, 7, &data), data, "UDP echo over GUE");
    let http = t.request_port(false, 80, b"GET / HTTP/1.0\r\n\r\n");
    let http = String::from_utf8_lossy(&http);
    assert!(
        http.starts_with("HTTP/1.1 200") && http.ends_with("rs1\n"),
        "HTTP over GRE: {http}"
    );
}

/// keepalived's HTTP_GET (check_http.c) over the director's own TCP: each real server runs an
/// HTTP server on port 8000 (`connect_port`); rs1's url `/` answers 200 and stays, rs2's url
/// `/missing` answers 404, not the `status_code 200` asked for, so rs2 leaves the pool (a
/// failure on the very first check marks it down at once: keepalived starts with the retries
/// spent) while rs1 is kept.
#[test]
fn http_get_health_check_keeps_200_and_drops_404() {
    if !netns::root_or_skip("http_get_health_check_keeps_200_and_drops_404") {
        return;
    }
    let rs = |ip: &str, path: &str| {
        format!(
            "    real_server {ip} 80 {{\n        weight 1\n        HTTP_GET {{\n            \
             url {{\n                path {path}\n                status_code 200\n            }}\n            \
             connect_port 8000\n            connect_timeout 1\n            retry 1\n            \
             delay_before_retry 1\n        }}\n    }}\n"
        )
    };
    let conf = format!(
        "virtual_server {{VIP}} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    \
         protocol TCP\n{}{}}}\n",
        rs("10.9.0.11", "/"),
        rs("10.9.0.12", "/missing")
    );
    let mut t = Topo::with(Mode::Dr, 2, "", Some(&conf), false);
    for r in 0..2 {
        let mut c = t.rs[r].command("python3");
        c.args([
            "-m",
            "http.server",
            "8000",
            "--bind",
            "0.0.0.0",
            "--directory",
            "/",
        ]);
        c.stderr(Stdio::null());
        t.servers
            .push(ChildGuard::spawn(&mut c, "http.server").expect("http.server"));
    }
    let listed = |t: &Topo, rip: &str| t.lvsadm(&["-Ln"]).1.contains(rip);
    // rs2 (404) leaves the pool and rs1 (200) is in it. rs1 may have failed its first checks
    // if its http.server was slow to start on a loaded machine (it is then removed and added
    // back by the next good check, as keepalived does), so wait for the settled state.
    let settled = |t: &Topo| listed(t, "10.9.0.11:80") && !listed(t, "10.9.0.12:80");
    let start = Instant::now();
    while !settled(&t) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "pool not settled (rs1 in, rs2 out): {}",
            t.lvsadm(&["-Ln"]).1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Several more check rounds: rs1 (200) stays, rs2 (404) stays out.
    std::thread::sleep(Duration::from_secs(2));
    assert!(listed(&t, "10.9.0.11:80"), "{}", t.lvsadm(&["-Ln"]).1);
    assert!(!listed(&t, "10.9.0.12:80"));
}
