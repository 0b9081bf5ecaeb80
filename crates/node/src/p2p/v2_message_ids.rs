//! BIP324's message type encoding inside a v2 packet: one byte for the common messages (the
//! BIP's short-id table), or a zero byte followed by the 12-byte NUL-padded v1 command.

/// Short ids 1..=28 as BIP324 assigns them (index 0 means "long encoding follows"); Core
/// reserves ids up to 32, which like any id not listed here are unknown.
const SHORT_IDS: [&str; 29] = [
    "",
    "addr",
    "block",
    "blocktxn",
    "cmpctblock",
    "feefilter",
    "filteradd",
    "filterclear",
    "filterload",
    "getblocks",
    "getblocktxn",
    "getdata",
    "getheaders",
    "headers",
    "inv",
    "mempool",
    "merkleblock",
    "notfound",
    "ping",
    "pong",
    "sendcmpct",
    "tx",
    "getcfilters",
    "cfilter",
    "getcfheaders",
    "cfheaders",
    "getcfcheckpt",
    "cfcheckpt",
    "addrv2",
];

/// Length of a long-encoded command (v1's command field).
const COMMAND_LEN: usize = 12;

/// The v2 contents (message type encoding + payload) for a command and payload.
pub fn encode_contents(command: &str, payload: &[u8]) -> Vec<u8> {
    match SHORT_IDS.iter().skip(1).position(|c| *c == command) {
        Some(i) => {
            let mut out = Vec::with_capacity(1 + payload.len());
            out.push(i as u8 + 1);
            out.extend_from_slice(payload);
            out
        }
        None => {
            let mut out = Vec::with_capacity(1 + COMMAND_LEN + payload.len());
            out.push(0);
            let mut cmd = [0u8; COMMAND_LEN];
            let n = command.len().min(COMMAND_LEN);
            cmd[..n].copy_from_slice(&command.as_bytes()[..n]);
            out.extend_from_slice(&cmd);
            out.extend_from_slice(payload);
            out
        }
    }
}

/// Splits v2 contents into command and payload as Core's GetMessageType does; None for an
/// unknown short id or a malformed long command (the message is then dropped, not the peer).
pub fn decode_contents(contents: &[u8]) -> Option<(&str, &[u8])> {
    let (&first, rest) = contents.split_first()?;
    if first != 0 {
        let cmd = *SHORT_IDS.get(first as usize)?;
        return Some((cmd, rest));
    }
    if rest.len() < COMMAND_LEN {
        return None;
    }
    let (cmd, payload) = rest.split_at(COMMAND_LEN);
    let end = cmd.iter().position(|b| *b == 0).unwrap_or(COMMAND_LEN);
    if !cmd[..end].iter().all(|b| (b' '..=0x7f).contains(b)) || cmd[end..].iter().any(|b| *b != 0) {
        return None;
    }
    let name = std::str::from_utf8(&cmd[..end]).ok()?;
    Some((name, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_ids_round_trip() {
        assert_eq!(encode_contents("ping", &[1, 2]), vec![18, 1, 2]);
        assert_eq!(encode_contents("addrv2", &[]), vec![28]);
        assert_eq!(decode_contents(&[18, 1, 2]), Some(("ping", &[1u8, 2][..])));
        let long = encode_contents("version", &[9]);
        assert_eq!(long.len(), 1 + 12 + 1);
        assert_eq!(decode_contents(&long), Some(("version", &[9u8][..])));
        assert_eq!(decode_contents(&[29]), None, "reserved short id");
        assert_eq!(decode_contents(&[]), None);
        assert_eq!(decode_contents(&[0, b'a']), None, "long id too short");
        let mut bad = encode_contents("verack", &[]);
        bad[9] = 1;
        assert_eq!(decode_contents(&bad), None, "bytes after the NUL must be NUL");
    }
}
