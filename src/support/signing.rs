//! Ed25519 keys and detached signatures (RFC 8032, through ed25519-dalek):
//! no cryptography of our own. Keys are kept in the standard formats, so
//! that other tools read them: the private key as PKCS#8 PEM (`-----BEGIN
//! PRIVATE KEY-----`, what `openssl genpkey -algorithm ed25519` writes),
//! the public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`,
//! `openssl pkey -pubout`). A signature is its 64 raw bytes, which `openssl
//! pkeyutl -verify -rawin` checks as well.

use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

use super::secrets::{SecretError, SecretRef};

/// The length of a signature, in bytes.
pub const SIGNATURE_LENGTH: usize = ed25519_dalek::SIGNATURE_LENGTH;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "{what}: not an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, \
         as `accessaudit keys generate` writes it): {message}"
    )]
    NotPrivateKey { what: String, message: String },
    #[error(
        "{what}: not an Ed25519 public key in PEM (`-----BEGIN PUBLIC KEY-----`, as \
         `accessaudit keys generate` writes it): {message}"
    )]
    NotPublicKey { what: String, message: String },
    #[error("{}: exists already; nothing was written (a key is never overwritten)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

/// A private signing key. Its `Debug` shows only the public half, and the
/// secret is wiped from memory when it is dropped (ed25519-dalek's zeroize).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

/// A public key: what a recipient verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public().fingerprint())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl SigningKey {
    /// A new key from 32 bytes of the operating system's random generator
    /// (an Ed25519 private key is exactly such a seed).
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; ed25519_dalek::SECRET_KEY_LENGTH];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKey(key))
    }

    /// Reads a PKCS#8 PEM private key; `what` names it in errors.
    pub fn from_pem(what: &str, pem: &str) -> Result<SigningKey, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map(SigningKey)
            .map_err(|e| KeyError::NotPrivateKey {
                what: what.to_string(),
                message: e.to_string(),
            })
    }

    /// Reads the key a configuration names (a file, a systemd credential
    /// by name, or an environment variable); `None` when none is configured.
    pub fn read(from: SecretRef<'_>) -> Result<Option<SigningKey>, KeyError> {
        let Some(secret) = from.read()? else {
            return Ok(None);
        };
        let what = match from.file {
            Some(file) => format!(
                "{} ({})",
                from.what,
                super::secrets::credential_path(file).display()
            ),
            None => from.what.to_string(),
        };
        SigningKey::from_pem(&what, secret.expose()).map(Some)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The detached signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        self.0.sign(message).to_bytes()
    }

    /// Writes a new key pair: the private key (PKCS#8 PEM, mode 0600) to
    /// `private`, the public key (PEM, 0644) to `public`. Neither file may
    /// exist; on any failure neither is left behind.
    pub fn write_new_pair(&self, private: &Path, public: &Path) -> Result<(), KeyError> {
        for path in [private, public] {
            if path.exists() {
                return Err(KeyError::Exists(path.to_path_buf()));
            }
        }
        // PKCS#8 v1 (the seed alone, RFC 8410), as OpenSSL writes it:
        // OpenSSL 3.0 does not read the v2 form with the public key inside.
        let pair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        let pem = pair
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Write {
                path: private.to_path_buf(),
                message: e.to_string(),
            })?;
        let written = |path: &Path, r: std::io::Result<()>| {
            r.map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::Exists(path.to_path_buf()),
                _ => KeyError::Write {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                },
            })
        };
        written(
            private,
            super::atomic_file::write_new(private, pem.as_bytes(), 0o600),
        )?;
        let public_pem = self.public().to_pem();
        if let Err(e) = written(
            public,
            super::atomic_file::write_new(public, public_pem.as_bytes(), 0o644),
        ) {
            // Not half a pair: the private key goes too.
            let _ = std::fs::remove_file(private);
            return Err(e);
        }
        Ok(())
    }
}

impl PublicKey {
    /// Reads a public key in PEM (SubjectPublicKeyInfo).
    pub fn from_pem(what: &str, pem: &str) -> Result<PublicKey, KeyError> {
        if pem.contains("PRIVATE KEY-----") {
            return Err(KeyError::NotPublicKey {
                what: what.to_string(),
                message: "this is a private key: give its public key (`accessaudit keys public` \
                          prints it), and keep the private key on the signing host"
                    .to_string(),
            });
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
            .map(PublicKey)
            .map_err(|e| KeyError::NotPublicKey {
                what: what.to_string(),
                message: e.to_string(),
            })
    }

    pub fn to_pem(&self) -> String {
        // Encoding 32 bytes into a fixed structure cannot fail.
        self.0.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// `SHA256:` and the hex SHA-256 of the 32 raw bytes of the key: short
    /// enough to read aloud over a telephone when keys are exchanged.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        format!("SHA256:{}", super::pii::hex(&digest))
    }

    /// Checks a detached signature of `message` (strictly: RFC 8032's
    /// malleable and weak-key forms are refused).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; SIGNATURE_LENGTH]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

/// Where the detached signature of `file` is kept: beside it, `<file>.sig`
/// (the 64 raw bytes, as `openssl pkeyutl -sign -rawin` writes them).
pub fn signature_beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_sign() {
        let key = SigningKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
        key.write_new_pair(&private, &public).unwrap();
        let text = std::fs::read_to_string(&private).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        let again = SigningKey::from_pem("k", &text).unwrap();
        let pubkey = PublicKey::from_pem("p", &std::fs::read_to_string(&public).unwrap()).unwrap();
        assert_eq!(again.public(), pubkey);
        let sig = again.sign(b"report");
        assert!(pubkey.verify(b"report", &sig));
        assert!(!pubkey.verify(b"rePort", &sig));
        assert!(!pubkey.verify(b"report", &sig[..63]));
        let other = SigningKey::generate().unwrap().public();
        assert!(!other.verify(b"report", &sig));
        // Never overwritten; the private key stays as it was.
        let e = SigningKey::generate()
            .unwrap()
            .write_new_pair(&private, &dir.path().join("new.pub"))
            .unwrap_err();
        assert!(matches!(e, KeyError::Exists(_)), "{e}");
        assert_eq!(std::fs::read_to_string(&private).unwrap(), text);
        assert!(!dir.path().join("new.pub").exists());
        // The secret never shows in a Debug line.
        assert!(!format!("{key:?}").contains(&text[30..60]));
    }

    #[test]
    fn the_wrong_kind_of_pem_is_named() {
        let key = SigningKey::generate().unwrap();
        let e = SigningKey::from_pem("report.signing_key_file", &key.public().to_pem())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("report.signing_key_file: not an Ed25519 private key"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("k");
        key.write_new_pair(&private, &dir.path().join("k.pub"))
            .unwrap();
        let e = PublicKey::from_pem(
            "--public-key k",
            &std::fs::read_to_string(&private).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("this is a private key"), "{e}");
        let e = PublicKey::from_pem("--public-key x", "hello")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--public-key x: not an Ed25519 public key"),
            "{e}"
        );
    }
}
