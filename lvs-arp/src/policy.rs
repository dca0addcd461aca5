//! The kernel's ARP decisions on a [`Host`]: whether and how to answer a received ARP frame
//! (net/ipv4/arp.c `arp_rcv`, `arp_process`, `arp_ignore`, `arp_filter`), what to learn from
//! it (`arp_accept`, `arp_is_garp`), and which source address the host's own requests carry
//! (`arp_solicit` with `arp_announce`, falling back to `inet_select_addr`).
//!
//! # arp_ignore (effective value = max(all, interface))
//!
//! | value | reply to a request for a local target when |
//! |---|---|
//! | 0 | always (the target may be on any interface, lo included) |
//! | 1 | the target is configured on the receiving interface |
//! | 2 | as 1, and one subnet on that interface holds both target and sender |
//! | 3 | the target is configured on some interface with scope link or global (not host) |
//! | 4..=7 | always (reserved) |
//! | 8 | never |
//! | other (9 and above, negative) | always |
//!
//! # Order of `arp_process` (as implemented by [`Host::arp_input`])
//!
//! 1. The frame must reach ARP: interface up, not `NOARP`, not loopback, Ethernet destination
//!    this interface, broadcast or multicast (`PACKET_OTHERHOST` is dropped in `arp_rcv`).
//! 2. Drop when the target IP is multicast, or loopback (127/8) without `route_localnet`.
//! 3. Drop when sender IP == target IP and `drop_gratuitous_arp` is set.
//! 4. Sender IP 0.0.0.0 (duplicate-address probe): reply when it is a request, the target is
//!    local and `arp_ignore` allows it (`arp_filter` is not consulted); never learn.
//! 5. A request whose input route for (target, sender) is local: reply if `arp_ignore`, then
//!    `arp_filter`, allow it, and record the sender (`neigh_event_ns`); if either forbids it,
//!    stop without learning. A sender that is multicast, broadcast, 0/8, loopback (without
//!    `route_localnet`) or one of this host's own addresses is a martian source: the route
//!    fails and the frame goes to step 6. Proxy ARP is not modelled.
//! 6. Learning (replies and requests not for us): see [`Learn::Update`].
//!
//! `rp_filter` and `accept_local` are taken as 0 (the kernel defaults).

use core::fmt;
use core::net::Ipv4Addr;

use crate::host::{AddrType, EffectiveConf, Host, IfName, Interface, Scope, SelectRule};
use crate::mac::MacAddr;
use crate::wire::arp::{ArpFrame, ArpOp, ArpParseError};

/// The kernel's `skb->pkt_type` of a received frame, from its Ethernet destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `PACKET_HOST`: to the receiving interface's MAC.
    Host,
    /// `PACKET_BROADCAST`: to ff:ff:ff:ff:ff:ff.
    Broadcast,
    /// `PACKET_MULTICAST`: to another group address.
    Multicast,
    /// `PACKET_OTHERHOST`: to another host's MAC (seen only in promiscuous mode).
    OtherHost,
}

impl PacketType {
    /// Classifies Ethernet destination `dst` as received on an interface with MAC `dev_mac`.
    pub fn classify(dst: MacAddr, dev_mac: MacAddr) -> PacketType {
        if dst == dev_mac {
            PacketType::Host
        } else if dst.is_broadcast() {
            PacketType::Broadcast
        } else if dst.is_multicast() {
            PacketType::Multicast
        } else {
            PacketType::OtherHost
        }
    }
}

/// Why [`Host::arp_input`] replied or did not. `Display` names the rule and its values, e.g.
/// `arp_ignore=1: target 1.1.1.2 not on enp0s8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Reply: the target is local and `arp_ignore` (and `arp_filter` if set) allowed it.
    Reply {
        /// Effective `arp_ignore`.
        arp_ignore: i32,
        /// Requested address.
        target: Ipv4Addr,
        /// Requester's address.
        sender: Ipv4Addr,
        /// Receiving interface.
        dev: IfName,
    },
    /// Reply to a duplicate-address probe (sender 0.0.0.0) for a local target.
    DadReply {
        /// Effective `arp_ignore`.
        arp_ignore: i32,
        /// Probed address.
        target: Ipv4Addr,
        /// Receiving interface.
        dev: IfName,
    },
    /// No interface with this index.
    UnknownInterface {
        /// The index given.
        ifindex: u32,
    },
    /// The receiving interface is down.
    InterfaceDown {
        /// Receiving interface.
        dev: IfName,
    },
    /// The interface does not do ARP (`IFF_NOARP`, or a loopback device whose hardware type
    /// never matches an ARP frame's).
    NoArp {
        /// Receiving interface.
        dev: IfName,
    },
    /// Ethernet destination is another host's MAC (`PACKET_OTHERHOST`, dropped by `arp_rcv`).
    OtherHost {
        /// Receiving interface.
        dev: IfName,
        /// The frame's Ethernet destination.
        eth_dst: MacAddr,
    },
    /// Target IP is multicast.
    MulticastTarget {
        /// Target IP.
        target: Ipv4Addr,
    },
    /// Target IP is in 127/8 and `route_localnet` is 0.
    LoopbackTarget {
        /// Target IP.
        target: Ipv4Addr,
    },
    /// Sender IP == target IP with `drop_gratuitous_arp` set.
    DropGratuitous {
        /// The announced address.
        ip: Ipv4Addr,
    },
    /// An ARP reply: there is nothing to answer (it only feeds learning).
    NotRequest,
    /// Duplicate-address probe for an address that is not local.
    DadNotLocal {
        /// Probed address.
        target: Ipv4Addr,
    },
    /// The sender address fails the input route (multicast, broadcast, 0/8, loopback, or one
    /// of this host's own addresses).
    MartianSender {
        /// Sender IP.
        sender: Ipv4Addr,
    },
    /// The target is not a local address of this host (proxy ARP is not modelled).
    TargetNotLocal {
        /// Target IP.
        target: Ipv4Addr,
    },
    /// `arp_ignore` forbids the reply.
    ArpIgnore {
        /// Effective `arp_ignore` (1, 2, 3 or 8).
        value: i32,
        /// Target IP.
        target: Ipv4Addr,
        /// Sender IP.
        sender: Ipv4Addr,
        /// Receiving interface.
        dev: IfName,
    },
    /// `arp_filter` forbids the reply: the route from the target back to the sender does not
    /// leave through the receiving interface.
    ArpFilter {
        /// Target IP (the reply's source).
        target: Ipv4Addr,
        /// Sender IP (the route's destination).
        sender: Ipv4Addr,
        /// Receiving interface.
        dev: IfName,
        /// Interface the route leaves through; `None` when there is no route.
        via: Option<IfName>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Reply {
                arp_ignore,
                target,
                sender,
                dev,
            } => match arp_ignore {
                1 => write!(f, "arp_ignore=1: target {target} is on {dev}"),
                2 => write!(
                    f,
                    "arp_ignore=2: target {target} is on {dev} in a subnet with sender {sender}"
                ),
                3 => write!(f, "arp_ignore=3: target {target} has scope link or global"),
                v => write!(
                    f,
                    "arp_ignore={v}: target {target} is local, reply on {dev}"
                ),
            },
            Reason::DadReply {
                arp_ignore,
                target,
                dev,
            } => write!(
                f,
                "arp_ignore={arp_ignore}: duplicate-address probe for local {target}, reply on {dev}"
            ),
            Reason::UnknownInterface { ifindex } => write!(f, "no interface with index {ifindex}"),
            Reason::InterfaceDown { dev } => write!(f, "{dev} is down"),
            Reason::NoArp { dev } => write!(f, "{dev} does not do ARP"),
            Reason::OtherHost { dev, eth_dst } => {
                write!(f, "frame to {eth_dst} is for another host, not {dev}")
            }
            Reason::MulticastTarget { target } => write!(f, "target {target} is multicast"),
            Reason::LoopbackTarget { target } => {
                write!(f, "route_localnet=0: target {target} is a loopback address")
            }
            Reason::DropGratuitous { ip } => {
                write!(f, "drop_gratuitous_arp=1: sender IP == target IP {ip}")
            }
            Reason::NotRequest => f.write_str("ARP reply: nothing to answer"),
            Reason::DadNotLocal { target } => {
                write!(
                    f,
                    "duplicate-address probe for {target}, which is not local"
                )
            }
            Reason::MartianSender { sender } => write!(f, "martian sender {sender}"),
            Reason::TargetNotLocal { target } => write!(f, "target {target} is not local"),
            Reason::ArpIgnore {
                value,
                target,
                sender,
                dev,
            } => match value {
                1 => write!(f, "arp_ignore=1: target {target} not on {dev}"),
                2 => write!(
                    f,
                    "arp_ignore=2: target {target} not on {dev} in a subnet with sender {sender}"
                ),
                3 => write!(
                    f,
                    "arp_ignore=3: target {target} has no address of scope link or global"
                ),
                v => write!(f, "arp_ignore={v}: never reply (target {target} on {dev})"),
            },
            Reason::ArpFilter {
                target,
                sender,
                dev,
                via,
            } => match via {
                Some(via) => write!(
                    f,
                    "arp_filter=1: route from {target} to {sender} leaves via {via}, not {dev}"
                ),
                None => write!(f, "arp_filter=1: no route from {target} to {sender}"),
            },
        }
    }
}

/// Neighbour state a learned update asks for (`neigh_update`'s `new` state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearnState {
    /// `NUD_REACHABLE`: a reply unicast to this interface confirms reachability.
    Reachable,
    /// `NUD_STALE`: requests and broadcast replies do not.
    Stale,
}

/// What a received ARP frame does to the neighbour table (apply it with
/// [`crate::NeighbourTable::learn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Learn {
    /// No change (dropped frames, duplicate-address probes, requests for us that we do not
    /// answer).
    Nothing,
    /// `neigh_event_ns` for a request we answer: create the sender's entry if missing and set
    /// it STALE with the sender MAC, overriding (`NEIGH_UPDATE_F_OVERRIDE`).
    Event {
        /// Receiving interface.
        ifindex: u32,
        /// Sender IP.
        ip: Ipv4Addr,
        /// Sender MAC.
        mac: MacAddr,
    },
    /// The update path of `arp_process`: an existing entry is always updated to `state`; a
    /// MAC change on a valid entry is taken only with override (more than `locktime` since the
    /// last update, or `garp`). A missing entry is created only when `create` is true:
    /// `arp_accept` allows it (1; or 2 and the sender is in a subnet of the receiving
    /// interface) and the frame is a gratuitous ARP or a reply from a unicast address.
    Update {
        /// Receiving interface.
        ifindex: u32,
        /// Sender IP.
        ip: Ipv4Addr,
        /// Sender MAC.
        mac: MacAddr,
        /// New state.
        state: LearnState,
        /// `arp_is_garp`: sender IP == target IP (a reply also needs target MAC == sender
        /// MAC) and the sender IP is unicast for this host.
        garp: bool,
        /// A missing entry may be created.
        create: bool,
    },
}

/// What to do about the frame itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpAction {
    /// Send `frame` (an ARP reply) out of the receiving interface.
    Reply {
        /// The reply frame, 42 bytes when emitted.
        frame: ArpFrame,
        /// The rule that allowed it.
        reason: Reason,
    },
    /// Send nothing.
    NoReply(Reason),
}

/// The full outcome of [`Host::arp_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpInput {
    /// Reply or not, and why.
    pub action: ArpAction,
    /// Neighbour-table effect.
    pub learn: Learn,
}

impl ArpInput {
    fn drop(reason: Reason) -> ArpInput {
        ArpInput {
            action: ArpAction::NoReply(reason),
            learn: Learn::Nothing,
        }
    }

    /// The reply frame, if any.
    pub fn reply(&self) -> Option<&ArpFrame> {
        match &self.action {
            ArpAction::Reply { frame, .. } => Some(frame),
            ArpAction::NoReply(_) => None,
        }
    }

    /// The reason, whichever the action.
    pub fn reason(&self) -> Reason {
        match self.action {
            ArpAction::Reply { reason, .. } | ArpAction::NoReply(reason) => reason,
        }
    }
}

/// Where the source address of an outgoing ARP request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceRule {
    /// The source address of the packet that triggered the request (arp_announce 0: it is
    /// local; arp_announce 1: it is local and on-link with the target on the interface).
    Trigger,
    /// `inet_select_addr` fallback.
    Select(SelectRule),
    /// No address anywhere: the request carries 0.0.0.0.
    Unspecified,
}

/// The sender IP chosen for an ARP request ([`Host::arp_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpSource {
    /// Sender IP; 0.0.0.0 when the host has none.
    pub ip: Ipv4Addr,
    /// Effective `arp_announce` of the outgoing interface.
    pub arp_announce: i32,
    /// Which rule chose it.
    pub rule: SourceRule,
}

impl fmt::Display for ArpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.arp_announce;
        let ip = self.ip;
        match self.rule {
            SourceRule::Trigger => {
                write!(f, "arp_announce={a}: {ip}, the triggering packet's source")
            }
            SourceRule::Select(SelectRule::DeviceSubnet) => {
                write!(
                    f,
                    "arp_announce={a}: {ip}, primary address in the target's subnet"
                )
            }
            SourceRule::Select(SelectRule::DeviceFirstPrimary) => {
                write!(
                    f,
                    "arp_announce={a}: {ip}, first primary address of the interface"
                )
            }
            SourceRule::Select(SelectRule::OtherDevice(dev)) => {
                write!(
                    f,
                    "arp_announce={a}: {ip}, first global primary address, found on {dev}"
                )
            }
            SourceRule::Unspecified => write!(f, "arp_announce={a}: no address, 0.0.0.0"),
        }
    }
}

fn is_loopback(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 127
}

impl Host {
    /// Parses `frame` ([`ArpFrame::parse`]) and decides on it ([`Host::arp_input`]).
    pub fn arp_input_bytes(&self, ifindex: u32, frame: &[u8]) -> Result<ArpInput, ArpParseError> {
        Ok(self.arp_input(ifindex, &ArpFrame::parse(frame)?))
    }

    /// The kernel's decision for ARP frame `frame` received on interface `ifindex`: the reply
    /// to send (if any) with the rule that decided, and the neighbour-table effect. See the
    /// module docs for the order of the checks. Never panics, allocates nothing.
    pub fn arp_input(&self, ifindex: u32, frame: &ArpFrame) -> ArpInput {
        let Some(iface) = self.interface(ifindex) else {
            return ArpInput::drop(Reason::UnknownInterface { ifindex });
        };
        let dev = iface.name;
        if !iface.up {
            return ArpInput::drop(Reason::InterfaceDown { dev });
        }
        if iface.noarp || iface.loopback {
            return ArpInput::drop(Reason::NoArp { dev });
        }
        let pkt_type = PacketType::classify(frame.eth_dst, iface.mac);
        if pkt_type == PacketType::OtherHost {
            return ArpInput::drop(Reason::OtherHost {
                dev,
                eth_dst: frame.eth_dst,
            });
        }
        let conf = EffectiveConf::combine(self.all(), &iface.conf);
        let (sip, tip) = (frame.sender_ip, frame.target_ip);
        if tip.is_multicast() {
            return ArpInput::drop(Reason::MulticastTarget { target: tip });
        }
        if !conf.route_localnet && is_loopback(tip) {
            return ArpInput::drop(Reason::LoopbackTarget { target: tip });
        }
        if sip == tip && conf.drop_gratuitous_arp {
            return ArpInput::drop(Reason::DropGratuitous { ip: sip });
        }

        // Duplicate-address probe (RFC 2131 / RFC 5227).
        if sip.is_unspecified() {
            if frame.op == ArpOp::Request && self.addr_type(tip) == AddrType::Local {
                return match self.arp_ignore(iface, &conf, sip, tip) {
                    None => ArpInput {
                        action: ArpAction::Reply {
                            frame: frame.reply_to(iface.mac),
                            reason: Reason::DadReply {
                                arp_ignore: conf.arp_ignore,
                                target: tip,
                                dev,
                            },
                        },
                        learn: Learn::Nothing,
                    },
                    Some(r) => ArpInput::drop(r),
                };
            }
            return ArpInput::drop(match frame.op {
                ArpOp::Request => Reason::DadNotLocal { target: tip },
                ArpOp::Reply => Reason::NotRequest,
            });
        }

        let reason = if frame.op == ArpOp::Request {
            match self.input_route_local(&conf, sip, tip) {
                Ok(()) => {
                    if let Some(r) = self.arp_ignore(iface, &conf, sip, tip) {
                        return ArpInput::drop(r);
                    }
                    if conf.arp_filter
                        && let Some(r) = self.arp_filter(iface, sip, tip)
                    {
                        return ArpInput::drop(r);
                    }
                    return ArpInput {
                        action: ArpAction::Reply {
                            frame: frame.reply_to(iface.mac),
                            reason: Reason::Reply {
                                arp_ignore: conf.arp_ignore,
                                target: tip,
                                sender: sip,
                                dev,
                            },
                        },
                        learn: Learn::Event {
                            ifindex,
                            ip: sip,
                            mac: frame.sender_mac,
                        },
                    };
                }
                Err(r) => r,
            }
        } else {
            Reason::NotRequest
        };

        // The update path.
        let sip_unicast = self.addr_type(sip) == AddrType::Unicast;
        let garp = frame.is_gratuitous() && sip_unicast;
        let accept = match conf.arp_accept {
            1 => true,
            2 => self
                .confirm_addr(Some(ifindex), sip, Ipv4Addr::UNSPECIFIED, Scope::Link)
                .is_some(),
            _ => false,
        };
        let create = accept && (garp || (frame.op == ArpOp::Reply && sip_unicast));
        let state = if frame.op == ArpOp::Reply && pkt_type == PacketType::Host {
            LearnState::Reachable
        } else {
            LearnState::Stale
        };
        ArpInput {
            action: ArpAction::NoReply(reason),
            learn: Learn::Update {
                ifindex,
                ip: sip,
                mac: frame.sender_mac,
                state,
                garp,
                create,
            },
        }
    }

    /// `ip_route_input_noref(skb, tip, sip, 0, dev)` reduced to "is it a local route":
    /// `Err` with the reason when the sender is martian or the target is not local.
    fn input_route_local(
        &self,
        conf: &EffectiveConf,
        sip: Ipv4Addr,
        tip: Ipv4Addr,
    ) -> Result<(), Reason> {
        let martian = Reason::MartianSender { sender: sip };
        if sip.is_multicast() || sip.is_broadcast() {
            return Err(martian);
        }
        if tip.is_broadcast() {
            return Err(Reason::TargetNotLocal { target: tip });
        }
        if sip.octets()[0] == 0 {
            return Err(martian);
        }
        if tip.octets()[0] == 0 {
            return Err(Reason::TargetNotLocal { target: tip });
        }
        if !is_loopback(tip) && is_loopback(sip) && !conf.route_localnet {
            return Err(martian);
        }
        if self.addr_type(tip) != AddrType::Local {
            return Err(Reason::TargetNotLocal { target: tip });
        }
        // fib_validate_source with rp_filter = 0 and accept_local = 0: a sender that is one of
        // our own addresses is martian.
        if self.is_own_addr(sip) {
            return Err(martian);
        }
        Ok(())
    }

    /// net/ipv4/arp.c `arp_ignore`: `Some(reason)` when the reply is forbidden.
    fn arp_ignore(
        &self,
        iface: &Interface,
        conf: &EffectiveConf,
        sip: Ipv4Addr,
        tip: Ipv4Addr,
    ) -> Option<Reason> {
        let any = Ipv4Addr::UNSPECIFIED;
        let ok = match conf.arp_ignore {
            1 => self
                .confirm_addr(Some(iface.ifindex), any, tip, Scope::Host)
                .is_some(),
            2 => self
                .confirm_addr(Some(iface.ifindex), sip, tip, Scope::Host)
                .is_some(),
            3 => self.confirm_addr(None, any, tip, Scope::Link).is_some(),
            8 => false,
            _ => true,
        };
        (!ok).then_some(Reason::ArpIgnore {
            value: conf.arp_ignore,
            target: tip,
            sender: sip,
            dev: iface.name,
        })
    }

    /// net/ipv4/arp.c `arp_filter`: `Some(reason)` when the route to the sender does not leave
    /// through the receiving interface (or does not exist).
    fn arp_filter(&self, iface: &Interface, sip: Ipv4Addr, tip: Ipv4Addr) -> Option<Reason> {
        let route = self.route_output(sip);
        match route {
            Some(r) if r.ifindex == iface.ifindex => None,
            other => Some(Reason::ArpFilter {
                target: tip,
                sender: sip,
                dev: iface.name,
                via: other
                    .and_then(|r| self.interface(r.ifindex))
                    .map(|i| i.name),
            }),
        }
    }

    /// The sender IP of an ARP request for `target` sent out of interface `ifindex`
    /// (net/ipv4/arp.c `arp_solicit`). `trigger_src` is the source address of the packet
    /// waiting for resolution, if any. With effective `arp_announce`:
    /// 0 (and any value other than 1 and 2) uses `trigger_src` if it is a local address;
    /// 1 uses it only if it is local and some subnet of the interface holds both it and the
    /// target; 2 never uses it. Otherwise `inet_select_addr(dev, target, RT_SCOPE_LINK)`
    /// ([`Host::select_addr`]) picks. `None` for an unknown interface.
    pub fn arp_source(
        &self,
        ifindex: u32,
        target: Ipv4Addr,
        trigger_src: Option<Ipv4Addr>,
    ) -> Option<ArpSource> {
        let iface = self.interface(ifindex)?;
        let arp_announce = EffectiveConf::combine(self.all(), &iface.conf).arp_announce;
        let trigger = trigger_src
            .filter(|s| !s.is_unspecified())
            .filter(|&s| match arp_announce {
                2 => false,
                1 => self.addr_type(s) == AddrType::Local && self.addr_onlink(ifindex, target, s),
                _ => self.addr_type(s) == AddrType::Local,
            });
        if let Some(ip) = trigger {
            return Some(ArpSource {
                ip,
                arp_announce,
                rule: SourceRule::Trigger,
            });
        }
        Some(match self.select_addr(ifindex, target, Scope::Link) {
            Some((ip, rule)) => ArpSource {
                ip,
                arp_announce,
                rule: SourceRule::Select(rule),
            },
            None => ArpSource {
                ip: Ipv4Addr::UNSPECIFIED,
                arp_announce,
                rule: SourceRule::Unspecified,
            },
        })
    }

    /// The ARP request this host sends to resolve `target` on `ifindex`
    /// ([`ArpFrame::request`] with the [`Host::arp_source`] sender IP); broadcast, or unicast
    /// to `unicast_to` for a re-probe. `None` for an unknown or `NOARP` interface.
    pub fn arp_solicit(
        &self,
        ifindex: u32,
        target: Ipv4Addr,
        trigger_src: Option<Ipv4Addr>,
        unicast_to: Option<MacAddr>,
    ) -> Option<(ArpFrame, ArpSource)> {
        let iface = self.interface(ifindex).filter(|i| !i.noarp)?;
        let src = self.arp_source(ifindex, target, trigger_src)?;
        Some((
            ArpFrame::request(iface.mac, src.ip, target, unicast_to),
            src,
        ))
    }
}
