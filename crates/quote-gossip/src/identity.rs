//! A peer's stable identity: an ed25519 key kept in a file (created on first start).

use std::{io::Write as _, path::Path};

use libp2p::identity::Keypair;

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

/// Loads the key in `path` (hex of the libp2p protobuf key encoding), or creates a new ed25519
/// key there, readable by the owner only, when the file does not exist.
pub fn load_or_create(path: &Path) -> Result<Keypair, KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io { path: shown.clone(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let invalid = |reason: String| KeyFileError::Invalid { path: shown.clone(), reason };
            let bytes = decode_hex(text.trim()).ok_or_else(|| invalid("not hex".into()))?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| invalid(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
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
            tracing::info!(path = %shown, peer_id = %key.public().to_peer_id(), "created a new peer key");
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
    use super::*;

    #[test]
    fn a_created_key_is_loaded_again_as_the_same_peer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/node.key");
        let first = load_or_create(&path).expect("created");
        let second = load_or_create(&path).expect("loaded");
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
        let error = load_or_create(&path).expect_err("refused");
        assert!(matches!(error, KeyFileError::Invalid { .. }), "{error}");
        std::fs::write(&path, "00ff\n").expect("write");
        assert!(matches!(load_or_create(&path), Err(KeyFileError::Invalid { .. })));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "00ff\n");
    }
}
