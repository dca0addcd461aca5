//! Protocol state machines, exactly as the kernel's tables: TCP (`tcp_states`,
//! `tcp_states_dos`), UDP and SCTP (`sctp_states`), their default timeouts and the
//! active/inactive rule used for activeconns / inactconns.
//!
//! Sources: net/netfilter/ipvs/ip_vs_proto_tcp.c, ip_vs_proto_udp.c, ip_vs_proto_sctp.c.
//! State numbers are the kernel's (`IP_VS_TCP_S_*`, `IP_VS_SCTP_S_*`, `IP_VS_UDP_S_NORMAL`),
//! so the connection-sync glue can copy them to and from the wire unchanged.

use crate::error::ConnError;

/// IP protocol numbers this table knows (IANA numbers, as in the IP header).
pub mod ipproto {
    /// `IPPROTO_IP` (0): the protocol of fwmark persistence templates.
    pub const IP: u8 = 0;
    /// `IPPROTO_TCP`.
    pub const TCP: u8 = 6;
    /// `IPPROTO_UDP`.
    pub const UDP: u8 = 17;
    /// `IPPROTO_SCTP`.
    pub const SCTP: u8 = 132;
}

/// Name of a protocol as `ip_vs_proto_name()` prints it in /proc/net/ip_vs_conn and
/// `ipvsadm -Lnc` ("TCP", "UDP", "SCTP", "IP" for fwmark templates, else `IP_<n>` written
/// by the caller). Source: net/netfilter/ipvs/ip_vs_proto.c / ip_vs_conn.c.
pub fn proto_name(protocol: u8) -> Option<&'static str> {
    match protocol {
        ipproto::IP => Some("IP"),
        ipproto::TCP => Some("TCP"),
        ipproto::UDP => Some("UDP"),
        ipproto::SCTP => Some("SCTP"),
        _ => None,
    }
}

/// Direction of a packet relative to the connection (kernel `IP_VS_DIR_INPUT` /
/// `IP_VS_DIR_OUTPUT`). `INPUT_ONLY` is chosen internally while NOOUTPUT is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client -> VIP (kernel IP_VS_DIR_INPUT = 0).
    Input,
    /// Real server -> client, the reply (kernel IP_VS_DIR_OUTPUT = 1).
    Output,
}

/// Row set of the transition tables: INPUT (0), OUTPUT (1), INPUT_ONLY (2), as the kernel's
/// `IP_VS_DIR_*` numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableDir {
    /// INPUT rows.
    Input = 0,
    /// OUTPUT rows.
    Output = 1,
    /// INPUT_ONLY rows (input while NOOUTPUT is set).
    InputOnly = 2,
}

// ---------------------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------------------

/// TCP connection state, numbered as the kernel's `IP_VS_TCP_S_*` (include/net/ip_vs.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// `IP_VS_TCP_S_NONE` = 0.
    None = 0,
    /// `IP_VS_TCP_S_ESTABLISHED` = 1.
    Established = 1,
    /// `IP_VS_TCP_S_SYN_SENT` = 2.
    SynSent = 2,
    /// `IP_VS_TCP_S_SYN_RECV` = 3.
    SynRecv = 3,
    /// `IP_VS_TCP_S_FIN_WAIT` = 4.
    FinWait = 4,
    /// `IP_VS_TCP_S_TIME_WAIT` = 5.
    TimeWait = 5,
    /// `IP_VS_TCP_S_CLOSE` = 6.
    Close = 6,
    /// `IP_VS_TCP_S_CLOSE_WAIT` = 7.
    CloseWait = 7,
    /// `IP_VS_TCP_S_LAST_ACK` = 8.
    LastAck = 8,
    /// `IP_VS_TCP_S_LISTEN` = 9.
    Listen = 9,
    /// `IP_VS_TCP_S_SYNACK` = 10.
    SynAck = 10,
}

/// Number of TCP states (`IP_VS_TCP_S_LAST`).
pub const TCP_STATE_COUNT: usize = 11;

/// All TCP states in kernel index order.
pub const TCP_STATES_ALL: [TcpState; TCP_STATE_COUNT] = [
    TcpState::None,
    TcpState::Established,
    TcpState::SynSent,
    TcpState::SynRecv,
    TcpState::FinWait,
    TcpState::TimeWait,
    TcpState::Close,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::Listen,
    TcpState::SynAck,
];

impl TcpState {
    /// The state with kernel number `n`, or `None` when `n >= 11`.
    pub fn from_u8(n: u8) -> Option<TcpState> {
        TCP_STATES_ALL.get(usize::from(n)).copied()
    }
    /// Name as `tcp_state_name()` prints it ("ESTABLISHED", "SYN_RECV", ...).
    pub fn name(self) -> &'static str {
        TCP_STATE_NAMES[self as usize]
    }
    /// Active per `tcp_state_active_table`: ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK count
    /// in activeconns; every other state in inactconns (ip_vs_proto_tcp.c).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }
}

const TCP_STATE_NAMES: [&str; TCP_STATE_COUNT] = [
    "NONE",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "SYNACK",
];

/// TCP header flag bits as in byte 13 of the TCP header (RFC 9293 section 3.1).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Column of the TCP table for a flag byte: priority rst (3) > syn (0) > fin (1) > ack (2);
/// `None` for a packet with none of them, which moves the connection to CLOSE
/// (`tcp_state_idx()` in ip_vs_proto_tcp.c).
pub fn tcp_flag_index(flags: u8) -> Option<usize> {
    if flags & tcp_flags::RST != 0 {
        Some(3)
    } else if flags & tcp_flags::SYN != 0 {
        Some(0)
    } else if flags & tcp_flags::FIN != 0 {
        Some(1)
    } else if flags & tcp_flags::ACK != 0 {
        Some(2)
    } else {
        None
    }
}

use TcpState as T;
const ES: TcpState = T::Established;
const SS: TcpState = T::SynSent;
const SR: TcpState = T::SynRecv;
const FW: TcpState = T::FinWait;
const TW: TcpState = T::TimeWait;
const CL: TcpState = T::Close;
const CW: TcpState = T::CloseWait;
const LA: TcpState = T::LastAck;
const LI: TcpState = T::Listen;
const SA: TcpState = T::SynAck;

/// A TCP transition table: `[direction rows (INPUT, OUTPUT, INPUT_ONLY)][flag: syn, fin,
/// ack, rst][current state] -> next state`.
pub type TcpTable = [[[TcpState; TCP_STATE_COUNT]; 4]; 3];

/// `tcp_states` of net/netfilter/ipvs/ip_vs_proto_tcp.c (secure_tcp off).
#[rustfmt::skip]
pub static TCP_STATES: TcpTable = [
    // INPUT      sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA
    [/*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
     /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
     /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR]],
    // OUTPUT
    [/*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
     /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
     /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
     /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL]],
    // INPUT_ONLY
    [/*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
     /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
     /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
];

/// `tcp_states_dos` of net/netfilter/ipvs/ip_vs_proto_tcp.c (secure_tcp on).
#[rustfmt::skip]
pub static TCP_STATES_DOS: TcpTable = [
    // INPUT      sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA
    [/*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
     /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
     /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
     /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
    // OUTPUT
    [/*syn*/ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
     /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
     /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
     /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL]],
    // INPUT_ONLY
    [/*syn*/ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
     /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
     /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
     /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL]],
];

/// Next TCP state for a packet, as `set_tcp_state()`: the table row is chosen by `dir`,
/// the column by [`tcp_flag_index`]; a packet with no SYN/FIN/ACK/RST gives CLOSE.
pub fn tcp_next_state(secure_tcp: bool, dir: TableDir, flags: u8, cur: TcpState) -> TcpState {
    let table = if secure_tcp {
        &TCP_STATES_DOS
    } else {
        &TCP_STATES
    };
    match tcp_flag_index(flags) {
        None => TcpState::Close,
        Some(col) => table[dir as usize][col][cur as usize],
    }
}

// ---------------------------------------------------------------------------------------
// SCTP
// ---------------------------------------------------------------------------------------

/// SCTP connection state, numbered as the kernel's `IP_VS_SCTP_S_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SctpState {
    /// `IP_VS_SCTP_S_NONE` = 0.
    None = 0,
    /// `IP_VS_SCTP_S_INIT1` = 1.
    Init1 = 1,
    /// `IP_VS_SCTP_S_INIT` = 2.
    Init = 2,
    /// `IP_VS_SCTP_S_COOKIE_SENT` = 3.
    CookieSent = 3,
    /// `IP_VS_SCTP_S_COOKIE_REPLIED` = 4.
    CookieReplied = 4,
    /// `IP_VS_SCTP_S_COOKIE_WAIT` = 5.
    CookieWait = 5,
    /// `IP_VS_SCTP_S_COOKIE` = 6.
    Cookie = 6,
    /// `IP_VS_SCTP_S_COOKIE_ECHOED` = 7.
    CookieEchoed = 7,
    /// `IP_VS_SCTP_S_ESTABLISHED` = 8.
    Established = 8,
    /// `IP_VS_SCTP_S_SHUTDOWN_SENT` = 9.
    ShutdownSent = 9,
    /// `IP_VS_SCTP_S_SHUTDOWN_RECEIVED` = 10.
    ShutdownReceived = 10,
    /// `IP_VS_SCTP_S_SHUTDOWN_ACK_SENT` = 11.
    ShutdownAckSent = 11,
    /// `IP_VS_SCTP_S_REJECTED` = 12.
    Rejected = 12,
    /// `IP_VS_SCTP_S_CLOSED` = 13.
    Closed = 13,
}

/// Number of SCTP states (`IP_VS_SCTP_S_LAST`).
pub const SCTP_STATE_COUNT: usize = 14;

/// All SCTP states in kernel order.
pub const SCTP_STATES_ALL: [SctpState; SCTP_STATE_COUNT] = [
    SctpState::None,
    SctpState::Init1,
    SctpState::Init,
    SctpState::CookieSent,
    SctpState::CookieReplied,
    SctpState::CookieWait,
    SctpState::Cookie,
    SctpState::CookieEchoed,
    SctpState::Established,
    SctpState::ShutdownSent,
    SctpState::ShutdownReceived,
    SctpState::ShutdownAckSent,
    SctpState::Rejected,
    SctpState::Closed,
];

const SCTP_STATE_NAMES: [&str; SCTP_STATE_COUNT] = [
    "NONE",
    "INIT1",
    "INIT",
    "C-SENT",
    "C-REPLIED",
    "C-WAIT",
    "COOKIE",
    "C-ECHOED",
    "ESTABLISHED",
    "S-SENT",
    "S-RECEIVED",
    "S-ACK-SENT",
    "REJECTED",
    "CLOSED",
];

impl SctpState {
    /// The state with kernel number `n`, or `None` when `n >= 14`.
    pub fn from_u8(n: u8) -> Option<SctpState> {
        SCTP_STATES_ALL.get(usize::from(n)).copied()
    }
    /// Name as `sctp_state_name()` prints it ("C-SENT", "ESTABLISHED", ...).
    pub fn name(self) -> &'static str {
        SCTP_STATE_NAMES[self as usize]
    }
    /// SCTP's only active state is ESTABLISHED (`set_sctp_state()`).
    pub fn is_active(self) -> bool {
        self == SctpState::Established
    }
}

/// SCTP event (`enum ipvs_sctp_event_t`), the table column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SctpEvent {
    /// DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and unknown chunk types.
    Data = 0,
    /// INIT.
    Init = 1,
    /// INIT ACK.
    InitAck = 2,
    /// COOKIE ECHO.
    CookieEcho = 3,
    /// COOKIE ACK.
    CookieAck = 4,
    /// SHUTDOWN.
    Shutdown = 5,
    /// SHUTDOWN ACK.
    ShutdownAck = 6,
    /// SHUTDOWN COMPLETE.
    ShutdownComplete = 7,
    /// ERROR.
    Error = 8,
    /// ABORT.
    Abort = 9,
}

/// Number of SCTP events (`IP_VS_SCTP_EVENT_LAST`).
pub const SCTP_EVENT_COUNT: usize = 10;

impl SctpEvent {
    /// Event of the packet's chunks as `set_sctp_state()`: the first chunk's type (RFC 9260
    /// section 3.2 numbers) maps through `sctp_events[]`; when the first chunk is COOKIE ECHO
    /// (10) or COOKIE ACK (11) and the next chunk is ABORT (6), the event is ABORT. Types
    /// beyond 14 count as DATA.
    pub fn from_chunks(first: u8, second: Option<u8>) -> SctpEvent {
        let ty = if (first == 10 || first == 11) && second == Some(6) {
            6
        } else {
            first
        };
        match ty {
            1 => SctpEvent::Init,
            2 => SctpEvent::InitAck,
            6 => SctpEvent::Abort,
            7 => SctpEvent::Shutdown,
            8 => SctpEvent::ShutdownAck,
            9 => SctpEvent::Error,
            10 => SctpEvent::CookieEcho,
            11 => SctpEvent::CookieAck,
            14 => SctpEvent::ShutdownComplete,
            _ => SctpEvent::Data,
        }
    }
}

/// An SCTP transition table: `[dir][event][state] -> next state`.
pub type SctpTable = [[[SctpState; SCTP_STATE_COUNT]; SCTP_EVENT_COUNT]; 3];

mod sctp_abbrev {
    use super::SctpState as S;
    pub(super) const I1: S = S::Init1;
    pub(super) const IN: S = S::Init;
    pub(super) const CS: S = S::CookieSent;
    pub(super) const CR: S = S::CookieReplied;
    pub(super) const CW: S = S::CookieWait;
    pub(super) const CO: S = S::Cookie;
    pub(super) const CE: S = S::CookieEchoed;
    pub(super) const ES: S = S::Established;
    pub(super) const SS: S = S::ShutdownSent;
    pub(super) const SR: S = S::ShutdownReceived;
    pub(super) const SA: S = S::ShutdownAckSent;
    pub(super) const RJ: S = S::Rejected;
    pub(super) const CL: S = S::Closed;
}

/// `sctp_states` of net/netfilter/ipvs/ip_vs_proto_sctp.c.
#[rustfmt::skip]
pub static SCTP_STATES: SctpTable = {
    use sctp_abbrev::*;
    [
    // INPUT     sNO sI1 sIN sCS sCR sCW sCO sCE sES sSS sSR sSA sRJ sCL
    [/* d   */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
     /* i_a */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
     /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
     /* s_c */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
     /* err */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL]],
    // OUTPUT
    [/* d   */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
     /* i_a */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
     /* s_a */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
     /* s_c */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* err */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL]],
    // INPUT_ONLY
    [/* d   */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* i   */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
     /* i_a */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_e */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* c_a */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
     /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
     /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
     /* s_c */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
     /* err */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
     /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL]],
    ]
};

/// Next SCTP state (`set_sctp_state()`).
pub fn sctp_next_state(dir: TableDir, event: SctpEvent, cur: SctpState) -> SctpState {
    SCTP_STATES[dir as usize][event as usize][cur as usize]
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

/// Largest timeout accepted, in seconds: `INT_MAX / HZ` with HZ = 1000, the bound
/// `ip_vs_set_timeout()` (ip_vs_ctl.c) enforces.
pub const MAX_TIMEOUT_SECS: u32 = 2_147_483;

/// Per-state timeouts in seconds (kernel `timeout_table`s), settable like
/// `ipvsadm --set tcp tcpfin udp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP, indexed by [`TcpState`] number. Defaults (`tcp_timeouts[]`): NONE 2, ESTABLISHED
    /// 900, SYN_SENT 120, SYN_RECV 60, FIN_WAIT 120, TIME_WAIT 120, CLOSE 10, CLOSE_WAIT 60,
    /// LAST_ACK 30, LISTEN 120, SYNACK 120.
    pub tcp: [u32; TCP_STATE_COUNT],
    /// UDP's single state (`udp_timeouts[IP_VS_UDP_S_NORMAL]`), default 300.
    pub udp: u32,
    /// SCTP, indexed by [`SctpState`] number (`sctp_timeouts[]`): NONE 2, INIT1 4, INIT..
    /// COOKIE_ECHOED 61, ESTABLISHED 900, SHUTDOWN_* 61, REJECTED 4, CLOSED 61.
    pub sctp: [u32; SCTP_STATE_COUNT],
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120],
            udp: 300,
            sctp: [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61],
        }
    }
}

impl Timeouts {
    /// `ipvsadm --set tcp tcpfin udp`: sets ESTABLISHED, FIN_WAIT and UDP timeouts in
    /// seconds; 0 keeps the current value (`ip_vs_set_timeout()`, ip_vs_ctl.c).
    ///
    /// Errors: [`ConnError::TimeoutOutOfRange`] when a value exceeds [`MAX_TIMEOUT_SECS`];
    /// nothing is changed then.
    pub fn set_ipvsadm(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), ConnError> {
        for v in [tcp, tcpfin, udp] {
            if v > MAX_TIMEOUT_SECS {
                return Err(ConnError::TimeoutOutOfRange(v));
            }
        }
        if tcp != 0 {
            self.tcp[TcpState::Established as usize] = tcp;
        }
        if tcpfin != 0 {
            self.tcp[TcpState::FinWait as usize] = tcpfin;
        }
        if udp != 0 {
            self.udp = udp;
        }
        Ok(())
    }

    /// The three values `ipvsadm --timeout` prints: (ESTABLISHED, FIN_WAIT, UDP) seconds.
    pub fn ipvsadm_triple(&self) -> (u32, u32, u32) {
        (
            self.tcp[TcpState::Established as usize],
            self.tcp[TcpState::FinWait as usize],
            self.udp,
        )
    }

    /// Timeout in seconds of `state` (kernel number) for `protocol`; 0 for protocols without
    /// a table.
    pub fn for_state(&self, protocol: u8, state: u8) -> u32 {
        let s = usize::from(state);
        match protocol {
            ipproto::TCP => self.tcp.get(s).copied().unwrap_or(2),
            ipproto::UDP => self.udp,
            ipproto::SCTP => self.sctp.get(s).copied().unwrap_or(2),
            _ => 0,
        }
    }
}

/// The state name `ip_vs_state_name()` prints for a connection (templates print "NONE" /
/// "ASSURED"; UDP's single state prints "UDP").
pub fn state_name(protocol: u8, state: u8, template: bool) -> &'static str {
    if template {
        return match state {
            0 => "NONE",
            1 => "ASSURED",
            _ => "ERR!",
        };
    }
    match protocol {
        ipproto::TCP => TcpState::from_u8(state).map_or("ERR!", TcpState::name),
        ipproto::UDP if state == 0 => "UDP",
        ipproto::SCTP => SctpState::from_u8(state).map_or("ERR!", SctpState::name),
        ipproto::IP => "NONE",
        _ => "ERR!",
    }
}

/// Whether `state` of `protocol` counts in activeconns (TCP: `tcp_state_active_table`;
/// SCTP: ESTABLISHED only; UDP and others: never).
pub fn state_is_active(protocol: u8, state: u8) -> bool {
    match protocol {
        ipproto::TCP => TcpState::from_u8(state).is_some_and(TcpState::is_active),
        ipproto::SCTP => SctpState::from_u8(state).is_some_and(SctpState::is_active),
        _ => false,
    }
}

/// What the state machine needs from one packet's L4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Info {
    /// TCP: the flag byte (byte 13 of the TCP header; see [`tcp_flags`]).
    Tcp {
        /// Flag byte.
        flags: u8,
    },
    /// UDP (one state).
    Udp,
    /// SCTP: the event computed by [`SctpEvent::from_chunks`].
    Sctp {
        /// Event.
        event: SctpEvent,
    },
    /// Any other protocol: no state change, timer re-armed.
    Other,
}
