//! Compact byte encodings for records we persist (varints and a bounds-checked reader).

use thiserror::Error;

/// A persisted record could not be decoded: the database or a file is corrupt.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("corrupt record: {0}")]
pub struct DecodeError(pub &'static str);

/// Appends `n` as Core's VARINT (MSB base-128 with an offset per continuation byte).
pub fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 10];
    let mut len = 0;
    loop {
        tmp[len] = (n & 0x7f) as u8 | if len > 0 { 0x80 } else { 0 };
        if n <= 0x7f {
            break;
        }
        n = (n >> 7) - 1;
        len += 1;
    }
    for i in (0..=len).rev() {
        out.push(tmp[i]);
    }
}

/// A cursor over a byte slice whose every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Reads a VARINT written by [`write_varint`].
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        for _ in 0..10 {
            let b = self.u8()?;
            n = n.checked_shl(7).ok_or(DecodeError("varint overflow"))? | u64::from(b & 0x7f);
            if b & 0x80 != 0 {
                n = n.checked_add(1).ok_or(DecodeError("varint overflow"))?;
            } else {
                return Ok(n);
            }
        }
        Err(DecodeError("varint too long"))
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError("unexpected end"))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a little-endian u32.
    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        let values = [0u64, 1, 127, 128, 255, 16383, 16384, 1 << 32, u64::MAX];
        for v in values {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
        assert_eq!(
            {
                let mut o = Vec::new();
                write_varint(&mut o, 128);
                o
            },
            vec![0x80, 0x00]
        );
        assert!(Reader::new(&[0x80]).varint().is_err());
    }
}
