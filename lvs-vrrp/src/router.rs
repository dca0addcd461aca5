//! A small demultiplexer holding several [`VrrpInstance`]s of one interface and routing each
//! received advert to the instance with its VRID and address family (keepalived does the same
//! per socket in vrrp_scheduler.c `vrrp_dispatcher_read`). Adverts for a VRID no instance has
//! are counted as unknown VRID (the split-brain signature of mismatched `virtual_router_id`s).

use crate::instance::{DropReason, Micros, VrrpInstance};
use crate::wire::{self, DecodeError, Family, IpMeta};

/// Router-level counters (drops that no instance can be charged with).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Well-formed adverts whose VRID (and family) matches no instance.
    pub unknown_vrid: u64,
    /// Packets that failed to decode before a VRID matching an instance could be read.
    pub decode_err: u64,
}

/// Why [`Router`] dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouterDrop {
    /// No instance has this VRID in this family (counted in [`RouterStats::unknown_vrid`]).
    #[error("unknown VRID {0}")]
    UnknownVrid(u8),
    /// Undecodable and not attributable to an instance ([`RouterStats::decode_err`]).
    #[error("decode: {0}")]
    Decode(DecodeError),
    /// The instance at `index` dropped it (counted in its [`crate::Stats`]).
    #[error("instance {index}: {reason}")]
    Instance {
        /// Index of the instance in the router.
        index: usize,
        /// Its reason.
        reason: DropReason,
    },
}

/// Several instances on one interface. Instances are addressed by the index [`Router::push`]
/// returned.
#[derive(Clone, Debug, Default)]
pub struct Router {
    instances: Vec<VrrpInstance>,
    stats: RouterStats,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Add an instance; returns its index.
    pub fn push(&mut self, instance: VrrpInstance) -> usize {
        self.instances.push(instance);
        self.instances.len() - 1
    }

    /// The instances, in push order.
    pub fn instances(&self) -> &[VrrpInstance] {
        &self.instances
    }

    /// Mutable access to the instances (to poll their outputs).
    pub fn instances_mut(&mut self) -> &mut [VrrpInstance] {
        &mut self.instances
    }

    /// Router-level counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Index of the instance with `vrid` in `family`.
    pub fn find(&self, family: Family, vrid: u8) -> Option<usize> {
        self.instances
            .iter()
            .position(|i| i.vrid() == vrid && i.family() == family)
    }

    /// Earliest deadline over every instance.
    pub fn poll_timeout(&self) -> Option<Micros> {
        self.instances.iter().filter_map(|i| i.poll_timeout()).min()
    }

    /// Run [`VrrpInstance::handle_timeout`] on every instance.
    pub fn handle_timeout(&mut self, now: Micros) {
        for i in &mut self.instances {
            i.handle_timeout(now);
        }
    }

    /// Route a VRRP payload with its IP metadata (raw socket path). Returns the index of the
    /// instance that accepted it.
    ///
    /// # Errors
    /// A [`RouterDrop`]; every drop is counted once (router or instance).
    pub fn handle_packet(
        &mut self,
        now: Micros,
        meta: &IpMeta,
        payload: &[u8],
    ) -> Result<usize, RouterDrop> {
        let family = Family::of(&meta.src);
        match wire::decode_payload(payload, meta) {
            Ok(adv) => {
                let Some(index) = self.find(adv.family, adv.vrid) else {
                    self.stats.unknown_vrid += 1;
                    return Err(RouterDrop::UnknownVrid(adv.vrid));
                };
                let inst = self
                    .instances
                    .get_mut(index)
                    .ok_or(RouterDrop::UnknownVrid(adv.vrid))?;
                inst.handle_advert(now, meta, &adv)
                    .map(|()| index)
                    .map_err(|reason| RouterDrop::Instance { index, reason })
            }
            Err(e) => {
                // Charge the instance whose VRID the damaged packet names, if any.
                let index = payload.get(1).and_then(|v| self.find(family, *v));
                match index.and_then(|i| self.instances.get_mut(i).map(|inst| (i, inst))) {
                    Some((index, inst)) => {
                        let reason = DropReason::Decode(e);
                        inst.count_drop(&reason);
                        Err(RouterDrop::Instance { index, reason })
                    }
                    None => {
                        self.stats.decode_err += 1;
                        Err(RouterDrop::Decode(e))
                    }
                }
            }
        }
    }

    /// Route a whole IP packet.
    ///
    /// # Errors
    /// As [`Router::handle_packet`]; malformed IP headers count in
    /// [`RouterStats::decode_err`].
    pub fn handle_ip(&mut self, now: Micros, packet: &[u8]) -> Result<usize, RouterDrop> {
        match wire::split_ip(packet) {
            Ok((meta, payload)) => self.handle_packet(now, &meta, payload),
            Err(e) => {
                self.stats.decode_err += 1;
                Err(RouterDrop::Decode(e))
            }
        }
    }

    /// Route a whole Ethernet frame.
    ///
    /// # Errors
    /// As [`Router::handle_ip`].
    pub fn handle_frame(&mut self, now: Micros, frame: &[u8]) -> Result<usize, RouterDrop> {
        match wire::frame_ip_payload(frame) {
            Ok(ip) => self.handle_ip(now, ip),
            Err(e) => {
                self.stats.decode_err += 1;
                Err(RouterDrop::Decode(e))
            }
        }
    }
}
