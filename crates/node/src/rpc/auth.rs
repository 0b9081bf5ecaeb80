//! RPC authentication as Bitcoin Core does it: the `.cookie` file, `-rpcuser`/`-rpcpassword`,
//! and `-rpcauth=user:salt$hmac` entries.

use base64::Engine;
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use std::path::{Path, PathBuf};

/// User name Core writes into the cookie file.
pub const COOKIE_USER: &str = "__cookie__";

/// Accepted credentials.
#[derive(Debug, Clone, Default)]
pub struct RpcAuth {
    cookie: Option<String>,
    user_password: Option<(String, String)>,
    rpcauth: Vec<(String, String, String)>,
}

/// A cookie file that is removed when dropped (at RPC server stop).
pub struct CookieFile {
    path: PathBuf,
}

impl Drop for CookieFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl RpcAuth {
    /// Credentials from `-rpcuser`/`-rpcpassword` and `-rpcauth` entries (`user:salt$hexhmac`).
    pub fn new(user_password: Option<(String, String)>, rpcauth: &[String]) -> Result<Self, String> {
        let mut entries = Vec::new();
        for e in rpcauth {
            let (user, rest) = e
                .split_once(':')
                .ok_or_else(|| format!("invalid -rpcauth '{e}': expected user:salt$hash"))?;
            let (salt, hash) = rest
                .split_once('$')
                .ok_or_else(|| format!("invalid -rpcauth '{e}': expected user:salt$hash"))?;
            entries.push((user.to_string(), salt.to_string(), hash.to_lowercase()));
        }
        Ok(RpcAuth {
            cookie: None,
            user_password,
            rpcauth: entries,
        })
    }

    /// Writes a fresh random cookie (mode 0600) and accepts it until the returned guard drops.
    pub fn write_cookie(&mut self, path: &Path) -> std::io::Result<CookieFile> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let secret: [u8; 32] = rand::random();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{COOKIE_USER}:{hex}").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        self.cookie = Some(hex);
        Ok(CookieFile { path: path.to_path_buf() })
    }

    /// Checks an `Authorization` header value; the authenticated user's name (the cookie's
    /// is `__cookie__`), for `-rpcwhitelist`.
    pub fn authenticate(&self, header: Option<&str>) -> Option<String> {
        let b64 = header?.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        let ok =
            self.cookie
                .as_ref()
                .is_some_and(|c| user == COOKIE_USER && constant_time_eq(pass.as_bytes(), c.as_bytes()))
                || self.user_password.as_ref().is_some_and(|(u, p)| {
                    constant_time_eq(user.as_bytes(), u.as_bytes()) && constant_time_eq(pass.as_bytes(), p.as_bytes())
                })
                || self.rpcauth.iter().any(|(u, salt, hash)| {
                    u == user && {
                        let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
                        engine.input(pass.as_bytes());
                        let mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
                        let hex: String = mac.to_byte_array().iter().map(|b| format!("{b:02x}")).collect();
                        constant_time_eq(hex.as_bytes(), hash.as_bytes())
                    }
                });
        ok.then(|| user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
    }

    #[test]
    fn cookie_user_password_and_rpcauth() {
        let dir = tempfile::tempdir().unwrap();
        // rpcauth line for user "alice", password "secret", salt "abc" (HMAC-SHA256(salt, password)).
        let mut e = hmac::HmacEngine::<sha256::Hash>::new(b"abc");
        e.input(b"secret");
        let h: String = hmac::Hmac::<sha256::Hash>::from_engine(e)
            .to_byte_array()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut auth = RpcAuth::new(Some(("bob".into(), "pw".into())), &[format!("alice:abc${h}")]).unwrap();
        let path = dir.path().join(".cookie");
        let guard = auth.write_cookie(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (u, p) = text.split_once(':').unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(auth.authenticate(Some(&basic(u, p))).as_deref(), Some("__cookie__"));
        assert!(auth.authenticate(Some(&basic(u, "wrong"))).is_none());
        assert_eq!(auth.authenticate(Some(&basic("bob", "pw"))).as_deref(), Some("bob"));
        assert!(auth.authenticate(Some(&basic("bob", "pw2"))).is_none());
        assert!(auth.authenticate(Some(&basic("alice", "secret"))).is_some());
        assert!(auth.authenticate(Some(&basic("alice", "secreT"))).is_none());
        assert!(auth.authenticate(None).is_none());
        assert!(auth.authenticate(Some("Bearer x")).is_none());
        assert!(RpcAuth::new(None, &["nohash".into()]).is_err());
        drop(guard);
        assert!(!path.exists(), "cookie removed at stop");
    }
}
