//! `lvs-replay`: the director offline over a pcap capture.
//!
//! Each input frame is processed by an [`Engine`] (one-armed, [`NeighMode::Static`]) with its
//! capture timestamp as `now` (the first frame's time is the engine's epoch); real-server
//! replies (NAT, FULLNAT) are recognised as outbound by the director's connection table. Every
//! frame the engine transmits (rewritten packets, generated ICMP errors, ARP replies for the
//! VIPs and local addresses) goes to the output capture in order, stamped with the input
//! frame's time. Real-server MACs come from `--neigh IP=MAC` or from ARP replies in the capture;
//! an unresolved next hop is a drop with reason "neighbour unresolved".
//!
//! Frames for the director itself (`local` verdict: ARP, pings to the VIP, ...) are not
//! answered except for ARP: the replay has no IP stack.
//!
//! Consecutive records with the same timestamp (up to [`PROCESS_BATCH`]) go to the engine as
//! one batch ([`Engine::handle_frames`], one `process_batch` call for their IP frames), with
//! the same output as frame by frame. With a verdicts file each record is its own batch: a
//! verdict line reports the connection state right after its frame.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_arp::MacAddr;
use lvs_core::{Director, DirectorConfig, DropReason, PROCESS_BATCH, PacketMeta, Verdict};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde::Serialize;

use crate::control::{self, Request};
use crate::director::{
    DEFAULT_MTU, Engine, EngineConfig, EngineDrop, FrameOutcome, IF_CLIENT, NeighMode, RxFrame,
};

/// Options of a replay (the command line minus the file names).
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// ipvsadm -R rules text.
    pub rules: String,
    /// The director's MAC: source of transmitted frames.
    pub director_mac: MacAddr,
    /// Static neighbour entries.
    pub neigh: Vec<(Ipv4Addr, MacAddr)>,
    /// FULLNAT local addresses (answered by ARP).
    pub laddrs: Vec<Ipv4Addr>,
    /// Also list the connections (`ipvsadm -Lnc`) at the end.
    pub list_conns: bool,
}

/// The default director MAC of a replay, 02:00:00:00:00:01.
pub const DEFAULT_DIRECTOR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

/// One line of the `--verdicts` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictLine {
    /// 1-based input frame number.
    pub frame: u64,
    /// `transmit`, `local`, `drop` or `icmp`.
    pub verdict: &'static str,
    /// Why (drops, ICMP errors, ARP), else `None`.
    pub reason: Option<String>,
    /// `RIP:port` of the frame's connection.
    pub real_server: Option<String>,
    /// The connection's state after the frame (ipvsadm -Lnc names: `SYN_RECV`, `ESTABLISHED`, `UDP`, ...).
    pub conn_state: Option<String>,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The rules did not load (ipvsadm's message).
    #[error("rules: {0}")]
    Rules(String),
    /// A pcap read or write failed.
    #[error("pcap: {0}")]
    Pcap(#[from] pcap_file::PcapError),
    /// Writing the verdicts failed.
    #[error("verdicts: {0}")]
    Io(#[from] std::io::Error),
    /// The input capture is not of Ethernet frames (its pcap link type).
    #[error("input link type {0:?} is not Ethernet")]
    LinkType(pcap_file::DataLink),
    /// The host model refused an address.
    #[error("addresses: {0}")]
    Host(#[from] lvs_arp::HostError),
}

/// Reason text of a director drop: the [`DropReason`] name in lower-case words
/// (`NoRealServer` -> `no real server`).
pub fn reason_text(r: DropReason) -> String {
    let name = format!("{r:?}");
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Replays `input` (a pcap with Ethernet frames) into `output`, writing one [`VerdictLine`] per
/// frame to `verdicts` when given. Returns the text printed at the end: `ipvsadm -Ln --stats`
/// (and `ipvsadm -Lnc` with [`ReplayOptions::list_conns`]).
///
/// # Errors
/// [`ReplayError`].
pub fn replay<R: Read, W: Write>(
    opts: &ReplayOptions,
    input: R,
    output: W,
    verdicts: Option<&mut dyn Write>,
) -> Result<String, ReplayError> {
    let epoch = Instant::now();
    let mut director = Director::new(DirectorConfig::default(), epoch);
    let r = control::execute(
        &mut director,
        &Request {
            args: vec!["-R".into()],
            stdin: Some(opts.rules.clone()),
        },
        epoch,
    );
    if r.status != 0 {
        return Err(ReplayError::Rules(r.stderr.trim_end().to_owned()));
    }
    let mut vips: Vec<Ipv4Addr> = Vec::new();
    for s in director.virtual_services() {
        if let lvs_core::service::ServiceKey::Addr {
            addr: SocketAddr::V4(a),
            ..
        } = s.key
            && !vips.contains(a.ip())
        {
            vips.push(*a.ip());
        }
    }
    let cfg = EngineConfig {
        mac: opts.director_mac,
        vips,
        dips: Vec::new(),
        dips_server: Vec::new(),
        laddrs: opts.laddrs.clone(),
        gateway: None,
        neigh_mode: NeighMode::Static,
        local_stack: false,
        mtu: DEFAULT_MTU,
    };
    let mut engine = Engine::new(director, cfg, epoch)?;
    for &(ip, mac) in &opts.neigh {
        engine.add_static_neigh(ip, mac);
    }
    let mut reader = PcapReader::new(input)?;
    let datalink = reader.header().datalink;
    if datalink != pcap_file::DataLink::ETHERNET {
        return Err(ReplayError::LinkType(datalink));
    }
    let mut writer = PcapWriter::new(output)?;
    let batch_max = if verdicts.is_some() { 1 } else { PROCESS_BATCH };
    // Records of the batch being gathered (buffers reused from batch to batch).
    let mut records: Vec<Vec<u8>> = vec![Vec::new(); PROCESS_BATCH];
    let mut batch_ts = Duration::ZERO;
    let mut gathered = 0;
    let mut r = Run {
        engine: &mut engine,
        writer: &mut writer,
        verdicts,
        epoch,
        first: None,
        n: 0,
        end: epoch,
    };
    loop {
        let next = reader.next_packet().transpose()?;
        if gathered > 0
            && next
                .as_ref()
                .is_none_or(|p| p.timestamp != batch_ts || gathered == batch_max)
        {
            r.batch(batch_ts, records.get(..gathered).unwrap_or_default())?;
            gathered = 0;
        }
        let Some(pkt) = next else { break };
        if let Some(rec) = records.get_mut(gathered) {
            rec.clear();
            rec.extend_from_slice(&pkt.data);
            batch_ts = pkt.timestamp;
            gathered += 1;
        }
    }
    let end = r.end;
    let mut text = list(&mut engine, &["-Ln", "--stats"], end);
    if opts.list_conns {
        text.push_str(&list(&mut engine, &["-Lnc"], end));
    }
    Ok(text)
}

/// The replay's state across batches.
struct Run<'e, 'v, W: Write> {
    engine: &'e mut Engine,
    writer: &'e mut PcapWriter<W>,
    verdicts: Option<&'v mut dyn Write>,
    epoch: Instant,
    /// Timestamp of the first record: the engine's epoch.
    first: Option<Duration>,
    /// Records processed so far.
    n: u64,
    /// `now` of the last record.
    end: Instant,
}

impl<W: Write> Run<'_, '_, W> {
    /// Processes records that all carry timestamp `ts`: the engine's timers due then, the
    /// frames, their output stamped `ts`, their verdict lines.
    fn batch(&mut self, ts: Duration, records: &[Vec<u8>]) -> Result<(), ReplayError> {
        let base = *self.first.get_or_insert(ts);
        let now = self.epoch + ts.saturating_sub(base);
        self.end = now;
        self.engine.handle_timeout(now);
        while self.engine.poll_transmit().is_some() {}
        let mut outcomes = [None; PROCESS_BATCH];
        let meta = PacketMeta::default();
        self.engine.handle_frames(
            records.iter().map(|f| RxFrame {
                ifindex: IF_CLIENT,
                frame: f,
                meta,
            }),
            now,
            |i, o| {
                if let Some(slot) = outcomes.get_mut(i) {
                    *slot = Some(o);
                }
            },
        );
        while let Some((_, frame)) = self.engine.poll_transmit() {
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            self.writer
                .write_packet(&PcapPacket::new(ts, len, &frame))?;
        }
        for (record, outcome) in records.iter().zip(outcomes) {
            self.n += 1;
            let (Some(w), Some(outcome)) = (self.verdicts.as_deref_mut(), outcome) else {
                continue;
            };
            let (verdict, reason) = verdict_of(outcome);
            let conn = self.engine.conn_of(record);
            let line = VerdictLine {
                frame: self.n,
                verdict,
                reason,
                real_server: conn.map(|(a, _)| a.to_string()),
                conn_state: conn.map(|(_, s)| s.to_owned()),
            };
            let mut s = serde_json::to_string(&line).map_err(std::io::Error::other)?;
            s.push('\n');
            w.write_all(s.as_bytes())?;
        }
        Ok(())
    }
}

/// The `verdict` and `reason` of a frame's [`VerdictLine`].
fn verdict_of(outcome: FrameOutcome) -> (&'static str, Option<String>) {
    match outcome {
        FrameOutcome::Arp => ("local", Some("arp".to_owned())),
        FrameOutcome::Director(Verdict::Transmit { .. }) => ("transmit", None),
        FrameOutcome::Director(Verdict::Local | Verdict::LocalDatagram { .. }) => ("local", None),
        FrameOutcome::Director(Verdict::Held) => ("held", Some("fragment".to_owned())),
        FrameOutcome::Director(Verdict::Icmp { reason, .. }) => ("icmp", Some(reason_text(reason))),
        FrameOutcome::Director(Verdict::Drop(r)) => ("drop", Some(reason_text(r))),
        FrameOutcome::Dropped(EngineDrop::NeighbourUnresolved) => {
            ("drop", Some("neighbour unresolved".to_owned()))
        }
        FrameOutcome::Dropped(EngineDrop::NotForUs) => {
            ("drop", Some("not for the director".to_owned()))
        }
        FrameOutcome::Dropped(EngineDrop::Arp) => ("drop", Some("bad arp".to_owned())),
        FrameOutcome::Dropped(EngineDrop::CannotFragment(_)) => {
            ("drop", Some("cannot fragment".to_owned()))
        }
    }
}

fn list(engine: &mut Engine, args: &[&str], now: Instant) -> String {
    let r = control::execute(
        &mut engine.director,
        &Request {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            stdin: None,
        },
        now,
    );
    r.stdout + &r.stderr
}

/// Parses `IP=MAC` (`--neigh`).
///
/// # Errors
/// A message naming the bad text.
pub fn parse_neigh(s: &str) -> Result<(Ipv4Addr, MacAddr), String> {
    let (ip, mac) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected IP=MAC"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("{s}: bad IPv4 address"))?;
    let mac: MacAddr = mac.parse().map_err(|_| format!("{s}: bad MAC address"))?;
    Ok((ip, mac))
}
