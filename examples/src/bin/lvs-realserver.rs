//! `lvs-realserver`: a userspace LVS real server on a TAP device (smoltcp). It owns the RIP
//! (answers ARP and ICMP echo for it), accepts traffic for the VIPs without answering ARP for
//! them (the LVS-DR recipe: VIP on lo/32, arp_ignore=1, arp_announce=2, decided by lvs-arp),
//! decapsulates IPIP / GUE / GRE from the director for LVS-TUN, and serves a small HTTP
//! responder naming itself, a TCP echo and a UDP echo, until SIGINT or SIGTERM.
//!
//! ```text
//! ip tuntap add rs1 mode tap && ip link set rs1 master br0 up
//! lvs-realserver --tap rs1 --mac 02:00:00:00:01:01 --rip 10.0.0.11/24 --gateway 10.0.0.1 \
//!     --vip 10.0.0.100 --decap ipip --decap gue:6080 --name rs1
//! ```
//!
//! Logs go to standard error (`RUST_LOG=debug` shows every ARP decision with its reason).

use clap::Parser;
use lvs_examples::director::parse_cidr;
use lvs_examples::netns::Tap;
use lvs_examples::realserver::{Decap, RealServerConfig, run_on_tap};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A userspace LVS real server (DR and TUN) on a TAP device.
#[derive(Debug, Parser)]
#[command(name = "lvs-realserver", version)]
struct Cli {
    /// TAP link to open (an existing persistent TAP, or a new one created down).
    #[arg(long, value_name = "NAME")]
    tap: String,
    /// MAC address of the server, e.g. 02:00:00:00:01:01.
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    mac: [u8; 6],
    /// The RIP with its prefix length, e.g. 10.0.0.11/24.
    #[arg(long, value_name = "IP/PREFIX", value_parser = parse_cidr)]
    rip: (Ipv4Addr, u8),
    /// Default gateway for clients off the RIP's subnet.
    #[arg(long, value_name = "IP")]
    gateway: Option<Ipv4Addr>,
    /// A VIP, carried like `ip addr add VIP/32 dev lo` with arp_ignore=1, arp_announce=2
    /// (repeatable, at most 7).
    #[arg(long = "vip", value_name = "IP")]
    vips: Vec<Ipv4Addr>,
    /// A tunnel type to decapsulate: ipip, gre or gue:PORT (repeatable; one GUE port).
    #[arg(long = "decap", value_name = "ipip|gue:PORT|gre")]
    decap: Vec<Decap>,
    /// Name in HTTP answers and logs.
    #[arg(long, default_value = "rs")]
    name: String,
    /// HTTP responder port (0 disables it).
    #[arg(long, default_value_t = 80)]
    http_port: u16,
    /// TCP echo port (0 disables it).
    #[arg(long, default_value_t = 7)]
    echo_port: u16,
    /// UDP echo port (0 disables it).
    #[arg(long, default_value_t = 7)]
    udp_echo_port: u16,
    /// TCP sockets listening on the HTTP port: the concurrent HTTP connections served.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    http_sockets: u16,
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    s.parse::<lvs_arp::MacAddr>()
        .map(|m| m.0)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            tracing::error!("cannot handle signal {sig}: {e}");
            return ExitCode::FAILURE;
        }
    }

    let mut cfg = RealServerConfig::new(&cli.name, cli.mac, cli.rip.0, cli.rip.1);
    cfg.gateway = cli.gateway;
    cfg.vips = cli.vips;
    cfg.decap = cli.decap;
    cfg.http_port = cli.http_port;
    cfg.echo_port = cli.echo_port;
    cfg.udp_echo_port = cli.udp_echo_port;
    cfg.http_sockets = usize::from(cli.http_sockets);

    let mut tap = match Tap::open(&cli.tap) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run_on_tap(cfg, &mut tap, &stop) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn full_command_line_parses() {
        let cli = Cli::try_parse_from([
            "lvs-realserver",
            "--tap",
            "rs1",
            "--mac",
            "02:00:00:00:01:01",
            "--rip",
            "10.0.0.11/24",
            "--gateway",
            "10.0.0.1",
            "--vip",
            "10.0.0.100",
            "--vip",
            "10.0.0.101",
            "--decap",
            "ipip",
            "--decap",
            "gue:6080",
            "--decap",
            "gre",
            "--name",
            "rs1",
        ])
        .unwrap();
        assert_eq!(cli.mac, [2, 0, 0, 0, 1, 1]);
        assert_eq!(cli.rip, (Ipv4Addr::new(10, 0, 0, 11), 24));
        assert_eq!(cli.vips.len(), 2);
        assert_eq!(cli.decap, vec![Decap::Ipip, Decap::Gue(6080), Decap::Gre]);
        assert_eq!(
            (cli.http_port, cli.echo_port, cli.udp_echo_port),
            (80, 7, 7)
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_cidr("10.0.0.1").is_err());
        assert!(parse_cidr("10.0.0.1/33").is_err());
        assert!(parse_cidr("10.0.0.300/24").is_err());
        assert!(parse_mac("02:00:00:00:01").is_err());
        let r = Cli::try_parse_from([
            "lvs-realserver",
            "--tap",
            "t",
            "--mac",
            "02:00:00:00:01:01",
            "--rip",
            "10.0.0.1/24",
            "--decap",
            "vxlan",
        ]);
        assert!(r.is_err());
    }
}
