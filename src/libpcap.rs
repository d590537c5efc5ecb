//! Whether libpcap, which filter expressions need, can be loaded on this host.
//!
//! spandump does not link libpcap: the binary runs without it. This module only asks
//! the dynamic loader, under the names Debian, Fedora and Alpine install it as; it must
//! never call into the library.

use crate::capture::sys;

/// The names libpcap is tried under, in turn.
pub const LIBPCAP_NAMES: [&std::ffi::CStr; 3] = [c"libpcap.so.0.8", c"libpcap.so.1", c"libpcap.so"];

/// The first name under which libpcap loads, or `None` when it is not installed.
pub fn libpcap_available() -> Option<&'static str> {
    LIBPCAP_NAMES
        .iter()
        .find(|name| sys::can_load_library(name))
        .and_then(|name| name.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_libpcap_where_the_loader_does() {
        // The oracle: whether a libpcap shared object is in the loader's cache.
        let listed = std::process::Command::new("ldconfig")
            .arg("-p")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("libpcap.so"));
        if let Ok(listed) = listed {
            assert_eq!(libpcap_available().is_some(), listed);
        }
        assert!(!sys::can_load_library(c"libspandump-no-such-library.so.9"));
    }
}
