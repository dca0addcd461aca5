//! One VRRP virtual router instance (keepalived's `vrrp_instance`): the RFC 9568 section 6.4
//! state machine (Initialize / Backup / Master) plus keepalived's FAULT state and options.
//!
//! Sans-IO in the style of quinn-proto: the caller feeds inputs
//! ([`VrrpInstance::handle_timeout`], [`VrrpInstance::handle_packet`] and friends,
//! [`VrrpInstance::set_track`], [`VrrpInstance::set_track_value`],
//! [`VrrpInstance::shutdown`]) and then drains outputs until each
//! says "nothing": [`VrrpInstance::poll_transmit`], [`VrrpInstance::poll_event`], and finally
//! [`VrrpInstance::poll_timeout`] to learn when to call `handle_timeout` next.
//!
//! Time: every `now` is a [`Micros`] value, microseconds since an arbitrary epoch chosen by the
//! caller (e.g. a monotonic clock's start); it must never go backwards.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{ConfigError, TrackStatus, VrrpConfig};
use crate::wire::{
    self, Advert, AdvertRepr, DecodeError, ETH_HDR_LEN, Family, IPV4_HDR_LEN, IPV6_HDR_LEN, IpMeta,
    Version, auth_type,
};

/// Microseconds since an arbitrary, caller-chosen epoch (monotonic; never goes backwards).
pub type Micros = u64;

const US_PER_CS: u64 = 10_000;
const US_PER_S: u64 = 1_000_000;
const MAX_EVENTS: usize = 64;

/// Instance state. `Initialize`, `Backup` and `Master` are RFC 9568 section 6.4's
/// (Initialize, Backup, Active); `Fault` is keepalived's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Not running: before startup or after [`VrrpInstance::shutdown`] (notify name `STOP`).
    Initialize,
    /// Monitoring the Master; Master_Down_Timer running.
    Backup,
    /// Forwarding for the VIPs; Adver_Timer running.
    Master,
    /// keepalived FAULT: a tracked object holds the instance there (a weight-0 object is
    /// down, or a track file's status is -254, see [`crate::TrackStatus`]) or the interface
    /// is down; no adverts are sent and received adverts are ignored.
    Fault,
}

impl State {
    /// The state word keepalived passes to notify scripts: `MASTER`, `BACKUP`, `FAULT` or
    /// `STOP` (for Initialize).
    pub const fn notify_name(self) -> &'static str {
        match self {
            State::Initialize => "STOP",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// Why a state change happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Startup event (RFC 9568 section 6.4.1): owner to Master, others to Backup.
    Startup,
    /// Master_Down_Timer fired in Backup (RFC 9568 section 6.4.2).
    MasterDown,
    /// Master received an advert with higher priority, or equal priority and a higher primary
    /// address (RFC 9568 section 6.4.3).
    Preempted,
    /// [`VrrpInstance::shutdown`] (Shutdown event).
    Shutdown,
    /// A tracked object put the instance in FAULT (a weight-0 object went down, a track
    /// file's status reached -254), or the interface went down; also the startup state when
    /// a track file's initial value already means FAULT.
    Fault,
    /// No tracked object holds the instance in FAULT any more and the interface is up.
    FaultCleared,
}

/// Something the caller may want to act on (notify scripts, logs, SNMP traps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The instance changed state. `priority` is the effective priority after the change.
    StateChange {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
        /// Effective priority (keepalived's 4th notify argument).
        priority: u8,
    },
    /// While Master, an advert with lower priority arrived (keepalived's
    /// `notify_master_rx_lower_pri`): another router thinks it is master.
    MasterRxLowerPriority {
        /// Sender's primary address.
        src: IpAddr,
        /// Advertised priority.
        priority: u8,
    },
    /// Two address owners (priority 255) on one VRID: keepalived lowers the local base
    /// priority to 254 and logs a configuration error.
    OwnerConflict {
        /// The other owner's primary address.
        src: IpAddr,
    },
}

impl Event {
    /// keepalived's `notify` script arguments for a state change:
    /// `["INSTANCE", name, "MASTER"|"BACKUP"|"FAULT"|"STOP", priority]`; `None` for other
    /// events.
    pub fn notify_args(&self, instance_name: &str) -> Option<[String; 4]> {
        match self {
            Event::StateChange { to, priority, .. } => Some([
                String::from("INSTANCE"),
                instance_name.to_owned(),
                to.notify_name().to_owned(),
                priority.to_string(),
            ]),
            _ => None,
        }
    }
}

/// One frame for the caller to send, written into the buffer given to
/// [`VrrpInstance::poll_transmit`] at `buf[..len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// A VRRP advert as a full Ethernet frame: `buf[0..14]` Ethernet header,
    /// `buf[14..payload_offset]` IP header (TTL 255), `buf[payload_offset..len]` VRRP message.
    /// Raw-socket senders use `buf[14..len]` (IPv4 with IP_HDRINCL) or
    /// `buf[payload_offset..len]` (IPv6 raw socket, the kernel adds the header).
    Advert {
        /// IP destination (multicast group or unicast peer).
        dst: IpAddr,
        /// Ethernet destination already written into `buf[0..6]`: the multicast MAC, or `None`
        /// for a unicast peer, in which case `buf[0..6]` is zero and the caller must write the
        /// peer's MAC (from its neighbour table) before sending the frame.
        dst_mac: Option<[u8; 6]>,
        /// Advertised priority (0 = releasing mastership).
        priority: u8,
        /// Offset of the VRRP message in the buffer.
        payload_offset: usize,
        /// Total frame length in bytes.
        len: usize,
    },
    /// A gratuitous ARP for `vip`, already written as keepalived's 42-byte frame (broadcast ARP
    /// REQUEST, sender IP = target IP = VIP, sender MAC = `src_mac`).
    GratuitousArp {
        /// The VIP announced.
        vip: Ipv4Addr,
        /// Ethernet and ARP sender MAC.
        src_mac: [u8; 6],
        /// Frame length (42).
        len: usize,
    },
    /// An unsolicited Neighbor Advertisement for `vip` (IPv6), already written as an 86-byte
    /// frame from the VIP to ff02::1 with R=1, S=0, O=1 and the Target Link-Layer Address
    /// option (see [`wire::encode_unsolicited_na`]).
    UnsolicitedNa {
        /// The VIP announced.
        vip: Ipv6Addr,
        /// Ethernet source MAC and TLLA.
        src_mac: [u8; 6],
        /// Frame length (86).
        len: usize,
    },
}

impl Transmit {
    /// Length in bytes of the frame written at the start of the caller's buffer.
    pub fn frame_len(&self) -> usize {
        match self {
            Transmit::Advert { len, .. }
            | Transmit::GratuitousArp { len, .. }
            | Transmit::UnsolicitedNa { len, .. } => *len,
        }
    }
}

/// Why [`VrrpInstance::handle_packet`] (or a sibling) dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The codec rejected it.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// VRID or address family is not this instance's (counter `vrid_err`).
    #[error("not this instance's VRID or address family")]
    Vrid,
    /// Valid VRRP of the other version than configured (counter `version_err`).
    #[error("VRRP version differs from configuration")]
    Version,
    /// v2 Auth Type unknown (not 0, 1, 2) (counter `invalid_authtype`).
    #[error("unknown auth type")]
    InvalidAuthType,
    /// v2 Auth Type differs from configuration (counter `authtype_mismatch`).
    #[error("auth type mismatch")]
    AuthTypeMismatch,
    /// v2 PASS password differs (counter `auth_failure`).
    #[error("authentication failure")]
    AuthFailure,
    /// v2 Adver Int differs from local, or v3 Max Adver Int is 0 (counter `advert_interval_err`).
    #[error("advertisement interval mismatch")]
    Interval,
    /// Address list differs from configuration and sender is not the owner (counter `addr_list_err`).
    #[error("address list mismatch")]
    AddressList,
    /// `check_unicast_src` is set and the source is not a `unicast_peer` (counter
    /// `unknown_unicast_src`).
    #[error("source is not a unicast peer")]
    UnknownUnicastSource,
    /// The advert came from this instance's own source address (multicast loop).
    #[error("own advert")]
    OwnAdvert,
    /// The instance is not running (Initialize, i.e. before start or after shutdown).
    #[error("instance not running")]
    NotRunning,
}

/// Per-instance counters, named like keepalived's statistics (`keepalived -s`, SNMP
/// VRRP-MIB / keepalived JSON `stats`). All are monotonically increasing `u64`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts accepted (passed every check).
    pub advert_rcvd: u64,
    /// Adverts sent (one per advert event; unicast sends to every peer count once).
    pub advert_sent: u64,
    /// Transitions to Master.
    pub become_master: u64,
    /// Transitions out of Master.
    pub release_master: u64,
    /// Priority-0 adverts accepted.
    pub pri_zero_rcvd: u64,
    /// Priority-0 adverts sent.
    pub pri_zero_sent: u64,
    /// Dropped: TTL / hop limit not 255 on a multicast advert.
    pub ip_ttl_err: u64,
    /// Dropped: unknown version or not the configured one.
    pub version_err: u64,
    /// Dropped: type not ADVERTISEMENT.
    pub invalid_type_rcvd: u64,
    /// Dropped: shorter than the count says.
    pub packet_len_err: u64,
    /// Dropped: checksum mismatch.
    pub checksum_err: u64,
    /// Dropped: VRID (or family) not this instance's.
    pub vrid_err: u64,
    /// Dropped: unknown v2 auth type.
    pub invalid_authtype: u64,
    /// Dropped: v2 auth type differs.
    pub authtype_mismatch: u64,
    /// Dropped: v2 password differs.
    pub auth_failure: u64,
    /// Dropped: interval mismatch (v2) or zero (v3).
    pub advert_interval_err: u64,
    /// Address list mismatches (dropped unless the sender is the owner).
    pub addr_list_err: u64,
    /// Dropped: `check_unicast_src` and the source is not a unicast peer.
    pub unknown_unicast_src: u64,
    /// Dropped: malformed Ethernet / IP header or protocol not 112.
    pub ip_header_err: u64,
    /// Gratuitous ARPs / unsolicited NAs sent.
    pub garp_sent: u64,
    /// Transmissions lost because the caller's buffer was too small.
    pub tx_buffer_too_small: u64,
}

impl Stats {
    pub(crate) fn count_drop(&mut self, r: &DropReason) {
        let c = match r {
            DropReason::Decode(DecodeError::Ttl) => &mut self.ip_ttl_err,
            DropReason::Decode(DecodeError::Version) | DropReason::Version => &mut self.version_err,
            DropReason::Decode(DecodeError::Type) => &mut self.invalid_type_rcvd,
            DropReason::Decode(DecodeError::Length) => &mut self.packet_len_err,
            DropReason::Decode(DecodeError::Checksum) => &mut self.checksum_err,
            DropReason::Decode(_) => &mut self.ip_header_err,
            DropReason::Vrid => &mut self.vrid_err,
            DropReason::InvalidAuthType => &mut self.invalid_authtype,
            DropReason::AuthTypeMismatch => &mut self.authtype_mismatch,
            DropReason::AuthFailure => &mut self.auth_failure,
            DropReason::Interval => &mut self.advert_interval_err,
            DropReason::AddressList => &mut self.addr_list_err,
            DropReason::UnknownUnicastSource => &mut self.unknown_unicast_src,
            DropReason::OwnAdvert | DropReason::NotRunning => return,
        };
        *c += 1;
    }
}

/// One VRRP instance. See the module documentation for the driving loop.
#[derive(Clone, Debug)]
pub struct VrrpInstance {
    cfg: VrrpConfig,
    version: Version,
    family: Family,
    src_ip: IpAddr,
    src_mac: [u8; 6],
    auth_type: u8,
    auth_data: [u8; 8],
    /// Advertisement_Interval, centiseconds.
    adver_int_cs: u16,
    /// Master_Adver_Interval, centiseconds.
    mai_cs: u16,
    base_priority: u8,
    effective_priority: u8,
    /// Status of every tracked object: `cfg.track` first, then `cfg.track_file`.
    track_status: Vec<TrackStatus>,
    /// Current value of every `cfg.track_file` object.
    track_values: Vec<i64>,
    interface_up: bool,
    state: State,
    adver_at: Option<Micros>,
    master_down_at: Option<Micros>,
    preempt_until: Option<Micros>,
    garp_second_at: Option<Micros>,
    garp_refresh_at: Option<Micros>,
    garp_lower_prio_at: Option<Micros>,
    master_addr: Option<IpAddr>,
    advert_pending: Option<u8>,
    advert_peer_next: usize,
    garp_rounds: u32,
    garp_vip_next: usize,
    events: VecDeque<Event>,
    stats: Stats,
}

impl VrrpInstance {
    /// Validate `config` and run the Startup event at `now` (RFC 9568 section 6.4.1): an
    /// address owner (priority 255) becomes Master at once (advert + GARPs queued); any other
    /// instance enters Backup with Master_Down_Timer = Master_Down_Interval. Fixed-weight
    /// tracked objects start up (call [`VrrpInstance::set_track`] for any that are down);
    /// track files start with their configured [`crate::TrackFileWeight::value`], and when
    /// one of those means FAULT the instance starts in FAULT instead (keepalived vrrp_track.c
    /// initialise_vrrp_file_tracking_priorities(): "entering FAULT state (tracked file ...
    /// has status ...)").
    ///
    /// # Errors
    /// Any [`ConfigError`] from [`VrrpConfig::validate`].
    pub fn new(config: VrrpConfig, now: Micros) -> Result<Self, ConfigError> {
        let d = config.derive()?;
        let (auth_type, auth_data) = match (&config.authentication, d.version) {
            (Some(a), Version::V2) => (auth_type::PASS, a.auth_data()),
            _ => (auth_type::NONE, [0; 8]),
        };
        let src_mac = if config.use_vmac {
            wire::virtual_mac(d.family, config.virtual_router_id)
        } else {
            config.interface_mac
        };
        let mut inst = VrrpInstance {
            version: d.version,
            family: d.family,
            src_ip: d.src_ip,
            src_mac,
            auth_type,
            auth_data,
            adver_int_cs: d.adver_int_cs,
            mai_cs: d.adver_int_cs,
            base_priority: config.priority,
            effective_priority: config.priority,
            track_status: config
                .track
                .iter()
                .map(|t| TrackStatus::of_up_down(t.weight, true))
                .chain(
                    config
                        .track_file
                        .iter()
                        .map(|t| TrackStatus::of_value(t.weight, t.reverse, t.value)),
                )
                .collect(),
            track_values: config.track_file.iter().map(|t| t.value).collect(),
            interface_up: true,
            state: State::Initialize,
            adver_at: None,
            master_down_at: None,
            preempt_until: None,
            garp_second_at: None,
            garp_refresh_at: None,
            garp_lower_prio_at: None,
            master_addr: None,
            advert_pending: None,
            advert_peer_next: 0,
            garp_rounds: 0,
            garp_vip_next: 0,
            events: VecDeque::with_capacity(MAX_EVENTS),
            stats: Stats::default(),
            cfg: config,
        };
        inst.effective_priority = inst.computed_priority();
        inst.start(now);
        Ok(inst)
    }

    // --------------------------------------------------------------------------------------
    // Accessors
    // --------------------------------------------------------------------------------------

    /// The configuration this instance runs with.
    pub fn config(&self) -> &VrrpConfig {
        &self.cfg
    }
    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }
    /// Virtual Router Identifier.
    pub fn vrid(&self) -> u8 {
        self.cfg.virtual_router_id
    }
    /// Address family.
    pub fn family(&self) -> Family {
        self.family
    }
    /// VRRP version in use.
    pub fn version(&self) -> Version {
        self.version
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Base priority (the configured `priority`, or 254 after a two-owner back-off).
    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }
    /// Effective priority: the base priority plus every tracked object's contribution
    /// ([`TrackStatus::priority`]), clamped to 1..=254; an address owner's 255 is never
    /// adjusted (keepalived vrrp_track.c vrrp_set_effective_priority(): "Don't change
    /// priority if address owner"; `total_priority < 1` gives 1, `>= 255` gives 254).
    /// This is the priority of the next advert and of the Skew_Time.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    /// Status of `config().track[index]`, `None` when out of range.
    pub fn track_status(&self, index: usize) -> Option<TrackStatus> {
        if index >= self.cfg.track.len() {
            return None;
        }
        self.track_status.get(index).copied()
    }
    /// Status of `config().track_file[index]` for its current value, `None` when out of
    /// range.
    pub fn track_file_status(&self, index: usize) -> Option<TrackStatus> {
        self.track_status
            .get(self.cfg.track.len().checked_add(index)?)
            .copied()
    }
    /// Current value of `config().track_file[index]`, `None` when out of range.
    pub fn track_file_value(&self, index: usize) -> Option<i64> {
        self.track_values.get(index).copied()
    }
    /// Primary address used as advert source and in the equal-priority tie-break.
    pub fn primary_addr(&self) -> IpAddr {
        self.src_ip
    }
    /// Source address of the last accepted advert while Backup (the current master).
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }
    /// Master_Adver_Interval in centiseconds (v2: the local interval).
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.mai_cs
    }
    /// Skew_Time in microseconds. v3 (RFC 9568 section 6.1): `(256 - Priority) *
    /// Master_Adver_Interval / 256` centiseconds, computed as keepalived does in microseconds:
    /// `(256 - p) * MAI_cs * 625 / 16`. v2 (RFC 3768 section 6.1): `(256 - Priority) / 256`
    /// seconds.
    pub fn skew_time_us(&self) -> Micros {
        let p = 256 - u64::from(self.effective_priority);
        match self.version {
            Version::V3 => p * u64::from(self.mai_cs) * 625 / 16,
            Version::V2 => p * US_PER_S / 256,
        }
    }
    /// Master_Down_Interval in microseconds: `3 * Master_Adver_Interval + Skew_Time`.
    pub fn master_down_interval_us(&self) -> Micros {
        3 * u64::from(self.mai_cs) * US_PER_CS + self.skew_time_us()
    }
    /// True in Master: the instance must answer ARP / NS for the VIPs and forward frames to
    /// the virtual MAC (RFC 9568 section 6.4.3).
    pub fn answers_arp(&self) -> bool {
        self.state == State::Master
    }
    /// True when packets addressed to the VIPs may be accepted: Master and (owner or
    /// Accept_Mode) (RFC 9568 section 6.4.3).
    pub fn accepts_vip_traffic(&self) -> bool {
        self.state == State::Master && (self.base_priority == 255 || self.cfg.accept)
    }
    /// Largest frame [`VrrpInstance::poll_transmit`] may write for this instance.
    pub fn max_transmit_len(&self) -> usize {
        let ip = match self.family {
            Family::V4 => IPV4_HDR_LEN,
            Family::V6 => IPV6_HDR_LEN,
        };
        let repr = self.repr(0);
        (ETH_HDR_LEN + ip + repr.payload_len(self.family))
            .max(wire::GARP_FRAME_LEN)
            .max(wire::NA_FRAME_LEN)
    }

    // --------------------------------------------------------------------------------------
    // Inputs
    // --------------------------------------------------------------------------------------

    /// Handle timer expiry at `now` (call at or after [`VrrpInstance::poll_timeout`]).
    /// Backup: Master_Down_Timer fired -> become Master. Master: Adver_Timer fired -> queue an
    /// advert and restart the timer; also the delayed GARP burst (`garp_master_delay`) and
    /// the periodic refresh (`garp_master_refresh`).
    pub fn handle_timeout(&mut self, now: Micros) {
        match self.state {
            State::Backup => {
                if self.master_down_at.is_some_and(|t| t <= now) {
                    self.become_master(now, Reason::MasterDown);
                }
            }
            State::Master => {
                if self.adver_at.is_some_and(|t| t <= now) {
                    self.queue_advert(self.effective_priority);
                    self.adver_at = Some(now.saturating_add(self.adver_int_us()));
                }
                if self.garp_second_at.is_some_and(|t| t <= now) {
                    self.garp_second_at = None;
                    self.garp_rounds = self.garp_rounds.saturating_add(self.cfg.garp_master_repeat);
                }
                if self.garp_lower_prio_at.is_some_and(|t| t <= now) {
                    self.garp_lower_prio_at = None;
                    self.garp_rounds = self.garp_rounds.saturating_add(self.garp_lower_prio_rep());
                }
                if self.garp_refresh_at.is_some_and(|t| t <= now) {
                    self.garp_rounds = self
                        .garp_rounds
                        .saturating_add(self.cfg.garp_master_refresh_repeat);
                    self.garp_refresh_at = Some(now.saturating_add(self.garp_refresh_us()));
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// The earliest time at which [`VrrpInstance::handle_timeout`] must be called, or `None`
    /// when no timer runs (Initialize, Fault).
    pub fn poll_timeout(&self) -> Option<Micros> {
        [
            self.adver_at,
            self.master_down_at,
            self.garp_second_at,
            self.garp_refresh_at,
            self.garp_lower_prio_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handle a VRRP message read from a raw socket: `payload` is the VRRP message (from its
    /// version/type byte), `meta` the IP source, destination and TTL / hop limit the kernel
    /// reported. Runs [`wire::decode_payload`] then [`VrrpInstance::handle_advert`].
    ///
    /// # Errors
    /// The [`DropReason`] (already counted in [`Stats`]).
    pub fn handle_packet(
        &mut self,
        now: Micros,
        meta: &IpMeta,
        payload: &[u8],
    ) -> Result<(), DropReason> {
        match wire::decode_payload(payload, meta) {
            Ok(adv) => self.handle_advert(now, meta, &adv),
            Err(e) => self.drop_with(DropReason::Decode(e)),
        }
    }

    /// Handle a whole IP packet (IPv4 or IPv6 header + VRRP). See [`wire::decode_ip`].
    ///
    /// # Errors
    /// The [`DropReason`] (already counted in [`Stats`]).
    pub fn handle_ip(&mut self, now: Micros, packet: &[u8]) -> Result<(), DropReason> {
        match wire::decode_ip(packet) {
            Ok((meta, adv)) => self.handle_advert(now, &meta, &adv),
            Err(e) => self.drop_with(DropReason::Decode(e)),
        }
    }

    /// Handle a whole Ethernet frame. See [`wire::decode_frame`].
    ///
    /// # Errors
    /// The [`DropReason`] (already counted in [`Stats`]).
    pub fn handle_frame(&mut self, now: Micros, frame: &[u8]) -> Result<(), DropReason> {
        match wire::decode_frame(frame) {
            Ok((meta, adv)) => self.handle_advert(now, &meta, &adv),
            Err(e) => self.drop_with(DropReason::Decode(e)),
        }
    }

    /// Count a drop the caller (e.g. [`crate::Router`]) attributed to this instance.
    pub(crate) fn count_drop(&mut self, r: &DropReason) {
        self.stats.count_drop(r);
    }

    fn drop_with(&mut self, r: DropReason) -> Result<(), DropReason> {
        self.stats.count_drop(&r);
        Err(r)
    }

    /// Handle an advert the codec already decoded (RFC 9568 section 7.1 receive checks that
    /// need configuration, then section 6.4.2 / 6.4.3):
    /// VRID and family; version; v2 Auth Type and PASS data (constant-time compare); v2 Adver
    /// Int equal to local (v3: non-zero); address list equal to the VIPs unless priority 255.
    ///
    /// # Errors
    /// The [`DropReason`] (already counted in [`Stats`]).
    pub fn handle_advert(
        &mut self,
        now: Micros,
        meta: &IpMeta,
        adv: &Advert<'_>,
    ) -> Result<(), DropReason> {
        if let Err(r) = self.check(meta, adv) {
            return self.drop_with(r);
        }
        self.stats.advert_rcvd += 1;
        if adv.priority == 0 {
            self.stats.pri_zero_rcvd += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, meta, adv),
            State::Master => self.master_rx(now, meta, adv),
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    fn check(&self, meta: &IpMeta, adv: &Advert<'_>) -> Result<(), DropReason> {
        if self.state == State::Initialize {
            return Err(DropReason::NotRunning);
        }
        if adv.vrid != self.cfg.virtual_router_id || adv.family != self.family {
            return Err(DropReason::Vrid);
        }
        if adv.version != self.version {
            return Err(DropReason::Version);
        }
        if meta.src == self.src_ip {
            return Err(DropReason::OwnAdvert);
        }
        if self.cfg.check_unicast_src
            && !self.cfg.unicast_peer.is_empty()
            && !self.cfg.unicast_peer.contains(&meta.src)
        {
            return Err(DropReason::UnknownUnicastSource);
        }
        match self.version {
            Version::V2 => {
                if adv.auth_type > auth_type::AH {
                    return Err(DropReason::InvalidAuthType);
                }
                if adv.auth_type != self.auth_type {
                    return Err(DropReason::AuthTypeMismatch);
                }
                if self.auth_type == auth_type::PASS && !ct_eq(&adv.auth_data, &self.auth_data) {
                    return Err(DropReason::AuthFailure);
                }
                if u32::from(adv.adver_int) * 100 != u32::from(self.adver_int_cs) {
                    return Err(DropReason::Interval);
                }
            }
            Version::V3 => {
                if adv.adver_int == 0 {
                    return Err(DropReason::Interval);
                }
            }
        }
        if adv.priority != 255 && !self.same_vips(adv) {
            return Err(DropReason::AddressList);
        }
        Ok(())
    }

    fn same_vips(&self, adv: &Advert<'_>) -> bool {
        let vips = &self.cfg.virtual_ipaddress;
        usize::from(adv.count) == vips.len() && adv.addresses().all(|a| vips.contains(&a))
    }

    fn backup_rx(&mut self, now: Micros, meta: &IpMeta, adv: &Advert<'_>) {
        if adv.priority == 0 {
            // RFC 9568 6.4.2: Set the Master_Down_Timer to Skew_Time.
            self.master_down_at = Some(now.saturating_add(self.skew_time_us()));
            return;
        }
        let eff = self.effective_priority;
        let preempt_delay_running =
            !self.cfg.preempt_delay.is_zero() && self.preempt_until.is_none_or(|t| t > now);
        if self.cfg.nopreempt || adv.priority >= eff || preempt_delay_running {
            if self.version == Version::V3 {
                self.mai_cs = adv.adver_int;
            }
            self.master_down_at = Some(now.saturating_add(self.master_down_interval_us()));
            self.master_addr = Some(meta.src);
            if !self.cfg.preempt_delay.is_zero() {
                if adv.priority >= eff {
                    self.preempt_until = None;
                } else if self.preempt_until.is_none() {
                    let d = u64::try_from(self.cfg.preempt_delay.as_micros()).unwrap_or(u64::MAX);
                    self.preempt_until = Some(now.saturating_add(d));
                }
            }
        }
        // Otherwise discard: the Master_Down_Timer keeps running and we will preempt.
    }

    fn master_rx(&mut self, now: Micros, meta: &IpMeta, adv: &Advert<'_>) {
        if adv.priority == 0 {
            // RFC 9568 6.4.3: Send an ADVERTISEMENT; reset the Adver_Timer.
            self.queue_advert(self.effective_priority);
            self.adver_at = Some(now.saturating_add(self.adver_int_us()));
            return;
        }
        let cmp = addr_cmp(meta.src, self.src_ip);
        if adv.priority == self.effective_priority
            && self.effective_priority == 255
            && cmp != std::cmp::Ordering::Equal
        {
            // keepalived vrrp.c: both configured as address owner: reduce local priority.
            self.base_priority = 254;
            self.update_priority(now);
            self.push_event(Event::OwnerConflict { src: meta.src });
        }
        let eff = self.effective_priority;
        let higher = adv.priority > eff || (adv.priority == eff && cmp.is_gt());
        let lower = adv.priority < eff || (adv.priority == eff && cmp.is_lt());
        if higher {
            if self.version == Version::V3 {
                self.mai_cs = adv.adver_int;
            }
            self.master_addr = Some(meta.src);
            self.become_backup(now, Reason::Preempted);
        } else if lower {
            if !self.cfg.lower_prio_no_advert {
                self.queue_advert(eff);
            }
            // keepalived: refresh the hosts' ARP caches (garp_lower_prio_repeat now, and again
            // after garp_lower_prio_delay).
            let rep = self.garp_lower_prio_rep();
            if rep > 0 {
                self.garp_rounds = self.garp_rounds.saturating_add(rep);
                let delay = self
                    .cfg
                    .garp_lower_prio_delay
                    .unwrap_or(self.cfg.garp_master_delay);
                if !delay.is_zero() {
                    let d = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
                    self.garp_lower_prio_at = Some(now.saturating_add(d));
                }
            }
            self.push_event(Event::MasterRxLowerPriority {
                src: meta.src,
                priority: adv.priority,
            });
        }
    }

    /// Report the state of fixed-weight tracked object `index` (position in
    /// `config().track`) at `now`: its status becomes [`TrackStatus::of_up_down`], the
    /// effective priority is recomputed and the instance enters / leaves FAULT for weight-0
    /// objects. Reporting the state the object already has changes nothing. Out-of-range
    /// indexes are ignored. See [`VrrpInstance::set_track_value`] for
    /// what a priority change does to the timers.
    pub fn set_track(&mut self, now: Micros, index: usize, up: bool) {
        let status = self
            .cfg
            .track
            .get(index)
            .map(|t| TrackStatus::of_up_down(t.weight, up));
        let (Some(status), Some(slot)) = (status, self.track_status.get_mut(index)) else {
            return;
        };
        if *slot == status {
            // keepalived acts on changes only (a script's or interface's state flipped).
            return;
        }
        *slot = status;
        self.update_priority(now);
        self.update_fault(now);
    }

    /// [`VrrpInstance::set_track`] by object name; returns false when no object has that name.
    pub fn set_track_by_name(&mut self, now: Micros, name: &str, up: bool) -> bool {
        match self.cfg.track.iter().position(|t| t.name == name) {
            Some(i) => {
                self.set_track(now, i, up);
                true
            }
            None => false,
        }
    }

    /// Report the new `value` of variable-weight tracked object `index` (position in
    /// `config().track_file`) at `now`, as keepalived does when a track file changes
    /// (keepalived/trackers/track_file.c update_track_file_status() and
    /// process_update_vrrp_track_file_status()). The object's status becomes
    /// [`TrackStatus::of_value`]`(weight, reverse, value)`:
    ///
    /// - status -254 (weight 0: the failing value) puts the instance in FAULT (a Master
    ///   sends its priority-0 advert). As in keepalived, entering FAULT this way leaves the
    ///   effective priority as it was (only `total_priority` drops, so the FAULT
    ///   notification carries the old priority); it is recomputed on the next change.
    /// - otherwise the status replaces the object's previous contribution and the effective
    ///   priority is recomputed ([`VrrpInstance::effective_priority`]); the next advert
    ///   carries it. A Backup's Master_Down_Timer moves by the change of
    ///   Master_Down_Interval (its Skew_Time depends on the priority), never into the past
    ///   (vrrp_set_effective_priority(): `sands` += new `ms_down_timer` - old). Leaving
    ///   FAULT starts the instance again in Backup (try_up_instance()).
    ///
    /// A value whose status equals the current one changes nothing but the stored value.
    /// Out-of-range indexes are ignored.
    ///
    /// One deliberate difference: when a weighted track file leaves FAULT, keepalived 2.2 sets
    /// the effective priority from `total_priority` without vrrp_set_effective_priority()'s
    /// address-owner check, so an owner would come back advertising 254; here an owner keeps
    /// 255 (RFC 9568 section 5.2.4: the owner's priority is 255).
    pub fn set_track_value(&mut self, now: Micros, index: usize, value: i64) {
        let Some(t) = self.cfg.track_file.get(index) else {
            return;
        };
        let status = TrackStatus::of_value(t.weight, t.reverse, value);
        let Some(slot_index) = self.cfg.track.len().checked_add(index) else {
            return;
        };
        let (Some(old), Some(v)) = (
            self.track_status.get_mut(slot_index),
            self.track_values.get_mut(index),
        ) else {
            return;
        };
        *v = value;
        // process_update_vrrp_track_file_status(): "if (previous_status == new_status)
        // return;" (a new value of the same status changes nothing).
        if *old == status {
            return;
        }
        let entering_fault = status.is_fault() && !old.is_fault();
        *old = status;
        // track_file.c: on the way into FAULT keepalived only subtracts the previous status
        // from total_priority and calls down_instance(), not vrrp_set_effective_priority().
        if !entering_fault {
            self.update_priority(now);
        }
        self.update_fault(now);
    }

    /// [`VrrpInstance::set_track_value`] by `track_file` name; returns false when no object
    /// has that name.
    pub fn set_track_value_by_name(&mut self, now: Micros, name: &str, value: i64) -> bool {
        match self.cfg.track_file.iter().position(|t| t.name == name) {
            Some(i) => {
                self.set_track_value(now, i, value);
                true
            }
            None => false,
        }
    }

    /// Report the interface's link state; down puts the instance in FAULT.
    pub fn set_interface_up(&mut self, now: Micros, up: bool) {
        self.interface_up = up;
        self.update_fault(now);
    }

    /// Shutdown event (RFC 9568 section 6.4.2 / 6.4.3): a Master queues an advert with
    /// priority 0; every timer is cancelled; the state becomes Initialize (notify `STOP`).
    /// Drain [`VrrpInstance::poll_transmit`] afterwards to send the priority-0 advert.
    pub fn shutdown(&mut self, now: Micros) {
        let _ = now;
        if self.state == State::Initialize {
            return;
        }
        let from = self.state;
        self.leave_current(true);
        self.set_state(from, State::Initialize, Reason::Shutdown);
    }

    /// Restart after [`VrrpInstance::shutdown`] (Startup event again; straight to FAULT
    /// while a tracked object or the interface holds the instance there). No effect
    /// otherwise.
    pub fn start(&mut self, now: Micros) {
        if self.state != State::Initialize {
            return;
        }
        if self.fault_wanted() {
            self.set_state(State::Initialize, State::Fault, Reason::Fault);
        } else {
            self.startup(now, Reason::Startup);
        }
    }

    // --------------------------------------------------------------------------------------
    // Outputs
    // --------------------------------------------------------------------------------------

    /// Next frame to send, written into `buf` (which should be at least
    /// [`VrrpInstance::max_transmit_len`] bytes, or [`wire::MAX_FRAME_LEN`]). Adverts come
    /// first (one per unicast peer, or one multicast), then GARPs / NAs (one per VIP per
    /// repeat). Call until it returns `None`. A buffer too small loses that frame (counted in
    /// [`Stats::tx_buffer_too_small`]).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(prio) = self.advert_pending {
            let peers = &self.cfg.unicast_peer;
            let (dst, dst_mac, last) = match peers.get(self.advert_peer_next) {
                Some(p) => (*p, None, self.advert_peer_next + 1 >= peers.len()),
                None => {
                    let g = self.family.mcast_group();
                    (g, wire::multicast_mac(g), true)
                }
            };
            if self.advert_peer_next == 0 {
                self.stats.advert_sent += 1;
                if prio == 0 {
                    self.stats.pri_zero_sent += 1;
                }
            }
            if last {
                self.advert_pending = None;
                self.advert_peer_next = 0;
            } else {
                self.advert_peer_next += 1;
            }
            let repr = self.repr(prio);
            let r = wire::encode_frame(
                &repr,
                self.src_mac,
                dst_mac.unwrap_or([0; 6]),
                self.src_ip,
                dst,
                self.cfg.checksum_form,
                buf,
            );
            match r {
                Ok(len) => {
                    let ip = match self.family {
                        Family::V4 => IPV4_HDR_LEN,
                        Family::V6 => IPV6_HDR_LEN,
                    };
                    return Some(Transmit::Advert {
                        dst,
                        dst_mac,
                        priority: prio,
                        payload_offset: ETH_HDR_LEN + ip,
                        len,
                    });
                }
                Err(_) => self.stats.tx_buffer_too_small += 1,
            }
        }
        while self.garp_rounds > 0 && self.state == State::Master {
            let vips = &self.cfg.virtual_ipaddress;
            let Some(vip) = vips.get(self.garp_vip_next).copied() else {
                self.garp_rounds = 0;
                self.garp_vip_next = 0;
                break;
            };
            self.garp_vip_next += 1;
            if self.garp_vip_next >= vips.len() {
                self.garp_vip_next = 0;
                self.garp_rounds -= 1;
            }
            let r = match vip {
                IpAddr::V4(v) => wire::encode_gratuitous_arp(self.src_mac, v, buf).map(|len| {
                    Transmit::GratuitousArp {
                        vip: v,
                        src_mac: self.src_mac,
                        len,
                    }
                }),
                IpAddr::V6(v) => {
                    wire::encode_unsolicited_na(self.src_mac, v, true, buf).map(|len| {
                        Transmit::UnsolicitedNa {
                            vip: v,
                            src_mac: self.src_mac,
                            len,
                        }
                    })
                }
            };
            match r {
                Ok(t) => {
                    self.stats.garp_sent += 1;
                    return Some(t);
                }
                Err(_) => self.stats.tx_buffer_too_small += 1,
            }
        }
        None
    }

    /// Next event (state changes with their reason, lower-priority adverts while Master,
    /// owner conflicts), oldest first. At most 64 are kept (the queue is allocated once, at
    /// construction); when full, the oldest is dropped.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // --------------------------------------------------------------------------------------
    // Internals
    // --------------------------------------------------------------------------------------

    fn repr(&self, priority: u8) -> AdvertRepr<'_> {
        let adver_int = match self.version {
            Version::V2 => self.adver_int_cs / 100,
            Version::V3 => self.adver_int_cs,
        };
        AdvertRepr {
            version: self.version,
            vrid: self.cfg.virtual_router_id,
            priority,
            adver_int,
            auth_type: self.auth_type,
            auth_data: self.auth_data,
            addrs: &self.cfg.virtual_ipaddress,
        }
    }

    fn adver_int_us(&self) -> Micros {
        u64::from(self.adver_int_cs) * US_PER_CS
    }

    fn garp_lower_prio_rep(&self) -> u32 {
        self.cfg
            .garp_lower_prio_repeat
            .unwrap_or(self.cfg.garp_master_repeat)
    }

    fn garp_refresh_us(&self) -> Micros {
        u64::try_from(self.cfg.garp_master_refresh.as_micros()).unwrap_or(u64::MAX)
    }

    fn queue_advert(&mut self, priority: u8) {
        self.advert_pending = Some(priority);
        self.advert_peer_next = 0;
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn set_state(&mut self, from: State, to: State, reason: Reason) {
        self.state = to;
        self.push_event(Event::StateChange {
            from,
            to,
            reason,
            priority: self.effective_priority,
        });
    }

    /// keepalived vrrp_set_effective_priority(): `total_priority` = base + every object's
    /// contribution, clamped to 1..=254; the owner's 255 is left alone.
    fn computed_priority(&self) -> u8 {
        if self.base_priority == 255 {
            return 255;
        }
        let total = self
            .track_status
            .iter()
            .fold(i64::from(self.base_priority), |p, s| {
                p.saturating_add(i64::from(s.priority()))
            });
        u8::try_from(total.clamp(1, 254)).unwrap_or(1)
    }

    /// Recompute the effective priority; in Backup, move the Master_Down_Timer by the change
    /// of Master_Down_Interval, not before `now` (vrrp_set_effective_priority():
    /// `timer_add_long` / `timer_sub_long` of `sands`, then the thread is requeued).
    fn update_priority(&mut self, now: Micros) {
        let new = self.computed_priority();
        if new == self.effective_priority {
            return;
        }
        let old_mdi = self.master_down_interval_us();
        self.effective_priority = new;
        let new_mdi = self.master_down_interval_us();
        if self.state == State::Backup
            && let Some(t) = self.master_down_at
        {
            let moved = if new_mdi >= old_mdi {
                t.saturating_add(new_mdi - old_mdi)
            } else {
                t.saturating_sub(old_mdi - new_mdi)
            };
            self.master_down_at = Some(moved.max(now));
        }
    }

    fn fault_wanted(&self) -> bool {
        !self.interface_up || self.track_status.iter().any(|s| s.is_fault())
    }

    fn update_fault(&mut self, now: Micros) {
        let want = self.fault_wanted();
        match self.state {
            State::Master | State::Backup if want => {
                let from = self.state;
                self.leave_current(self.interface_up);
                self.set_state(from, State::Fault, Reason::Fault);
            }
            State::Fault if !want => self.startup(now, Reason::FaultCleared),
            _ => {}
        }
    }

    /// Cancel every timer; a Master releases (priority-0 advert if `send_release`).
    fn leave_current(&mut self, send_release: bool) {
        if self.state == State::Master {
            self.stats.release_master += 1;
            if send_release {
                self.queue_advert(0);
            } else {
                self.advert_pending = None;
            }
        }
        self.garp_rounds = 0;
        self.garp_vip_next = 0;
        self.adver_at = None;
        self.master_down_at = None;
        self.garp_second_at = None;
        self.garp_refresh_at = None;
        self.garp_lower_prio_at = None;
        self.preempt_until = None;
    }

    fn startup(&mut self, now: Micros, reason: Reason) {
        let from = self.state;
        self.mai_cs = self.adver_int_cs;
        // RFC 9568 6.4.1: the owner (priority 255) goes Master at once, whatever `state`
        // says; keepalived starts every other instance in Backup, even with `state MASTER`.
        if self.base_priority == 255 {
            self.become_master(now, reason);
        } else {
            self.master_down_at = Some(now.saturating_add(self.master_down_interval_us()));
            // keepalived (vrrp_parser.c preempt_delay handler, and on leaving FAULT): the
            // preempt delay first runs from startup.
            self.preempt_until = if self.cfg.preempt_delay.is_zero() {
                None
            } else {
                let d = u64::try_from(self.cfg.preempt_delay.as_micros()).unwrap_or(u64::MAX);
                Some(now.saturating_add(d))
            };
            self.set_state(from, State::Backup, reason);
        }
    }

    fn become_master(&mut self, now: Micros, reason: Reason) {
        let from = self.state;
        self.stats.become_master += 1;
        self.master_down_at = None;
        self.preempt_until = None;
        self.master_addr = None;
        self.queue_advert(self.effective_priority);
        self.adver_at = Some(now.saturating_add(self.adver_int_us()));
        self.garp_rounds = self.cfg.garp_master_repeat;
        self.garp_vip_next = 0;
        self.garp_second_at = if self.cfg.garp_master_delay.is_zero() {
            None
        } else {
            let d = u64::try_from(self.cfg.garp_master_delay.as_micros()).unwrap_or(u64::MAX);
            Some(now.saturating_add(d))
        };
        self.garp_refresh_at = if self.cfg.garp_master_refresh.is_zero() {
            None
        } else {
            Some(now.saturating_add(self.garp_refresh_us()))
        };
        self.set_state(from, State::Master, reason);
    }

    fn become_backup(&mut self, now: Micros, reason: Reason) {
        let from = self.state;
        // A Master leaving for Backup sends no release advert and drops queued ones.
        self.leave_current(false);
        self.master_down_at = Some(now.saturating_add(self.master_down_interval_us()));
        self.set_state(from, State::Backup, reason);
    }
}

/// Constant-time equality of two 8-byte strings (no early exit on the first difference).
fn ct_eq(a: &[u8; 8], b: &[u8; 8]) -> bool {
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    std::hint::black_box(d) == 0
}

/// Unsigned comparison of two addresses in network byte order (RFC 9568 section 6.4.3).
fn addr_cmp(a: IpAddr, b: IpAddr) -> std::cmp::Ordering {
    match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x.octets().cmp(&y.octets()),
        (IpAddr::V6(x), IpAddr::V6(y)) => x.octets().cmp(&y.octets()),
        (IpAddr::V4(_), IpAddr::V6(_)) => std::cmp::Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => std::cmp::Ordering::Greater,
    }
}
