//! libpcap, loaded at run time (`dlopen`), never linked: the compiler of tcpdump's
//! filter language, and the reference the interpreter is tested against.
//!
//! spandump runs where libpcap is absent; only a filter expression (or `-d`) loads it,
//! trying `libpcap.so.0.8` (Debian's name), `libpcap.so.1`, then `libpcap.so`, or only
//! the path in `SPANDUMP_LIBPCAP` when that is set. Compiling is what tcpdump does for
//! a file: `pcap_open_dead(DLT_EN10MB, 262144)`, `pcap_compile` with the optimizer on
//! and netmask 0; the instructions are copied out and libpcap's copy freed at once.
//!
//! This is the only module of the crate that calls libpcap, and with `capture/sys.rs`
//! the only one with `unsafe` code. It must never hand out a pointer into libpcap's
//! memory, and never call libpcap from two threads at once (older versions keep the
//! compiler's and `bpf_image`'s state in globals): one lock serialises every call.

#![allow(unsafe_code)]

use super::{CompileError, Instruction};
use libloading::Library;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::Mutex;

/// The names tried, in order.
pub const LIBRARY_NAMES: [&str; 3] = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

/// Environment variable naming the one libpcap to load instead.
pub const LIBRARY_ENV: &str = "SPANDUMP_LIBPCAP";

/// What to install when no libpcap is found.
pub const INSTALL_HINT: &str = "apt-get install libpcap0.8 (Debian, Ubuntu), \
    dnf install libpcap (Fedora, RHEL), apk add libpcap (Alpine)";

/// Link type the expressions are compiled for: every inner frame is Ethernet.
const DLT_EN10MB: c_int = 1;
/// Snapshot length the programs return for a kept frame, as tcpdump's default.
pub const SNAPLEN: c_int = 262_144;

/// Serialises every call into libpcap.
static LOCK: Mutex<()> = Mutex::new(());

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

/// `struct pcap_pkthdr`.
#[repr(C)]
struct PcapPkthdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type GetErr = unsafe extern "C" fn(*mut c_void) -> *mut c_char;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type Close = unsafe extern "C" fn(*mut c_void);
type Image = unsafe extern "C" fn(*const BpfInsn, c_int) -> *mut c_char;
type OfflineFilter = unsafe extern "C" fn(*const BpfProgram, *const PcapPkthdr, *const u8) -> c_int;
type Validate = unsafe extern "C" fn(*const BpfInsn, c_int) -> c_int;
type LibVersion = unsafe extern "C" fn() -> *const c_char;

/// Why libpcap could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "filter expressions need libpcap, loaded at run time, and none could be loaded \
         (tried {tried}: {reason}); install it: {INSTALL_HINT}"
    )]
    NotFound { tried: String, reason: String },
    #[error("{path} has no function {symbol}: is it libpcap?")]
    MissingSymbol { path: String, symbol: &'static str },
}

/// A loaded libpcap with the functions spandump calls.
pub struct LibPcap {
    path: String,
    open_dead: OpenDead,
    compile: Compile,
    geterr: GetErr,
    freecode: FreeCode,
    close: Close,
    image: Image,
    offline_filter: OfflineFilter,
    validate: Validate,
    lib_version: LibVersion,
    /// Keeps the library mapped for as long as the function pointers above live.
    _library: Library,
}

impl std::fmt::Debug for LibPcap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibPcap").field("path", &self.path).finish()
    }
}

impl LibPcap {
    /// Loads libpcap: `SPANDUMP_LIBPCAP` if set, else the first of [`LIBRARY_NAMES`].
    pub fn load() -> Result<LibPcap, LoadError> {
        let names: Vec<String> = match std::env::var_os(LIBRARY_ENV) {
            Some(path) => vec![path.to_string_lossy().into_owned()],
            None => LIBRARY_NAMES.iter().map(|n| n.to_string()).collect(),
        };
        let mut reason = String::new();
        for name in &names {
            // SAFETY: loading libpcap runs its initialisers, which only set up its own
            // state; a library named by the user through SPANDUMP_LIBPCAP is trusted
            // as any library on the loader's path would be.
            match unsafe { Library::new(name) } {
                Ok(library) => return LibPcap::bind(name, library),
                Err(e) => reason = e.to_string(),
            }
        }
        Err(LoadError::NotFound {
            tried: names.join(", "),
            reason,
        })
    }

    fn bind(path: &str, library: Library) -> Result<LibPcap, LoadError> {
        fn get<T: Copy>(
            library: &Library,
            path: &str,
            symbol: &'static str,
        ) -> Result<T, LoadError> {
            let name = format!("{symbol}\0");
            // SAFETY: each `T` below is the C prototype of `symbol` in pcap/pcap.h and
            // pcap/bpf.h (stable ABI since libpcap 1.0). The copied function pointer
            // is used only while `library`, stored beside it in `LibPcap`, is loaded.
            unsafe { library.get::<T>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|_| LoadError::MissingSymbol {
                    path: path.to_owned(),
                    symbol,
                })
        }
        Ok(LibPcap {
            path: path.to_owned(),
            open_dead: get(&library, path, "pcap_open_dead")?,
            compile: get(&library, path, "pcap_compile")?,
            geterr: get(&library, path, "pcap_geterr")?,
            freecode: get(&library, path, "pcap_freecode")?,
            close: get(&library, path, "pcap_close")?,
            image: get(&library, path, "bpf_image")?,
            offline_filter: get(&library, path, "pcap_offline_filter")?,
            validate: get(&library, path, "bpf_validate")?,
            lib_version: get(&library, path, "pcap_lib_version")?,
            _library: library,
        })
    }

    /// The name or path it was loaded by.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// libpcap's own version line (`libpcap version 1.10.3 (with TPACKET_V3)`).
    pub fn version(&self) -> String {
        let _guard = lock();
        // SAFETY: pcap_lib_version returns a pointer to a static NUL-terminated string.
        let version = unsafe { (self.lib_version)() };
        if version.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated, static (see above); copied at once.
        unsafe { CStr::from_ptr(version) }
            .to_string_lossy()
            .into_owned()
    }

    /// Compiles `expression` for Ethernet frames, as tcpdump does for a file; the
    /// error is libpcap's message.
    pub fn compile(&self, expression: &str) -> Result<Vec<Instruction>, CompileError> {
        let text = CString::new(expression).map_err(|_| {
            CompileError::Libpcap("the filter expression contains a NUL byte".into())
        })?;
        let _guard = lock();
        // SAFETY: plain call; returns NULL only when out of memory.
        let pcap = unsafe { (self.open_dead)(DLT_EN10MB, SNAPLEN) };
        if pcap.is_null() {
            return Err(CompileError::Libpcap("pcap_open_dead failed".into()));
        }
        let mut program = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: `pcap` is a live handle, `program` a valid out-parameter, `text` a
        // NUL-terminated string that outlives the call. Optimizer on, netmask 0.
        let status = unsafe { (self.compile)(pcap, &mut program, text.as_ptr(), 1, 0) };
        let result = if status < 0 {
            // SAFETY: pcap_geterr returns the handle's NUL-terminated error buffer,
            // valid until the handle is closed below; copied at once.
            let message = unsafe { CStr::from_ptr((self.geterr)(pcap)) };
            Err(CompileError::Libpcap(
                message.to_string_lossy().into_owned(),
            ))
        } else {
            let instructions = if program.bf_insns.is_null() {
                Vec::new()
            } else {
                // SAFETY: on success bf_insns points to bf_len instructions owned by
                // `program` until pcap_freecode below; they are copied out first.
                unsafe { std::slice::from_raw_parts(program.bf_insns, program.bf_len as usize) }
                    .iter()
                    .map(|i| Instruction {
                        code: i.code,
                        jt: i.jt,
                        jf: i.jf,
                        k: i.k,
                    })
                    .collect()
            };
            // SAFETY: `program` was filled by pcap_compile and is freed once.
            unsafe { (self.freecode)(&mut program) };
            Ok(instructions)
        };
        // SAFETY: `pcap` is live and closed once; nothing of it is used afterwards.
        unsafe { (self.close)(pcap) };
        result
    }

    /// The program as `tcpdump -d` prints it: libpcap's `bpf_image` of each
    /// instruction, one per line.
    pub fn dump(&self, program: &[Instruction]) -> String {
        let raw = to_raw(program);
        let _guard = lock();
        let mut out = String::new();
        for (n, insn) in raw.iter().enumerate() {
            // SAFETY: bpf_image reads the one instruction it is given and returns a
            // pointer to a static NUL-terminated buffer, copied before the next call
            // (the lock keeps other threads out).
            let line = unsafe { (self.image)(insn, n as c_int) };
            if !line.is_null() {
                // SAFETY: non-null, NUL-terminated (see above).
                out.push_str(&unsafe { CStr::from_ptr(line) }.to_string_lossy());
            }
            out.push('\n');
        }
        out
    }

    /// libpcap's own verdict on a frame (`pcap_offline_filter`): the reference the
    /// interpreter is tested and measured against.
    pub fn offline_filter(&self, program: &RawProgram, frame: &[u8], wire_len: u32) -> u32 {
        let Ok(caplen) = u32::try_from(frame.len()) else {
            return 0;
        };
        let header = PcapPkthdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen,
            len: wire_len,
        };
        let bpf = BpfProgram {
            bf_len: program.insns.len() as c_uint,
            bf_insns: program.insns.as_ptr().cast_mut(),
        };
        // SAFETY: `bpf` points to `program`'s instructions, alive and unchanged for
        // the call (libpcap only reads them); `frame` holds `caplen` bytes, and
        // libpcap's loads are bounded by caplen. Callers pass programs that end, as
        // pcap_compile's do.
        unsafe { (self.offline_filter)(&bpf, &header, frame.as_ptr()) as u32 }
    }

    /// libpcap's `bpf_validate`: whether libpcap accepts the program.
    pub fn validate(&self, program: &[Instruction]) -> bool {
        let raw = to_raw(program);
        let Ok(len) = c_int::try_from(raw.len()) else {
            return false;
        };
        // SAFETY: bpf_validate reads `len` instructions from `raw`, alive for the call.
        unsafe { (self.validate)(raw.as_ptr(), len) != 0 }
    }
}

/// A program in libpcap's layout, for [`LibPcap::offline_filter`].
pub struct RawProgram {
    insns: Vec<BpfInsn>,
}

impl RawProgram {
    pub fn new(program: &[Instruction]) -> RawProgram {
        RawProgram {
            insns: to_raw(program),
        }
    }
}

/// The program as `tcpdump -dd` prints it: a C array initialiser.
pub fn dump_c(program: &[Instruction]) -> String {
    program
        .iter()
        .map(|i| format!("{{ 0x{:x}, {}, {}, 0x{:08x} }},\n", i.code, i.jt, i.jf, i.k))
        .collect()
}

/// The program as `tcpdump -ddd` prints it: the count, then one instruction per line
/// in decimal.
pub fn dump_decimal(program: &[Instruction]) -> String {
    let mut out = format!("{}\n", program.len());
    for i in program {
        out.push_str(&format!("{} {} {} {}\n", i.code, i.jt, i.jf, i.k));
    }
    out
}

fn to_raw(program: &[Instruction]) -> Vec<BpfInsn> {
    program
        .iter()
        .map(|i| BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    // A panic while holding the lock leaves libpcap as consistent as before it.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
