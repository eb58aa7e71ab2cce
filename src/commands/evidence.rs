//! The evidence commands that need no database: `keys generate`, `keys
//! public`, and `verify` (a received report, checked offline with the
//! public key alone).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::app::Settings;
use crate::cli::VerifyArgs;
use crate::report::manifest::{self, Manifest};
use crate::support::signing::{PublicKey, SigningKey, signature_beside};

/// `keys generate PRIVATE [--public-key PUB]`.
pub(super) fn generate(private: &Path, public: Option<&Path>) -> Result<ExitCode> {
    let public = public.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut name = private.as_os_str().to_owned();
        name.push(".pub");
        PathBuf::from(name)
    });
    let key = SigningKey::generate()?;
    key.write_new_pair(private, &public)?;
    let pubkey = key.public();
    eprintln!(
        "private key written to {} (mode 0600): point report.signing_key_file at it, or load it as a \
         systemd credential; keep it on the signing host\npublic key written to {}: give it to \
         whoever verifies reports (`accessaudit verify FILE.eml --public-key {}`)\nfingerprint {}",
        private.display(),
        public.display(),
        public.display(),
        pubkey.fingerprint()
    );
    print!("{}", pubkey.to_pem());
    Ok(ExitCode::SUCCESS)
}

/// `keys public [PRIVATE]`: the public key of a key file or of the
/// configured signing key.
pub(super) fn public(g: &Settings, private: Option<&Path>) -> Result<ExitCode> {
    let key = match private {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            SigningKey::from_pem(&path.display().to_string(), &text)?
        }
        None => match SigningKey::read(g.config.report.signing_key_ref())? {
            Some(key) => key,
            None => bail!(
                "no signing key is configured (report.signing_key_file or report.signing_key_env); \
                 give a key file, or make one with `accessaudit keys generate FILE`"
            ),
        },
    };
    let pubkey = key.public();
    eprintln!("fingerprint {}", pubkey.fingerprint());
    print!("{}", pubkey.to_pem());
    Ok(ExitCode::SUCCESS)
}

/// `verify FILE --public-key KEY [--manifest M]`.
pub(super) fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let key_text = std::fs::read_to_string(&args.public_key)
        .with_context(|| format!("cannot read the public key {}", args.public_key.display()))?;
    let key = PublicKey::from_pem(&args.public_key.display().to_string(), &key_text)?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let file = args.file.display();
    let is_eml = args.manifest.is_none()
        && args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("eml"));
    // An OSCAL export (`runs export --out FILE`): FILE.sig signs its bytes.
    let is_export = args.manifest.is_none()
        && args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        && !args
            .file
            .to_string_lossy()
            .ends_with(manifest::MANIFEST_SUFFIX);
    if is_export {
        return verify_export(&args.file, &bytes, &key);
    }
    let verified = if is_eml {
        manifest::verify_eml(&bytes, &key).map(|m| (m, None))
    } else {
        let manifest_path = match &args.manifest {
            Some(m) => m.clone(),
            None => beside(&args.file)?,
        };
        let sig_path = signature_beside(&manifest_path);
        let manifest_bytes = std::fs::read(&manifest_path).with_context(|| {
            format!(
                "cannot read the manifest {} (unsigned report, or give --manifest)",
                manifest_path.display()
            )
        })?;
        let signature = std::fs::read(&sig_path)
            .with_context(|| format!("cannot read the signature {}", sig_path.display()))?;
        let name = args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        manifest::verify_file(&name, &bytes, &manifest_bytes, &signature, &key)
            .map(|(m, signed_as)| (m, Some(signed_as)))
    };
    match verified {
        Ok((m, signed_as)) => {
            println!("{}", summary(&file.to_string(), &m, signed_as.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED  {file}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Checks an OSCAL export against the detached signature beside it. Ed25519
/// cannot tell a changed file from another signer: a mismatch names both.
fn verify_export(file: &Path, bytes: &[u8], key: &PublicKey) -> Result<ExitCode> {
    let sig_path = signature_beside(file);
    let signature = std::fs::read(&sig_path).with_context(|| {
        format!(
            "cannot read the signature {} (an export written with no report signing key \
             configured is unsigned)",
            sig_path.display()
        )
    })?;
    let shown = file.display();
    if !key.verify(bytes, &signature) {
        println!(
            "FAILED  {shown}: {} does not match: the file was changed after it was signed, \
             or it was signed by another key than {}",
            sig_path.display(),
            key.fingerprint()
        );
        return Ok(ExitCode::FAILURE);
    }
    // What it is, in its own words (its bytes are those signed).
    let title = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|doc| {
            doc.pointer("/assessment-results/metadata/title")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "not an OSCAL assessment results document".to_string());
    println!(
        "ok      {shown} ({title}) is signed by {}",
        key.fingerprint()
    );
    Ok(ExitCode::SUCCESS)
}

fn summary(file: &str, m: &Manifest, signed_as: Option<&str>) -> String {
    let what = match signed_as {
        Some(name) => format!("is {name} of"),
        None => format!("({} parts) is", m.parts.len()),
    };
    format!(
        "ok      {file} {what} the report of run {} ({}, as of {}), signed by {}: {} new, {} open, {} resolved, {} accepted",
        m.run.id,
        m.run.job.as_deref().unwrap_or("ad-hoc"),
        m.run.as_of,
        m.key.fingerprint,
        m.findings.new,
        m.findings.open,
        m.findings.resolved,
        m.findings.accepted
    )
}

/// The manifest written beside a report file: `<stem>.manifest.json` for
/// `<stem>.html` and `<stem>-findings.csv`.
fn beside(file: &Path) -> Result<PathBuf> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix("-findings.csv")
        .or_else(|| name.strip_suffix(".html"))
        .with_context(|| {
            format!(
                "{}: give --manifest (a report's files are <stem>.eml, <stem>.html and \
                 <stem>-findings.csv, the manifest <stem>{})",
                file.display(),
                manifest::MANIFEST_SUFFIX
            )
        })?;
    Ok(file.with_file_name(format!("{stem}{}", manifest::MANIFEST_SUFFIX)))
}
