//! The `vrrp_instance` configuration, with keepalived's keyword names and defaults
//! (keepalived/vrrp/vrrp_parser.c, vrrp_data.c; keepalived.conf(5)), and its validation.
//!
//! The keepalived.conf text parser lives with the examples; it fills a [`VrrpConfig`], and
//! [`crate::VrrpInstance::new`] validates it with [`VrrpConfig::validate`].

use std::net::IpAddr;
use std::time::Duration;

use crate::wire::{ChecksumForm, Family, Version, is_link_local_v6};

/// keepalived `state MASTER|BACKUP`: the instance's initial wish. As in keepalived
/// (vrrp_scheduler.c `try_up_instance`), only an address owner (priority 255) starts as Master
/// at once; any other instance starts in Backup and becomes Master when its Master_Down_Timer
/// fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP` (keepalived's default).
    #[default]
    Backup,
}

/// keepalived `authentication { auth_type ... }` (VRRPv2 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `auth_type PASS`: simple password, Auth Type 1, 8 bytes zero-padded.
    Pass,
    /// `auth_type AH`: IPsec Authentication Header; rejected by validation (not implemented).
    Ah,
}

/// keepalived `authentication { auth_type ...; auth_pass ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authentication {
    /// `auth_type`.
    pub auth_type: AuthType,
    /// `auth_pass`: keepalived keeps the first 8 bytes (longer passwords are truncated).
    pub auth_pass: String,
}

impl Authentication {
    /// The 8-byte Authentication Data: `auth_pass` truncated to 8 bytes and zero-padded.
    pub fn auth_data(&self) -> [u8; 8] {
        let mut d = [0u8; 8];
        for (o, i) in d.iter_mut().zip(self.auth_pass.bytes()) {
            *o = i;
        }
        d
    }
}

/// One fixed-weight tracked object (`track_script`, `track_interface`, `track_process`,
/// `track_bfd` entry) with its `weight`: the object is either up or down
/// ([`crate::VrrpInstance::set_track`]). keepalived/vrrp/vrrp_track.c
/// (initialise_interface_tracking_priorities(), process_update_track_process_status()):
///
/// - `weight > 0`: while the object is up, the weight is added to the priority.
/// - `weight < 0`: while the object is down, the weight is added (so subtracted).
/// - `weight == 0`: while the object is down, the instance is in FAULT.
///
/// `reverse` is the caller's: keepalived's `weight W reverse` on these objects is this rule
/// with the weight negated and up/down swapped.
///
/// An integer-valued object (`track_file`) is a [`TrackFileWeight`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackWeight {
    /// Name of the tracked object (script, interface, process), for the caller's bookkeeping.
    pub name: String,
    /// Weight, -253..=253 (keepalived's range; it rewrites +/-254 to +/-253).
    pub weight: i32,
}

/// One variable-weight tracked object: a `track_file` entry of a `vrrp_instance`
/// (`track_file { NAME [weight W [reverse|noreverse]] }`), whose object holds an integer
/// value ([`crate::VrrpInstance::set_track_value`]). keepalived 2.2
/// keepalived/trackers/track_file.c update_track_file_status() and
/// process_update_vrrp_track_file_status(): the object's status is `value * weight`
/// (negated with `reverse`) clamped to -254..=253, where -254 means FAULT; with weight 0 a
/// non-zero value means FAULT (`reverse`: a zero value does). See [`TrackStatus::of_value`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFileWeight {
    /// Name of the tracked object (the `track_file` block's name).
    pub name: String,
    /// Weight, -254..=254 (keepalived's range for track files; unlike the fixed-weight
    /// objects, +/-254 is kept: `value * -254` is FAULT for any value >= 1).
    pub weight: i32,
    /// `weight W reverse`: the status is `-(value * weight)`, and with weight 0 a zero value
    /// is the FAULT one.
    pub reverse: bool,
    /// The value the instance starts with: keepalived reads each track file once when it
    /// starts (init_track_files(); a missing or unreadable file is 0) and builds the initial
    /// priority and FAULT state from it (vrrp_track.c
    /// initialise_vrrp_file_tracking_priorities()). Later values come through
    /// [`crate::VrrpInstance::set_track_value`].
    pub value: i64,
}

/// What one tracked object contributes to its instance now: keepalived's per-object
/// "status" (keepalived/trackers/track_file.c, keepalived/vrrp/vrrp_track.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackStatus {
    /// The object holds the instance in FAULT (keepalived's status -254, or a failed weight-0
    /// object); it adds nothing to the priority meanwhile.
    Fault,
    /// Added to the base priority, -253..=253 (0 when it contributes nothing).
    Priority(i32),
}

/// Lowest track-file status that is not FAULT (keepalived: `status <= -254` is FAULT).
const STATUS_MIN: i64 = -253;
/// Highest track-file status (keepalived clamps to 253).
const STATUS_MAX: i64 = 253;

impl TrackStatus {
    /// Status of an integer-valued object (`track_file`) holding `value`, tracked with
    /// `weight` and `reverse` (keepalived/trackers/track_file.c update_track_file_status()
    /// and process_update_vrrp_track_file_status()):
    ///
    /// - `weight == 0`: "a non-zero value means failure, a 0 status means success"
    ///   ([`TrackStatus::Fault`] / `Priority(0)`); `reverse` swaps the two.
    /// - otherwise `s = value * weight * (reverse ? -1 : 1)`, clamped to -254..=253;
    ///   -254 (any product of -254 or less) is [`TrackStatus::Fault`], anything else is
    ///   `Priority(s)`.
    ///
    /// keepalived multiplies C `int`s, which overflows (undefined behaviour) once
    /// `|value * weight|` passes 2^31; here the product is exact (i64 with saturation), so
    /// a huge value always clamps to the end of the range its sign points to.
    pub fn of_value(weight: i32, reverse: bool, value: i64) -> TrackStatus {
        if weight == 0 {
            return if (value != 0) != reverse {
                TrackStatus::Fault
            } else {
                TrackStatus::Priority(0)
            };
        }
        let s = value.saturating_mul(i64::from(weight));
        let s = if reverse { s.saturating_neg() } else { s };
        if s < STATUS_MIN {
            TrackStatus::Fault
        } else {
            // In STATUS_MIN..=STATUS_MAX after the clamp, so the conversion cannot fail.
            TrackStatus::Priority(i32::try_from(s.min(STATUS_MAX)).unwrap_or(0))
        }
    }

    /// Status of a fixed-weight object ([`TrackWeight`]) that is `up` or down
    /// (keepalived/vrrp/vrrp_track.c: a positive weight is added while up, a negative one
    /// while down, weight 0 is FAULT while down). The same rule as
    /// [`TrackStatus::of_value`] with the value 1 when the weight applies (up for a positive
    /// weight, down for a negative or zero one) and 0 otherwise.
    pub fn of_up_down(weight: i32, up: bool) -> TrackStatus {
        let applies = if weight > 0 { up } else { !up };
        TrackStatus::of_value(weight, false, i64::from(applies))
    }

    /// The priority contribution: 0 for [`TrackStatus::Fault`].
    pub fn priority(self) -> i32 {
        match self {
            TrackStatus::Fault => 0,
            TrackStatus::Priority(p) => p,
        }
    }

    /// True for [`TrackStatus::Fault`].
    pub fn is_fault(self) -> bool {
        self == TrackStatus::Fault
    }
}

/// One `vrrp_instance NAME { ... }` block. Field names are keepalived's keywords; defaults
/// (via [`Default`]) are keepalived 2.2.7's. Three fields are not keywords but facts keepalived
/// reads from the kernel: `interface_addr`, `interface_mac` (and `name`, the block's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpConfig {
    /// Instance name (`vrrp_instance NAME`), used in notify arguments.
    pub name: String,
    /// `state MASTER|BACKUP`, default BACKUP.
    pub state: InitialState,
    /// `interface`: the interface adverts are sent and received on.
    pub interface: String,
    /// The interface's primary address in the instance's family (keepalived reads it from the
    /// kernel): the advert source unless `mcast_src_ip` / `unicast_src_ip` is set, and the
    /// address compared in the equal-priority tie-break. IPv6: must be link-local.
    pub interface_addr: IpAddr,
    /// The interface's MAC address: Ethernet source of adverts and GARPs (without `use_vmac`).
    pub interface_mac: [u8; 6],
    /// `virtual_router_id`, 1..=255 (required; 0 is invalid).
    pub virtual_router_id: u8,
    /// `priority`, 1..=255, default 100; 255 = address owner.
    pub priority: u8,
    /// `advert_int`, default 1 s. v2: whole seconds 1..=255; v3: a multiple of 10 ms,
    /// 10 ms..=40.95 s.
    pub advert_int: Duration,
    /// `nopreempt`: Preempt_Mode false. keepalived requires `state BACKUP` with it.
    pub nopreempt: bool,
    /// `preempt_delay`, 0..=1000 s, default 0: for this long after startup (or after leaving
    /// FAULT), and again from the first lower-priority advert after a higher-priority one, a
    /// Backup keeps honouring lower-priority adverts before it preempts (keepalived vrrp.c
    /// `vrrp_state_backup`).
    pub preempt_delay: Duration,
    /// `authentication { }` (v2 only), default none.
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress { }`: the VIPs, all in the instance's family, at most 255.
    pub virtual_ipaddress: Vec<IpAddr>,
    /// `mcast_src_ip`: advert source address for multicast (default: `interface_addr`).
    pub mcast_src_ip: Option<IpAddr>,
    /// `unicast_src_ip`: advert source address in unicast mode (default: `interface_addr`).
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { }`: when non-empty, adverts are unicast to each peer instead of
    /// multicast, and the TTL check is skipped on receipt.
    pub unicast_peer: Vec<IpAddr>,
    /// Fixed-weight tracked objects (`track_script`, `track_interface`, `track_process`),
    /// up or down ([`crate::VrrpInstance::set_track`]); they start up.
    pub track: Vec<TrackWeight>,
    /// `track_file { }`: variable-weight tracked objects holding an integer
    /// ([`crate::VrrpInstance::set_track_value`]).
    pub track_file: Vec<TrackFileWeight>,
    /// `version` (or global `vrrp_version`); `None` = 2 for IPv4, 3 for IPv6 (IPv6 forces 3).
    pub version: Option<Version>,
    /// `garp_master_delay`, default 5 s: delay of the second GARP burst after becoming master
    /// (0 = no second burst).
    pub garp_master_delay: Duration,
    /// `garp_master_repeat`, default 5: GARPs per VIP in each burst.
    pub garp_master_repeat: u32,
    /// `garp_master_refresh`, default 0 (off): period of GARP refreshes while master.
    pub garp_master_refresh: Duration,
    /// `garp_master_refresh_repeat`, default 1: GARPs per VIP in each refresh.
    pub garp_master_refresh_repeat: u32,
    /// `garp_lower_prio_repeat`: GARPs per VIP a Master sends at once when it hears a
    /// lower-priority advert; `None` = `garp_master_repeat` (keepalived's default, so 5).
    pub garp_lower_prio_repeat: Option<u32>,
    /// `garp_lower_prio_delay`: delay of the second such burst; `None` = `garp_master_delay`
    /// (5 s); zero = no second burst.
    pub garp_lower_prio_delay: Option<Duration>,
    /// `lower_prio_no_advert`, default false: when true, a Master does not answer a
    /// lower-priority advert with an immediate advert.
    pub lower_prio_no_advert: bool,
    /// `accept` (Accept_Mode, RFC 9568 section 6.1), default false: a non-owner Master accepts
    /// packets addressed to the VIPs.
    pub accept: bool,
    /// `check_unicast_src`: in unicast mode, drop adverts whose source is not a
    /// `unicast_peer`, default false.
    pub check_unicast_src: bool,
    /// `use_vmac`: send adverts and GARPs from the virtual MAC 00-00-5E-00-01-{VRID}.
    pub use_vmac: bool,
    /// Not a keepalived keyword: the checksum form sent for VRRPv3 over IPv4 (default
    /// pseudo-header, as keepalived 2.2.7; [`ChecksumForm::MessageOnly`] is RFC 9568's).
    pub checksum_form: ChecksumForm,
}

impl Default for VrrpConfig {
    fn default() -> Self {
        VrrpConfig {
            name: String::from("VI_1"),
            state: InitialState::Backup,
            interface: String::new(),
            interface_addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            interface_mac: [0; 6],
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            mcast_src_ip: None,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            track: Vec::new(),
            track_file: Vec::new(),
            version: None,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            garp_lower_prio_repeat: None,
            garp_lower_prio_delay: None,
            lower_prio_no_advert: false,
            accept: false,
            check_unicast_src: false,
            use_vmac: false,
            checksum_form: ChecksumForm::PseudoHeader,
        }
    }
}

/// Why a [`VrrpConfig`] is rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `virtual_router_id` is 0 (valid range 1..=255).
    #[error("virtual_router_id must be 1..255")]
    VridZero,
    /// `priority` is 0 (valid range 1..=255; 0 is reserved for the release advert).
    #[error("priority must be 1..255")]
    PriorityOutOfRange,
    /// `version 2` with IPv6 addresses (VRRPv2 is IPv4 only, RFC 3768).
    #[error("VRRP version 2 cannot carry IPv6")]
    V2WithIpv6,
    /// `nopreempt` without `state BACKUP` (keepalived: "nopreempt must be used with BACKUP").
    #[error("nopreempt requires state BACKUP")]
    NopreemptWithoutBackup,
    /// `advert_int` outside the version's range or resolution.
    #[error("advert_int out of range for this VRRP version")]
    AdvertIntOutOfRange,
    /// `preempt_delay` above 1000 s.
    #[error("preempt_delay must be 0..1000 s")]
    PreemptDelayOutOfRange,
    /// VIPs, peers or source addresses mix IPv4 and IPv6.
    #[error("addresses of more than one family")]
    MixedFamilies,
    /// More than 255 `virtual_ipaddress` entries.
    #[error("more than 255 virtual addresses")]
    TooManyVips,
    /// `authentication` with VRRPv3 (RFC 5798 removed authentication).
    #[error("authentication is VRRPv2 only")]
    AuthWithV3,
    /// `auth_type PASS` with an empty `auth_pass`.
    #[error("auth_pass is empty")]
    AuthPassEmpty,
    /// `auth_type AH` is not implemented.
    #[error("auth_type AH is not supported")]
    AhUnsupported,
    /// A track `weight` outside -253..=253.
    #[error("track weight {0} out of range -253..253")]
    TrackWeightOutOfRange(i32),
    /// A `track_file` `weight` outside -254..=254 (keepalived track_file.c: "weight for
    /// track file ... must be in [-254..254] inclusive").
    #[error("track_file weight {0} out of range -254..254")]
    TrackFileWeightOutOfRange(i32),
    /// IPv6 instance whose advert source is not link-local (RFC 9568 section 5.1.2.1).
    #[error("IPv6 advert source must be link-local")]
    Ipv6SourceNotLinkLocal,
    /// `garp_master_refresh` of less than 1 ms, or repeats over 10000.
    #[error("garp settings out of range")]
    GarpOutOfRange,
}

/// The validated, derived facts an instance runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Derived {
    pub(crate) version: Version,
    pub(crate) family: Family,
    /// Advertisement_Interval in centiseconds.
    pub(crate) adver_int_cs: u16,
    /// Advert source address (also the primary address in the tie-break).
    pub(crate) src_ip: IpAddr,
}

impl VrrpConfig {
    /// The address family of the instance: that of `interface_addr`.
    pub fn family(&self) -> Family {
        Family::of(&self.interface_addr)
    }

    /// The effective VRRP version: `version`, else 3 for IPv6 and 2 for IPv4.
    pub fn effective_version(&self) -> Version {
        match (self.version, self.family()) {
            (Some(v), _) => v,
            (None, Family::V6) => Version::V3,
            (None, Family::V4) => Version::V2,
        }
    }

    /// The advert source address: `unicast_src_ip` in unicast mode, else `mcast_src_ip`, else
    /// `interface_addr`.
    pub fn src_ip(&self) -> IpAddr {
        if self.unicast_peer.is_empty() {
            self.mcast_src_ip.unwrap_or(self.interface_addr)
        } else {
            self.unicast_src_ip.unwrap_or(self.interface_addr)
        }
    }

    /// Check every rule and return the derived facts.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.derive().map(|_| ())
    }

    pub(crate) fn derive(&self) -> Result<Derived, ConfigError> {
        if self.virtual_router_id == 0 {
            return Err(ConfigError::VridZero);
        }
        if self.priority == 0 {
            return Err(ConfigError::PriorityOutOfRange);
        }
        let family = self.family();
        let src_ip = self.src_ip();
        let same = |a: &IpAddr| Family::of(a) == family;
        if !same(&src_ip)
            || !self.virtual_ipaddress.iter().all(same)
            || !self.unicast_peer.iter().all(same)
        {
            return Err(ConfigError::MixedFamilies);
        }
        let version = self.effective_version();
        if version == Version::V2 && family == Family::V6 {
            return Err(ConfigError::V2WithIpv6);
        }
        if let IpAddr::V6(s) = src_ip
            && !is_link_local_v6(&s)
        {
            return Err(ConfigError::Ipv6SourceNotLinkLocal);
        }
        if self.virtual_ipaddress.len() > 255 {
            return Err(ConfigError::TooManyVips);
        }
        if self.nopreempt && self.state != InitialState::Backup {
            return Err(ConfigError::NopreemptWithoutBackup);
        }
        let ms = self.advert_int.as_millis();
        let adver_int_cs = match version {
            Version::V2 => {
                if self.advert_int.subsec_nanos() != 0
                    || !(1..=255).contains(&self.advert_int.as_secs())
                {
                    return Err(ConfigError::AdvertIntOutOfRange);
                }
                u16::try_from(ms / 10).map_err(|_| ConfigError::AdvertIntOutOfRange)?
            }
            Version::V3 => {
                if !self.advert_int.as_nanos().is_multiple_of(10_000_000)
                    || !(10..=40_950).contains(&ms)
                {
                    return Err(ConfigError::AdvertIntOutOfRange);
                }
                u16::try_from(ms / 10).map_err(|_| ConfigError::AdvertIntOutOfRange)?
            }
        };
        if self.preempt_delay > Duration::from_secs(1000) {
            return Err(ConfigError::PreemptDelayOutOfRange);
        }
        if let Some(auth) = &self.authentication {
            if version == Version::V3 {
                return Err(ConfigError::AuthWithV3);
            }
            if auth.auth_type == AuthType::Ah {
                return Err(ConfigError::AhUnsupported);
            }
            if auth.auth_pass.is_empty() {
                return Err(ConfigError::AuthPassEmpty);
            }
        }
        if let Some(t) = self
            .track
            .iter()
            .find(|t| !(-253..=253).contains(&t.weight))
        {
            return Err(ConfigError::TrackWeightOutOfRange(t.weight));
        }
        if let Some(t) = self
            .track_file
            .iter()
            .find(|t| !(-254..=254).contains(&t.weight))
        {
            return Err(ConfigError::TrackFileWeightOutOfRange(t.weight));
        }
        if (self.garp_master_refresh > Duration::ZERO
            && self.garp_master_refresh < Duration::from_millis(1))
            || self.garp_master_repeat > 10_000
            || self.garp_master_refresh_repeat > 10_000
            || self.garp_lower_prio_repeat.is_some_and(|r| r > 10_000)
        {
            return Err(ConfigError::GarpOutOfRange);
        }
        Ok(Derived {
            version,
            family,
            adver_int_cs,
            src_ip,
        })
    }
}
