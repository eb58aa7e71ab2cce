//! A received report (`accessaudit verify FILE.eml --public-key KEY`): the
//! message, its manifest and signature come from anyone. The seed is a
//! report signed by the key below, so the fuzzer starts past the signature.
#![no_main]

use accessaudit::report::manifest::verify_eml;
use accessaudit::support::signing::PublicKey;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAUF7YMakuLtl/oQj0oIZMnn8oika5OqOziIkhhNq8A/4=
-----END PUBLIC KEY-----
";

fuzz_target!(|data: &[u8]| {
    let key = PublicKey::from_pem("fuzz key", KEY).expect("the fuzz key parses");
    match verify_eml(data, &key) {
        Ok(m) => assert!(!m.parts.is_empty(), "a verified report without parts"),
        Err(e) => assert!(!e.to_string().trim().is_empty(), "refused without a reason"),
    }
});
