//! The classic BPF interpreter for filter expressions, in safe Rust, with libpcap's
//! semantics (`bpf_filter.c`, `pcapint_filter` and `pcapint_validate_filter`).
//!
//! A program is validated once ([`Program::validate`]) and decoded into flat operations
//! whose jumps stay inside it; [`Program::run`] then needs no check but the packet
//! bounds:
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

/// A decoded instruction: one flat variant per operation and operand kind, so that a
/// step is one dispatch, in 8 bytes. Conditional jumps keep their offsets from the
/// next instruction, `ja` an absolute target; validation keeps both in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ret(u32),
    RetA,
    LdW(u32),
    LdH(u32),
    LdB(u32),
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
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
    Ja(u32),
    /// A backward `ja`: counted against [`MAX_BACKWARD_JUMPS`].
    JaBack(u32),
    JeqK {
        k: u32,
        jt: u8,
        jf: u8,
    },
    JgtK {
        k: u32,
        jt: u8,
        jf: u8,
    },
    JgeK {
        k: u32,
        jt: u8,
        jf: u8,
    },
    JsetK {
        k: u32,
        jt: u8,
        jf: u8,
    },
    JeqX {
        jt: u8,
        jf: u8,
    },
    JgtX {
        jt: u8,
        jf: u8,
    },
    JgeX {
        jt: u8,
        jf: u8,
    },
    JsetX {
        jt: u8,
        jf: u8,
    },
    AddK(u32),
    SubK(u32),
    MulK(u32),
    /// Divisor checked non-zero by validation.
    DivK(u32),
    ModK(u32),
    AndK(u32),
    OrK(u32),
    XorK(u32),
    /// Shift checked below 32 by validation.
    LshK(u32),
    RshK(u32),
    AddX,
    SubX,
    MulX,
    DivX,
    ModX,
    AndX,
    OrX,
    XorX,
    LshX,
    RshX,
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
        // `?` on a load ends the program with 0: the frame is rejected.
        let mut run = || -> Option<u32> {
            loop {
                // Validation keeps every target inside the program and ends it with
                // a return; `get` keeps even a broken invariant from panicking.
                let op = *self.ops.get(pc)?;
                pc += 1;
                match op {
                    Op::Ret(k) => return Some(k),
                    Op::RetA => return Some(a),
                    Op::LdW(k) => a = frame.load::<4>(u64::from(k))?,
                    Op::LdH(k) => a = frame.load::<2>(u64::from(k))?,
                    Op::LdB(k) => a = frame.load::<1>(u64::from(k))?,
                    Op::LdIndW(k) => a = frame.load::<4>(u64::from(x) + u64::from(k))?,
                    Op::LdIndH(k) => a = frame.load::<2>(u64::from(x) + u64::from(k))?,
                    Op::LdIndB(k) => a = frame.load::<1>(u64::from(x) + u64::from(k))?,
                    Op::LdLen => a = wire_len,
                    Op::LdxLen => x = wire_len,
                    Op::LdxMsh(k) => x = (frame.load::<1>(u64::from(k))? & 0xF) << 2,
                    Op::LdImm(k) => a = k,
                    Op::LdxImm(k) => x = k,
                    Op::LdMem(m) => a = mem[usize::from(m & 0xF)],
                    Op::LdxMem(m) => x = mem[usize::from(m & 0xF)],
                    Op::St(m) => mem[usize::from(m & 0xF)] = a,
                    Op::Stx(m) => mem[usize::from(m & 0xF)] = x,
                    Op::LdProtocol => a = u32::from(protocol),
                    Op::Ja(to) => pc = to as usize,
                    Op::JaBack(to) => {
                        backward_jumps += 1;
                        if backward_jumps > MAX_BACKWARD_JUMPS {
                            return None;
                        }
                        pc = to as usize;
                    }
                    Op::JeqK { k, jt, jf } => pc += usize::from(if a == k { jt } else { jf }),
                    Op::JgtK { k, jt, jf } => pc += usize::from(if a > k { jt } else { jf }),
                    Op::JgeK { k, jt, jf } => pc += usize::from(if a >= k { jt } else { jf }),
                    Op::JsetK { k, jt, jf } => pc += usize::from(if a & k != 0 { jt } else { jf }),
                    Op::JeqX { jt, jf } => pc += usize::from(if a == x { jt } else { jf }),
                    Op::JgtX { jt, jf } => pc += usize::from(if a > x { jt } else { jf }),
                    Op::JgeX { jt, jf } => pc += usize::from(if a >= x { jt } else { jf }),
                    Op::JsetX { jt, jf } => pc += usize::from(if a & x != 0 { jt } else { jf }),
                    Op::AddK(k) => a = a.wrapping_add(k),
                    Op::SubK(k) => a = a.wrapping_sub(k),
                    Op::MulK(k) => a = a.wrapping_mul(k),
                    Op::DivK(k) => a = a.checked_div(k)?,
                    Op::ModK(k) => a = a.checked_rem(k)?,
                    Op::AndK(k) => a &= k,
                    Op::OrK(k) => a |= k,
                    Op::XorK(k) => a ^= k,
                    Op::LshK(k) => a = a.checked_shl(k).unwrap_or(0),
                    Op::RshK(k) => a = a.checked_shr(k).unwrap_or(0),
                    Op::AddX => a = a.wrapping_add(x),
                    Op::SubX => a = a.wrapping_sub(x),
                    Op::MulX => a = a.wrapping_mul(x),
                    Op::DivX => a = a.checked_div(x)?,
                    Op::ModX => a = a.checked_rem(x)?,
                    Op::AndX => a &= x,
                    Op::OrX => a |= x,
                    Op::XorX => a ^= x,
                    Op::LshX => a = a.checked_shl(x).unwrap_or(0),
                    Op::RshX => a = a.checked_shr(x).unwrap_or(0),
                    Op::Neg => a = 0u32.wrapping_sub(a),
                    Op::Tax => x = a,
                    Op::Txa => a = x,
                }
            }
        };
        run().unwrap_or(0)
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
    // A conditional jump's offset from the next instruction, checked in the program.
    let target = |off: u8| {
        if at + 1 + usize::from(off) < len {
            Ok(off)
        } else {
            Err(ValidateError::JumpOutOfProgram { at })
        }
    };
    let (jt, jf) = (|| target(i.jt), || target(i.jf));
    let nonzero = |op: fn(u32) -> Op| {
        if k == 0 {
            Err(ValidateError::DivisionByZero { at })
        } else {
            Ok(op(k))
        }
    };
    let shift = |op: fn(u32) -> Op| {
        if k >= 32 {
            Err(ValidateError::ShiftTooFar { at, k })
        } else {
            Ok(op(k))
        }
    };
    use op::*;
    const LD_W_ABS: u16 = LD | W | ABS;
    const LD_H_ABS: u16 = LD | H | ABS;
    const LD_B_ABS: u16 = LD | B | ABS;
    const LD_W_IND: u16 = LD | W | IND;
    const LD_H_IND: u16 = LD | H | IND;
    const LD_B_IND: u16 = LD | B | IND;
    const LD_LEN: u16 = LD | W | LEN;
    const LDX_LEN: u16 = LDX | W | LEN;
    const LDX_MSH: u16 = LDX | MSH | B;
    const LD_IMM: u16 = LD | IMM;
    const LDX_IMM: u16 = LDX | IMM;
    const LD_MEM: u16 = LD | MEM;
    const LDX_MEM: u16 = LDX | MEM;
    const RET_K: u16 = RET | K;
    const RET_ACC: u16 = RET | RET_A;
    const JMP_JA: u16 = JMP | JA;
    const JEQ_K: u16 = JMP | JEQ | K;
    const JGT_K: u16 = JMP | JGT | K;
    const JGE_K: u16 = JMP | JGE | K;
    const JSET_K: u16 = JMP | JSET | K;
    const JEQ_X: u16 = JMP | JEQ | X;
    const JGT_X: u16 = JMP | JGT | X;
    const JGE_X: u16 = JMP | JGE | X;
    const JSET_X: u16 = JMP | JSET | X;
    const ADD_K: u16 = ALU | ADD | K;
    const SUB_K: u16 = ALU | SUB | K;
    const MUL_K: u16 = ALU | MUL | K;
    const DIV_K: u16 = ALU | DIV | K;
    const MOD_K: u16 = ALU | MOD | K;
    const AND_K: u16 = ALU | AND | K;
    const OR_K: u16 = ALU | OR | K;
    const XOR_K: u16 = ALU | XOR | K;
    const LSH_K: u16 = ALU | LSH | K;
    const RSH_K: u16 = ALU | RSH | K;
    const ADD_X: u16 = ALU | ADD | X;
    const SUB_X: u16 = ALU | SUB | X;
    const MUL_X: u16 = ALU | MUL | X;
    const DIV_X: u16 = ALU | DIV | X;
    const MOD_X: u16 = ALU | MOD | X;
    const AND_X: u16 = ALU | AND | X;
    const OR_X: u16 = ALU | OR | X;
    const XOR_X: u16 = ALU | XOR | X;
    const LSH_X: u16 = ALU | LSH | X;
    const RSH_X: u16 = ALU | RSH | X;
    const ALU_NEG: u16 = ALU | NEG;
    const MISC_TAX: u16 = MISC | TAX;
    const MISC_TXA: u16 = MISC | TXA;
    Ok(match i.code {
        RET_K => Op::Ret(k),
        RET_ACC => Op::RetA,
        LD_W_ABS | LD_H_ABS | LD_B_ABS if dialect == Dialect::LinuxSocket && k == AD_PROTOCOL => {
            Op::LdProtocol
        }
        LD_W_ABS => Op::LdW(k),
        LD_H_ABS => Op::LdH(k),
        LD_B_ABS => Op::LdB(k),
        LD_W_IND => Op::LdIndW(k),
        LD_H_IND => Op::LdIndH(k),
        LD_B_IND => Op::LdIndB(k),
        LD_LEN => Op::LdLen,
        LDX_LEN => Op::LdxLen,
        LDX_MSH => Op::LdxMsh(k),
        LD_IMM => Op::LdImm(k),
        LDX_IMM => Op::LdxImm(k),
        LD_MEM => Op::LdMem(mem()?),
        LDX_MEM => Op::LdxMem(mem()?),
        ST => Op::St(mem()?),
        STX => Op::Stx(mem()?),
        JMP_JA => {
            // Offsets are 32-bit and wrap: a backward jump is a huge forward one.
            let to = (at as u32).wrapping_add(1).wrapping_add(k);
            if to as usize >= len {
                return Err(ValidateError::JumpOutOfProgram { at });
            }
            if to as usize == at {
                return Err(ValidateError::JumpToItself { at });
            }
            if (to as usize) < at {
                Op::JaBack(to)
            } else {
                Op::Ja(to)
            }
        }
        JEQ_K => Op::JeqK {
            k,
            jt: jt()?,
            jf: jf()?,
        },
        JGT_K => Op::JgtK {
            k,
            jt: jt()?,
            jf: jf()?,
        },
        JGE_K => Op::JgeK {
            k,
            jt: jt()?,
            jf: jf()?,
        },
        JSET_K => Op::JsetK {
            k,
            jt: jt()?,
            jf: jf()?,
        },
        JEQ_X => Op::JeqX {
            jt: jt()?,
            jf: jf()?,
        },
        JGT_X => Op::JgtX {
            jt: jt()?,
            jf: jf()?,
        },
        JGE_X => Op::JgeX {
            jt: jt()?,
            jf: jf()?,
        },
        JSET_X => Op::JsetX {
            jt: jt()?,
            jf: jf()?,
        },
        ADD_K => Op::AddK(k),
        SUB_K => Op::SubK(k),
        MUL_K => Op::MulK(k),
        DIV_K => nonzero(Op::DivK)?,
        MOD_K => nonzero(Op::ModK)?,
        AND_K => Op::AndK(k),
        OR_K => Op::OrK(k),
        XOR_K => Op::XorK(k),
        LSH_K => shift(Op::LshK)?,
        RSH_K => shift(Op::RshK)?,
        ADD_X => Op::AddX,
        SUB_X => Op::SubX,
        MUL_X => Op::MulX,
        DIV_X => Op::DivX,
        MOD_X => Op::ModX,
        AND_X => Op::AndX,
        OR_X => Op::OrX,
        XOR_X => Op::XorX,
        LSH_X => Op::LshX,
        RSH_X => Op::RshX,
        ALU_NEG => Op::Neg,
        MISC_TAX => Op::Tax,
        MISC_TXA => Op::Txa,
        code => return Err(ValidateError::UnknownOpcode { at, code }),
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
