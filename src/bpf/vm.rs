//! The classic BPF interpreter for filter expressions, in safe Rust, with libpcap's
//! semantics (`bpf_filter.c`, `pcapint_filter` and `pcapint_validate_filter`).
//!
//! A program is validated once ([`Program::validate`]) and decoded into [`Op`]s with
//! absolute jump targets; [`Program::run`] then needs no check but the packet bounds:
//!
//! * a load reads only bytes that are present (`caplen`); one past them rejects the
//!   frame (returns 0), as libpcap does; `len` is the frame's length on the wire;
//! * division or modulo by zero rejects (a constant zero is refused by validation);
//! * shifts by 32 or more give 0 (a constant one is refused by validation);
//! * `ja` may jump backwards (libpcap emits that for `protochain`); a jump to itself is
//!   refused, and a frame that makes more than [`MAX_BACKWARD_JUMPS`] backward jumps is
//!   rejected, so every run ends within `(MAX_BACKWARD_JUMPS + 1) * len` steps.
//!
//! It must never panic, allocate or read outside the frame, whatever the program and
//! the bytes.

use super::{Instruction, op};

/// Longest program accepted (libpcap's userland `BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 3_060_000;

/// Backward jumps one run may take before the frame is rejected (libpcap's bound).
pub const MAX_BACKWARD_JUMPS: u32 = 64;

/// Why a program was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("the program is empty")]
    Empty,
    #[error("the program has {0} instructions, more than {MAX_INSTRUCTIONS}")]
    TooLong(usize),
    #[error("instruction {at}: unknown opcode {code:#06x}")]
    UnknownOpcode { at: usize, code: u16 },
    #[error("instruction {at}: scratch memory word {k} does not exist")]
    NoSuchMemoryWord { at: usize, k: u32 },
    #[error("instruction {at}: division or modulo by the constant 0")]
    DivisionByZero { at: usize },
    #[error("instruction {at}: shift by the constant {k} (more than 31 bits)")]
    ShiftTooFar { at: usize, k: u32 },
    #[error("instruction {at}: jump out of the program")]
    JumpOutOfProgram { at: usize },
    #[error("instruction {at}: jump to itself")]
    JumpToItself { at: usize },
    #[error("the last instruction is not a return")]
    NoFinalReturn,
}

/// Which ancillary loads exist: none in libpcap's interpreter; the frame's protocol
/// on a Linux socket (the programs `capture/` gives the kernel, run in their tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Libpcap,
    LinuxSocket,
}

/// Operand of an ALU operation or a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    K(u32),
    X,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Ge,
    Set,
}

/// A decoded instruction; jump targets are absolute indexes, checked by validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ret(u32),
    RetA,
    LdAbs {
        size: u8,
        k: u32,
    },
    LdInd {
        size: u8,
        k: u32,
    },
    LdLen,
    LdxLen,
    LdxMsh(u32),
    LdImm(u32),
    LdxImm(u32),
    LdMem(u8),
    LdxMem(u8),
    St(u8),
    Stx(u8),
    /// `ld [AD_PROTOCOL]` on a Linux socket.
    LdProtocol,
    Ja {
        to: u32,
        backward: bool,
    },
    Jump {
        cmp: Cmp,
        src: Src,
        jt: u32,
        jf: u32,
    },
    Alu {
        alu: Alu,
        src: Src,
    },
    Neg,
    Tax,
    Txa,
}

/// A validated program, ready to run on any number of frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    ops: Vec<Op>,
    instructions: Vec<Instruction>,
}

/// The captured bytes of a frame, in up to two pieces (a synthesized link header and
/// the frame as received), read as one.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    head: &'a [u8],
    body: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn new(head: &'a [u8], body: &'a [u8]) -> Frame<'a> {
        Frame { head, body }
    }

    /// Bytes present (libpcap's `buflen`, the pcap record's `caplen`).
    #[inline]
    pub fn caplen(&self) -> u64 {
        (self.head.len() + self.body.len()) as u64
    }

    /// `N` bytes at `at`, big-endian, or `None` past the end.
    #[inline]
    fn load<const N: usize>(&self, at: u64) -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        let bytes: [u8; N] = match at.checked_sub(self.head.len()) {
            Some(rel) => self.body.get(rel..rel.checked_add(N)?)?.try_into().ok()?,
            None => {
                let mut out = [0u8; N];
                for (i, b) in out.iter_mut().enumerate() {
                    let j = at + i;
                    *b = match self.head.get(j) {
                        Some(b) => *b,
                        None => *self.body.get(j - self.head.len())?,
                    };
                }
                out
            }
        };
        Some(bytes.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b)))
    }

    #[inline]
    fn load_size(&self, size: u8, at: u64) -> Option<u32> {
        match size {
            4 => self.load::<4>(at),
            2 => self.load::<2>(at),
            _ => self.load::<1>(at),
        }
    }

    #[inline]
    fn byte(&self, at: u64) -> Option<u32> {
        self.load::<1>(at)
    }
}

impl Program {
    /// Checks `instructions` by libpcap's rules and decodes them.
    pub fn validate(instructions: &[Instruction]) -> Result<Program, ValidateError> {
        Program::validate_dialect(instructions, Dialect::Libpcap)
    }

    /// [`Program::validate`] for a given dialect.
    pub fn validate_dialect(
        instructions: &[Instruction],
        dialect: Dialect,
    ) -> Result<Program, ValidateError> {
        let len = instructions.len();
        if len == 0 {
            return Err(ValidateError::Empty);
        }
        if len > MAX_INSTRUCTIONS {
            return Err(ValidateError::TooLong(len));
        }
        let ops = instructions
            .iter()
            .enumerate()
            .map(|(at, i)| decode(at, i, len, dialect))
            .collect::<Result<Vec<Op>, ValidateError>>()?;
        if !matches!(ops[len - 1], Op::Ret(_) | Op::RetA) {
            return Err(ValidateError::NoFinalReturn);
        }
        Ok(Program {
            ops,
            instructions: instructions.to_vec(),
        })
    }

    /// The instructions as validated.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// Runs the program on `frame` (`wire_len` bytes long on the wire) and returns its
    /// verdict: 0 rejects, anything else keeps the frame.
    pub fn run(&self, frame: Frame<'_>, wire_len: u32) -> u32 {
        self.run_with_protocol(frame, wire_len, 0)
    }

    /// [`Program::run`], with `protocol` as the answer to the Linux socket's ancillary
    /// protocol load (programs validated for [`Dialect::LinuxSocket`]).
    pub fn run_with_protocol(&self, frame: Frame<'_>, wire_len: u32, protocol: u16) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; op::MEMWORDS as usize];
        let mut backward_jumps = 0u32;
        let mut pc = 0usize;
        loop {
            // Validation keeps every target inside the program and ends it with a
            // return; `get` keeps even a broken invariant from panicking.
            let Some(op) = self.ops.get(pc) else {
                return 0;
            };
            pc += 1;
            match *op {
                Op::Ret(k) => return k,
                Op::RetA => return a,
                Op::LdAbs { size, k } => match frame.load_size(size, u64::from(k)) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdInd { size, k } => match frame.load_size(size, u64::from(x) + u64::from(k)) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdLen => a = wire_len,
                Op::LdxLen => x = wire_len,
                Op::LdxMsh(k) => match frame.byte(u64::from(k)) {
                    Some(v) => x = (v & 0xF) << 2,
                    None => return 0,
                },
                Op::LdImm(k) => a = k,
                Op::LdxImm(k) => x = k,
                Op::LdMem(m) => a = mem[usize::from(m)],
                Op::LdxMem(m) => x = mem[usize::from(m)],
                Op::St(m) => mem[usize::from(m)] = a,
                Op::Stx(m) => mem[usize::from(m)] = x,
                Op::LdProtocol => a = u32::from(protocol),
                Op::Ja { to, backward } => {
                    if backward {
                        backward_jumps += 1;
                        if backward_jumps > MAX_BACKWARD_JUMPS {
                            return 0;
                        }
                    }
                    pc = to as usize;
                }
                Op::Jump { cmp, src, jt, jf } => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    let taken = match cmp {
                        Cmp::Eq => a == v,
                        Cmp::Gt => a > v,
                        Cmp::Ge => a >= v,
                        Cmp::Set => a & v != 0,
                    };
                    pc = if taken { jt } else { jf } as usize;
                }
                Op::Alu { alu, src } => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    a = match alu {
                        Alu::Add => a.wrapping_add(v),
                        Alu::Sub => a.wrapping_sub(v),
                        Alu::Mul => a.wrapping_mul(v),
                        Alu::Div => match a.checked_div(v) {
                            Some(q) => q,
                            None => return 0,
                        },
                        Alu::Mod => match a.checked_rem(v) {
                            Some(r) => r,
                            None => return 0,
                        },
                        Alu::And => a & v,
                        Alu::Or => a | v,
                        Alu::Xor => a ^ v,
                        Alu::Lsh => a.checked_shl(v).unwrap_or(0),
                        Alu::Rsh => a.checked_shr(v).unwrap_or(0),
                    };
                }
                Op::Neg => a = 0u32.wrapping_sub(a),
                Op::Tax => x = a,
                Op::Txa => a = x,
            }
        }
    }
}

/// Decodes instruction `at` of a program of `len`, by libpcap's `pcapint_valid_insn`
/// and the jump checks of `pcapint_validate_filter`.
fn decode(at: usize, i: &Instruction, len: usize, dialect: Dialect) -> Result<Op, ValidateError> {
    let k = i.k;
    let mem = || {
        u8::try_from(k)
            .ok()
            .filter(|m| u32::from(*m) < op::MEMWORDS)
            .ok_or(ValidateError::NoSuchMemoryWord { at, k })
    };
    // A conditional jump's target, `off` instructions after the next one.
    let target = |off: u8| {
        let to = at + 1 + usize::from(off);
        if to < len {
            Ok(to as u32)
        } else {
            Err(ValidateError::JumpOutOfProgram { at })
        }
    };
    let unknown = ValidateError::UnknownOpcode { at, code: i.code };
    let size = |code: u16| match code & 0x18 {
        op::W => 4,
        op::H => 2,
        _ => 1,
    };
    let code = i.code;
    // Opcodes are 8 bits wide: class, size or source, mode or operation.
    if code > 0xFF {
        return Err(unknown);
    }
    Ok(match code & 0x07 {
        op::RET => match code {
            c if c == op::RET | op::K => Op::Ret(k),
            c if c == op::RET | op::RET_A => Op::RetA,
            _ => return Err(unknown),
        },
        op::LD => match code {
            c if c == op::LD | op::W | op::ABS
                || c == op::LD | op::H | op::ABS
                || c == op::LD | op::B | op::ABS =>
            {
                if dialect == Dialect::LinuxSocket && k == op::AD_PROTOCOL {
                    Op::LdProtocol
                } else {
                    Op::LdAbs { size: size(c), k }
                }
            }
            c if c == op::LD | op::W | op::IND
                || c == op::LD | op::H | op::IND
                || c == op::LD | op::B | op::IND =>
            {
                Op::LdInd { size: size(c), k }
            }
            c if c == op::LD | op::W | op::LEN => Op::LdLen,
            c if c == op::LD | op::IMM => Op::LdImm(k),
            c if c == op::LD | op::MEM => Op::LdMem(mem()?),
            _ => return Err(unknown),
        },
        op::LDX => match code {
            c if c == op::LDX | op::W | op::LEN => Op::LdxLen,
            c if c == op::LDX | op::MSH | op::B => Op::LdxMsh(k),
            c if c == op::LDX | op::IMM => Op::LdxImm(k),
            c if c == op::LDX | op::MEM => Op::LdxMem(mem()?),
            _ => return Err(unknown),
        },
        op::ST if code == op::ST => Op::St(mem()?),
        op::STX if code == op::STX => Op::Stx(mem()?),
        op::JMP => {
            if code == op::JMP | op::JA {
                // Offsets are 32-bit and wrap: a backward jump is a huge forward one.
                let to = (at as u32).wrapping_add(1).wrapping_add(k);
                if to as usize >= len {
                    return Err(ValidateError::JumpOutOfProgram { at });
                }
                if to as usize == at {
                    return Err(ValidateError::JumpToItself { at });
                }
                return Ok(Op::Ja {
                    to,
                    backward: (to as usize) < at,
                });
            }
            let cmp = match code & 0xF0 {
                op::JEQ => Cmp::Eq,
                op::JGT => Cmp::Gt,
                op::JGE => Cmp::Ge,
                op::JSET => Cmp::Set,
                _ => return Err(unknown),
            };
            let src = if code & op::X != 0 { Src::X } else { Src::K(k) };
            Op::Jump {
                cmp,
                src,
                jt: target(i.jt)?,
                jf: target(i.jf)?,
            }
        }
        op::ALU => {
            if code & 0xF0 == op::NEG {
                return if code == op::ALU | op::NEG {
                    Ok(Op::Neg)
                } else {
                    Err(unknown)
                };
            }
            let src = if code & op::X != 0 { Src::X } else { Src::K(k) };
            let alu = match code & 0xF0 {
                op::ADD => Alu::Add,
                op::SUB => Alu::Sub,
                op::MUL => Alu::Mul,
                op::DIV => Alu::Div,
                op::MOD => Alu::Mod,
                op::AND => Alu::And,
                op::OR => Alu::Or,
                op::XOR => Alu::Xor,
                op::LSH => Alu::Lsh,
                op::RSH => Alu::Rsh,
                _ => return Err(unknown),
            };
            if let Src::K(k) = src {
                match alu {
                    Alu::Div | Alu::Mod if k == 0 => {
                        return Err(ValidateError::DivisionByZero { at });
                    }
                    Alu::Lsh | Alu::Rsh if k >= 32 => {
                        return Err(ValidateError::ShiftTooFar { at, k });
                    }
                    _ => {}
                }
            }
            Op::Alu { alu, src }
        }
        op::MISC => match code {
            c if c == op::MISC | op::TAX => Op::Tax,
            c if c == op::MISC | op::TXA => Op::Txa,
            _ => return Err(unknown),
        },
        _ => return Err(unknown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::Instruction as I;
    use op::*;

    fn prog(code: &[I]) -> Program {
        Program::validate(code).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(code: &[I], frame: &[u8]) -> u32 {
        prog(code).run(Frame::new(&[], frame), frame.len() as u32)
    }

    const RET_A: I = I::stmt(RET | op::RET_A, 0);

    #[test]
    fn returns_k_or_a() {
        assert_eq!(run(&[I::stmt(RET | K, 7)], &[]), 7);
        assert_eq!(run(&[I::stmt(LD | IMM, 9), RET_A], &[]), 9);
    }

    #[test]
    fn loads_are_big_endian_and_bounded_by_caplen() {
        let frame = [1, 2, 3, 4, 5];
        assert_eq!(run(&[I::stmt(LD | W | ABS, 1), RET_A], &frame), 0x0203_0405);
        assert_eq!(run(&[I::stmt(LD | H | ABS, 3), RET_A], &frame), 0x0405);
        assert_eq!(run(&[I::stmt(LD | B | ABS, 4), RET_A], &frame), 5);
        // One byte past the end rejects, whatever follows.
        let past = |code| run(&[code, I::stmt(RET | K, 1)], &frame);
        assert_eq!(past(I::stmt(LD | W | ABS, 2)), 0);
        assert_eq!(past(I::stmt(LD | H | ABS, 4)), 0);
        assert_eq!(past(I::stmt(LD | B | ABS, 5)), 0);
        assert_eq!(past(I::stmt(LD | B | ABS, u32::MAX)), 0);
        assert_eq!(past(I::stmt(LDX | MSH | B, 5)), 0);
        // libpcap has no ancillary loads: the protocol offset is past the end.
        assert_eq!(past(I::stmt(LD | H | ABS, AD_PROTOCOL)), 0);
    }

    #[test]
    fn indirect_loads_never_wrap() {
        let frame = [0xAB; 8];
        let ind = |x: u32, k: u32| {
            run(
                &[I::stmt(LDX | IMM, x), I::stmt(LD | B | IND, k), RET_A],
                &frame,
            )
        };
        assert_eq!(ind(3, 4), 0xAB);
        assert_eq!(ind(4, 4), 0);
        // X + k overflows 32 bits: libpcap rejects, it does not read byte 3.
        assert_eq!(ind(u32::MAX, 4), 0);
        assert_eq!(ind(4, u32::MAX), 0);
    }

    #[test]
    fn len_is_the_wire_length_not_the_bytes_present() {
        let p = prog(&[I::stmt(LD | W | LEN, 0), RET_A]);
        assert_eq!(p.run(Frame::new(&[], &[0; 10]), 1500), 1500);
        let p = prog(&[I::stmt(LDX | W | LEN, 0), I::stmt(MISC | TXA, 0), RET_A]);
        assert_eq!(p.run(Frame::new(&[], &[0; 10]), 60), 60);
    }

    #[test]
    fn a_frame_in_two_pieces_reads_as_one() {
        let whole: Vec<u8> = (0u8..32).collect();
        for split in 0..=whole.len() {
            let (head, body) = whole.split_at(split);
            for at in 0..34u32 {
                for code in [LD | W | ABS, LD | H | ABS, LD | B | ABS] {
                    let p = prog(&[I::stmt(code, at), RET_A]);
                    let want = p.run(Frame::new(&[], &whole), 32);
                    assert_eq!(
                        p.run(Frame::new(head, body), 32),
                        want,
                        "split {split} at {at}"
                    );
                }
            }
        }
        let p = prog(&[I::stmt(LDX | MSH | B, 14), I::stmt(MISC | TXA, 0), RET_A]);
        let mut frame = [0u8; 20];
        frame[14] = 0x45;
        assert_eq!(p.run(Frame::new(&frame[..14], &frame[14..]), 20), 20);
    }

    #[test]
    fn arithmetic_wraps_and_division_by_zero_rejects() {
        let alu = |a: u32, code: u16, x: u32| {
            run(
                &[
                    I::stmt(LD | IMM, a),
                    I::stmt(LDX | IMM, x),
                    I::stmt(ALU | code | X, 0),
                    RET_A,
                ],
                &[],
            )
        };
        assert_eq!(alu(5, ADD, u32::MAX), 4);
        assert_eq!(alu(5, SUB, 6), u32::MAX);
        assert_eq!(alu(0x8000_0000, MUL, 2), 0);
        assert_eq!(alu(7, DIV, 2), 3);
        assert_eq!(alu(7, MOD, 4), 3);
        assert_eq!(alu(0b1100, AND, 0b1010), 0b1000);
        assert_eq!(alu(0b1100, OR, 0b1010), 0b1110);
        assert_eq!(alu(0b1100, XOR, 0b1010), 0b0110);
        assert_eq!(alu(1, LSH, 31), 0x8000_0000);
        assert_eq!(alu(u32::MAX, LSH, 32), 0);
        assert_eq!(alu(u32::MAX, RSH, 40), 0);
        // Division or modulo by a zero X ends the program with 0.
        let zero = |code: u16| {
            run(
                &[
                    I::stmt(LD | IMM, 7),
                    I::stmt(ALU | code | X, 0),
                    I::stmt(RET | K, 1),
                ],
                &[],
            )
        };
        assert_eq!(zero(DIV), 0);
        assert_eq!(zero(MOD), 0);
        assert_eq!(
            run(&[I::stmt(LD | IMM, 1), I::stmt(ALU | NEG, 0), RET_A], &[]),
            u32::MAX
        );
    }

    #[test]
    fn comparisons_and_scratch_memory() {
        let cmp = |code: u16, a: u32, k: u32| {
            run(
                &[
                    I::stmt(LD | IMM, a),
                    I::jump(JMP | code | K, k, 1, 0),
                    I::stmt(RET | K, 0),
                    I::stmt(RET | K, 1),
                ],
                &[],
            )
        };
        assert_eq!((cmp(JEQ, 3, 3), cmp(JEQ, 3, 4)), (1, 0));
        assert_eq!((cmp(JGT, 4, 3), cmp(JGT, 3, 3)), (1, 0));
        assert_eq!((cmp(JGE, 3, 3), cmp(JGE, 2, 3)), (1, 0));
        assert_eq!((cmp(JSET, 6, 2), cmp(JSET, 6, 1)), (1, 0));
        let mem = run(
            &[
                I::stmt(LD | IMM, 42),
                I::stmt(ST, 15),
                I::stmt(LDX | MEM, 15),
                I::stmt(STX, 3),
                I::stmt(LD | MEM, 3),
                RET_A,
            ],
            &[],
        );
        assert_eq!(mem, 42);
    }

    #[test]
    fn backward_jumps_are_bounded() {
        // A counter loop: rounds back to instruction 1 until A == n.
        let rounds = |n: u32| {
            run(
                &[
                    I::stmt(LD | IMM, 0),
                    I::stmt(ALU | ADD | K, 1),
                    I::jump(JMP | JEQ | K, n, 1, 0),
                    I::stmt(JMP | JA, (-3i32) as u32),
                    RET_A,
                ],
                &[],
            )
        };
        assert_eq!(rounds(10), 10);
        assert_eq!(rounds(MAX_BACKWARD_JUMPS + 1), MAX_BACKWARD_JUMPS + 1);
        // One more backward jump than allowed rejects; an endless loop ends.
        assert_eq!(rounds(MAX_BACKWARD_JUMPS + 2), 0);
        assert_eq!(rounds(0), 0);
    }

    #[test]
    fn validation_follows_libpcap() {
        use ValidateError::*;
        let err = |code: &[I]| Program::validate(code).unwrap_err();
        assert_eq!(err(&[]), Empty);
        assert_eq!(err(&[I::stmt(LD | IMM, 0)]), NoFinalReturn);
        assert_eq!(
            err(&[I::stmt(0x0F, 0), I::stmt(RET | K, 0)]),
            UnknownOpcode { at: 0, code: 0x0F }
        );
        assert_eq!(
            err(&[I::stmt(0x106, 0)]),
            UnknownOpcode { at: 0, code: 0x106 }
        );
        assert_eq!(
            err(&[I::stmt(ST, 16), I::stmt(RET | K, 0)]),
            NoSuchMemoryWord { at: 0, k: 16 }
        );
        assert_eq!(
            err(&[I::stmt(ALU | DIV | K, 0), I::stmt(RET | K, 0)]),
            DivisionByZero { at: 0 }
        );
        assert_eq!(
            err(&[I::stmt(ALU | LSH | K, 32), I::stmt(RET | K, 0)]),
            ShiftTooFar { at: 0, k: 32 }
        );
        assert_eq!(
            err(&[I::jump(JMP | JEQ | K, 0, 1, 0), I::stmt(RET | K, 0)]),
            JumpOutOfProgram { at: 0 }
        );
        assert_eq!(
            err(&[I::stmt(JMP | JA, 1), I::stmt(RET | K, 0)]),
            JumpOutOfProgram { at: 0 }
        );
        assert_eq!(
            err(&[
                I::stmt(RET | K, 0),
                I::stmt(JMP | JA, u32::MAX),
                I::stmt(RET | K, 0)
            ]),
            JumpToItself { at: 1 }
        );
        assert_eq!(
            err(&[I::stmt(ALU | NEG | X, 0), I::stmt(RET | K, 0)]),
            UnknownOpcode {
                at: 0,
                code: ALU | NEG | X
            }
        );
        assert!(Program::validate(&[I::stmt(LD | W | LEN, 0), RET_A]).is_ok());
    }
}
