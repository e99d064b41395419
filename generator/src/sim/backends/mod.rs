//! One module per overlay backend: configuration, keys, daemon start.

pub mod headscale;
pub mod nebula;
pub mod openvpn;
pub mod tinc;
pub mod wireguard;

use std::fs;
use std::path::Path;

use super::Error;

/// `fs::write`, its error naming the file.
fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    let path = path.as_ref();
    fs::write(path, contents).map_err(Error::io("write", path))
}

/// `fs::create_dir_all`, its error naming the directory.
fn create_dir_all(path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    fs::create_dir_all(path).map_err(Error::io("create", path))
}

/// `fs::set_permissions`, its error naming the file.
fn set_permissions(path: impl AsRef<Path>, perm: fs::Permissions) -> Result<(), Error> {
    let path = path.as_ref();
    fs::set_permissions(path, perm).map_err(Error::io("chmod", path))
}

/// `fs::read_to_string`, its error naming the file.
fn read_to_string(path: impl AsRef<Path>) -> Result<String, Error> {
    let path = path.as_ref();
    fs::read_to_string(path).map_err(Error::io("read", path))
}

/// `fs::copy`, its error naming the destination.
fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<u64, Error> {
    let to = to.as_ref();
    fs::copy(from, to).map_err(Error::io("copy to", to))
}
