//! Arbitrary bytes to frame classification: must never panic; a frame that classifies as IP
//! must also parse with etherparse (the classifier says nothing etherparse would refuse).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(class) = lvs_core::classify(data) {
        if matches!(class, lvs_core::FrameClass::Ip { .. } | lvs_core::FrameClass::Vrrp(_)) {
            assert!(etherparse::SlicedPacket::from_ethernet(data).is_ok());
        }
    }
});
