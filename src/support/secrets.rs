//! The one secret reader: every password of the configuration (SMTP,
//! sources) comes from an environment variable or a file, never from the
//! file itself, and a file may be a systemd credential.
//!
//! Under systemd, `LoadCredential=NAME:…` puts the secret in
//! `$CREDENTIALS_DIRECTORY/NAME`; a configuration names it as
//! `password_file: NAME`. The configuration resolves relative paths against
//! its own directory, so a file that does not exist there is looked up by
//! its name in `$CREDENTIALS_DIRECTORY`.

use std::path::{Path, PathBuf};

/// Where a secret is read from.
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    /// What the secret is for, in messages (`the SMTP password`).
    pub what: &'a str,
    pub env: Option<&'a str>,
    pub file: Option<&'a Path>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{what}: environment variable {var} is not set")]
    MissingVariable { what: String, var: String },
    #[error("{what}: cannot read {}: {message}", path.display())]
    Unreadable {
        what: String,
        path: PathBuf,
        message: String,
    },
}

/// A secret's text. Its `Debug` does not show it, so it cannot end up in a log
/// line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret made in code (a test's key).
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The file a `password_file` names: as given when it exists, else the
/// systemd credential of that name.
pub fn credential_path(file: &Path) -> PathBuf {
    resolve_with(
        file,
        std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
    )
}

fn resolve_with(file: &Path, credentials: Option<PathBuf>) -> PathBuf {
    match (credentials, file.file_name()) {
        (Some(dir), Some(name)) if !file.exists() => dir.join(name),
        _ => file.to_path_buf(),
    }
}

impl SecretRef<'_> {
    /// Reads the secret now: the file first (trailing newline dropped), then
    /// the variable; `None` when neither is configured.
    pub fn read(&self) -> Result<Option<Secret>, SecretError> {
        if let Some(file) = self.file {
            let path = credential_path(file);
            return std::fs::read_to_string(&path)
                .map(|s| Some(Secret(s.trim_end_matches(['\n', '\r']).to_string())))
                .map_err(|e| SecretError::Unreadable {
                    what: self.what.to_string(),
                    path,
                    message: e.to_string(),
                });
        }
        if let Some(var) = self.env {
            return std::env::var(var).map(|s| Some(Secret(s))).map_err(|_| {
                SecretError::MissingVariable {
                    what: self.what.to_string(),
                    var: var.to_string(),
                }
            });
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_looked_up_among_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        std::fs::write(creds.join("db-password"), "s3cret\n").unwrap();
        let named = dir.path().join("etc/db-password");
        assert_eq!(
            resolve_with(&named, Some(creds.clone())),
            creds.join("db-password")
        );
        // A file that exists is read where it is.
        std::fs::write(dir.path().join("here"), "x").unwrap();
        let here = dir.path().join("here");
        assert_eq!(resolve_with(&here, Some(creds)), here);
        assert_eq!(resolve_with(&named, None), named);
    }

    #[test]
    fn files_lose_their_trailing_newline_and_errors_name_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "pa ss\r\n").unwrap();
        let r = SecretRef {
            what: "source crm password",
            env: None,
            file: Some(&file),
        };
        assert_eq!(r.read().unwrap().unwrap().expose(), "pa ss");
        assert_eq!(format!("{:?}", r.read().unwrap().unwrap()), "Secret(…)");
        let missing = dir.path().join("nope");
        let e = SecretRef {
            file: Some(&missing),
            ..r
        }
        .read()
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("source crm password: cannot read"), "{e}");
        let e = SecretRef {
            what: "the SMTP password",
            env: Some("ACCESSAUDIT_TEST_SURELY_UNSET_VARIABLE"),
            file: None,
        }
        .read()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the SMTP password: environment variable ACCESSAUDIT_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }
}
