//! One module per overlay backend: configuration, keys, daemon start.

pub mod headscale;
pub mod nebula;
pub mod openvpn;
pub mod tinc;
pub mod wireguard;
