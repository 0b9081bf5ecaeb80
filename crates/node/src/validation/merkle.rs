//! Merkle root computation with Core's mutation detection (CVE-2012-2459).

use bitcoin::hashes::{sha256d, Hash};

/// Computes the merkle root of `leaves` and whether the tree is mutated: some level
/// pairs two identical hashes, which lets a different transaction list produce the same root.
pub fn merkle_root(mut leaves: Vec<[u8; 32]>) -> ([u8; 32], bool) {
    if leaves.is_empty() {
        return ([0u8; 32], false);
    }
    let mut mutated = false;
    while leaves.len() > 1 {
        let mut i = 0;
        while i + 1 < leaves.len() {
            if leaves[i] == leaves[i + 1] {
                mutated = true;
            }
            i += 2;
        }
        if leaves.len() % 2 == 1 {
            let last = leaves[leaves.len() - 1];
            leaves.push(last);
        }
        let next: Vec<[u8; 32]> = leaves
            .chunks(2)
            .map(|pair| {
                let mut buf = [0u8; 64];
                buf[..32].copy_from_slice(&pair[0]);
                buf[32..].copy_from_slice(&pair[1]);
                sha256d::Hash::hash(&buf).to_byte_array()
            })
            .collect();
        leaves = next;
    }
    (leaves[0], mutated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_last_pair_is_mutation_but_odd_count_is_not() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        let (r3, m3) = merkle_root(vec![a, b, c]);
        let (r4, m4) = merkle_root(vec![a, b, c, c]);
        assert_eq!(r3, r4, "CVE-2012-2459: same root");
        assert!(!m3);
        assert!(m4);
    }
}
