//! A peer's stable identity: a key kept in a file (created on first start). The common libp2p
//! key types are accepted: ed25519 (the default for new keys), secp256k1 (Ethereum's and
//! Aztec's clients) and ECDSA P-256; RSA is not.

use std::{io::Write as _, path::Path};

use libp2p::identity::Keypair;

/// The kind of key a new identity is made with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// Ed25519.
    #[default]
    Ed25519,
    /// Secp256k1, as Ethereum's and Aztec's clients use.
    Secp256k1,
    /// ECDSA over P-256.
    Ecdsa,
}

impl KeyType {
    /// A new key of this type.
    pub fn generate(self) -> Keypair {
        match self {
            Self::Ed25519 => Keypair::generate_ed25519(),
            Self::Secp256k1 => Keypair::generate_secp256k1(),
            Self::Ecdsa => Keypair::generate_ecdsa(),
        }
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("{path}: not a peer key ({reason}); delete it to create a new identity")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Loads the key in `path` (hex of the libp2p protobuf key encoding, of any [`KeyType`]), or
/// creates a new key of type `new_key` there, readable by the owner only, when the file does not
/// exist.
pub fn load_or_create(path: &Path, new_key: KeyType) -> Result<Keypair, KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io { path: shown.clone(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let invalid = |reason: String| KeyFileError::Invalid { path: shown.clone(), reason };
            let bytes = decode_hex(text.trim()).ok_or_else(|| invalid("not hex".into()))?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| invalid(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = new_key.generate();
            let encoded = key.to_protobuf_encoding().map_err(|e| io(std::io::Error::other(e)))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            writeln!(file, "{}", encode_hex(&encoded)).map_err(io)?;
            tracing::info!(path = %shown, peer_id = %key.public().to_peer_id(), key_type = ?key.key_type(), "created a new peer key");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use libp2p::identity::KeyType as Kind;

    use super::*;

    #[test]
    fn keys_of_every_type_are_created_and_loaded_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (asked, kind) in
            [(KeyType::Ed25519, Kind::Ed25519), (KeyType::Secp256k1, Kind::Secp256k1), (KeyType::Ecdsa, Kind::Ecdsa)]
        {
            let path = dir.path().join(format!("{asked:?}.key"));
            let created = load_or_create(&path, asked).expect("created");
            assert_eq!(created.key_type(), kind);
            let loaded = load_or_create(&path, KeyType::Ed25519).expect("loaded");
            assert_eq!((loaded.key_type(), loaded.public().to_peer_id()), (kind, created.public().to_peer_id()));
        }
    }

    #[test]
    fn a_created_key_is_loaded_again_as_the_same_peer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/node.key");
        let first = load_or_create(&path, KeyType::Ed25519).expect("created");
        // The file decides: a different type asked for does not replace it.
        let second = load_or_create(&path, KeyType::Secp256k1).expect("loaded");
        assert_eq!(first.public().to_peer_id(), second.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.key");
        std::fs::write(&path, "zz not hex\n").expect("write");
        let error = load_or_create(&path, KeyType::Ed25519).expect_err("refused");
        assert!(matches!(error, KeyFileError::Invalid { .. }), "{error}");
        std::fs::write(&path, "00ff\n").expect("write");
        assert!(matches!(load_or_create(&path, KeyType::Ed25519), Err(KeyFileError::Invalid { .. })));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "00ff\n");
    }
}
