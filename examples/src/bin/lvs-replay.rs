//! `lvs-replay`: the director offline over a pcap capture (see `lvs_examples::replay`).
//!
//! ```text
//! lvs-replay --rules RULES --in IN.pcap --out OUT.pcap [--director-mac MAC] [--neigh IP=MAC]...
//!     [--laddr IP]... [--verdicts FILE.jsonl] [--list-conns]
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Parser;
use lvs_arp::MacAddr;
use lvs_examples::replay::{DEFAULT_DIRECTOR_MAC, ReplayOptions, parse_neigh, replay};

/// Replay a capture through an LVS director.
#[derive(Parser, Debug)]
#[command(name = "lvs-replay", version)]
struct Args {
    /// ipvsadm -R rules.
    #[arg(long)]
    rules: PathBuf,
    /// Input capture (pcap, Ethernet).
    #[arg(long = "in")]
    input: PathBuf,
    /// Output capture: every frame the director transmits.
    #[arg(long = "out")]
    output: PathBuf,
    /// The director's MAC (default 02:00:00:00:00:01).
    #[arg(long)]
    director_mac: Option<MacAddr>,
    /// Static neighbour entry IP=MAC (repeatable).
    #[arg(long, value_parser = parse_neigh)]
    neigh: Vec<(Ipv4Addr, MacAddr)>,
    /// FULLNAT local address (repeatable).
    #[arg(long)]
    laddr: Vec<Ipv4Addr>,
    /// Write one JSON verdict per input frame here.
    #[arg(long)]
    verdicts: Option<PathBuf>,
    /// Also print ipvsadm -Lnc at the end.
    #[arg(long)]
    list_conns: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("lvs-replay: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let rules = std::fs::read_to_string(&args.rules)
        .map_err(|e| format!("{}: {e}", args.rules.display()))?;
    let opts = ReplayOptions {
        rules,
        director_mac: args.director_mac.unwrap_or(DEFAULT_DIRECTOR_MAC),
        neigh: args.neigh.clone(),
        laddrs: args.laddr.clone(),
        list_conns: args.list_conns,
    };
    let input = File::open(&args.input).map_err(|e| format!("{}: {e}", args.input.display()))?;
    let output =
        File::create(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let mut verdicts = match &args.verdicts {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let text = replay(
        &opts,
        BufReader::new(input),
        BufWriter::new(output),
        verdicts.as_mut().map(|w| w as &mut dyn Write),
    )
    .map_err(|e| e.to_string())?;
    if let Some(mut w) = verdicts {
        w.flush().map_err(|e| e.to_string())?;
    }
    print!("{text}");
    Ok(())
}
