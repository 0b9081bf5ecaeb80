//! Structural check of an `addrv2` payload before decoding, with Core's exception texts
//! ("end of data", "Address too long: N > 512"), so a malformed message is reported as Core
//! reports it.

/// Longest address an `addrv2` entry may carry (Core's MAX_ADDRV2_SIZE).
pub const MAX_ADDRV2_SIZE: u64 = 512;

/// Core's exception text for a message that ends before its fields do.
pub const END_OF_DATA: &str = "DataStream::read(): end of data";

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], String> {
        let n = usize::try_from(n).map_err(|_| END_OF_DATA.to_string())?;
        if self.0.len() < n {
            return Err(END_OF_DATA.into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn compact_size(&mut self) -> Result<u64, String> {
        let b = self.take(1)?[0];
        let le = |v: &[u8]| v.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
        Ok(match b {
            0xfd => le(self.take(2)?),
            0xfe => le(self.take(4)?),
            0xff => le(self.take(8)?),
            n => u64::from(n),
        })
    }
}

/// Checks every entry's framing; an unknown network id is fine (Core skips such entries).
pub fn check(payload: &[u8]) -> Result<(), String> {
    let mut c = Cursor(payload);
    let count = c.compact_size()?;
    for _ in 0..count {
        c.take(4)?; // time
        c.compact_size()?; // services
        c.take(1)?; // network id
        let len = c.compact_size()?;
        if len > MAX_ADDRV2_SIZE {
            return Err(format!("Address too long: {len} > {MAX_ADDRV2_SIZE}"));
        }
        c.take(len)?;
        c.take(2)?; // port
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn core_texts() {
        assert_eq!(check(&[]).unwrap_err(), "DataStream::read(): end of data");
        assert!(check(&[0]).is_ok());
        let mut long = vec![1, 0, 0, 0, 0, 0, 1, 0xfd, 0x01, 0x02];
        long.extend([0xab; 513]);
        long.extend([0x20, 0x8d]);
        assert_eq!(check(&long).unwrap_err(), "Address too long: 513 > 512");
    }
}
