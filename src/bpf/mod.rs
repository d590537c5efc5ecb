//! Classic BPF: the one instruction type of the crate, the safe interpreter that runs
//! filter expressions on inner frames, and libpcap, loaded at run time to compile them.
//!
//! * [`Instruction`] and [`op`] are shared by the programs `capture/` builds for the
//!   kernel and by the programs libpcap compiles from a tcpdump expression.
//! * [`vm`] validates a program once (libpcap's rules) and runs it on a frame with
//!   libpcap's semantics, in safe Rust: no load past the bytes present, no division by
//!   zero, no endless loop.
//! * [`libpcap`] is the only code that calls into libpcap (`dlopen`, never linked): it
//!   compiles an expression, copies the instructions out and frees libpcap's copy; it
//!   also prints programs as `tcpdump -d` does, and offers libpcap's own interpreter
//!   and validator to the tests and benchmarks that compare against them.
//! * [`Expression`] is what a run keeps: the text the user gave and its validated
//!   program.
//!
//! This module must never read a frame outside the bounds it was handed, and nothing
//! but [`libpcap`] may hold `unsafe` code.

pub mod libpcap;
pub mod vm;

pub use vm::{Frame, Program, ValidateError};

/// One classic BPF instruction, as `struct bpf_insn` / `struct sock_filter` hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Instruction {
    /// An instruction without jump offsets.
    pub const fn stmt(code: u16, k: u32) -> Instruction {
        Instruction {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump: `jt` / `jf` instructions forward from the next one.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
        Instruction { code, jt, jf, k }
    }
}

/// Opcode parts (`pcap/bpf.h`, `linux/bpf_common.h`, `linux/filter.h`).
pub mod op {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;

    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;

    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xA0;

    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xA0;

    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;

    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;

    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;

    /// `ret a` rather than `ret #k`.
    pub const RET_A: u16 = 0x10;

    /// Scratch memory words (`BPF_MEMWORDS`).
    pub const MEMWORDS: u32 = 16;

    /// `SKF_AD_OFF + SKF_AD_PROTOCOL`: on a Linux socket, an absolute load of this
    /// offset gives the frame's ethertype (`skb->protocol`, host order), not packet
    /// bytes. libpcap's interpreter has no such thing: there it is a load past the end.
    pub const AD_PROTOCOL: u32 = 0xFFFF_F000;
}

/// A filter expression as the user wrote it, with its validated program.
#[derive(Clone, Debug)]
pub struct Expression {
    text: String,
    program: Program,
}

impl Expression {
    pub fn new(text: String, program: Program) -> Expression {
        Expression { text, program }
    }

    /// Compiles `text` with libpcap for Ethernet frames and validates the result.
    pub fn compile(pcap: &libpcap::LibPcap, text: &str) -> Result<Expression, CompileError> {
        let instructions = pcap.compile(text)?;
        let program = Program::validate(&instructions).map_err(CompileError::Invalid)?;
        Ok(Expression::new(text.to_owned(), program))
    }

    /// The expression as given (recorded in pcapng `if_filter`).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the frame (`head` then `body` captured, `wire_len` on the wire) passes.
    #[inline]
    pub fn matches(&self, head: &[u8], body: &[u8], wire_len: u32) -> bool {
        self.program.run(Frame::new(head, body), wire_len) != 0
    }
}

/// Why an expression has no program.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// libpcap's own message (`can't parse filter expression: syntax error`).
    #[error("{0}")]
    Libpcap(String),
    /// libpcap produced a program the interpreter refuses (a libpcap bug).
    #[error("libpcap compiled a program spandump cannot run: {0}")]
    Invalid(ValidateError),
}
