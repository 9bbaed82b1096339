//! What a crate's sources say about its permission checks, for the permission tests of
//! every domain crate (so a function added without a check fails a test).

use std::collections::BTreeMap;

use neonhub_schema::PERMISSIONS;

/// `Type::function` (or `function` for a free function) -> the catalogue key its first
/// statement requires, for every public async function under `src_dir` that takes a
/// `scope: &TenantScope`.
///
/// # Panics
/// When such a function does not start with `scope.require(keys::X)?;`, or names a key the
/// catalogue does not have: exactly what the permission tests must catch.
pub fn keys_required_in(src_dir: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(src_dir).expect("the crate's src directory") {
        let source = std::fs::read_to_string(entry.expect("a source file").path())
            .expect("a readable source file");
        let lines: Vec<&str> = source.lines().collect();
        let mut owner = String::new();
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = line.strip_prefix("impl ") {
                owner = rest
                    .split([' ', '<', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
            let Some(at) = line.find("pub async fn ") else {
                continue;
            };
            let name = line[at + 13..].split(['(', '<']).next().unwrap_or_default();
            let signature: String = lines[i..]
                .iter()
                .take_while(|l| !l.ends_with('{'))
                .copied()
                .collect();
            if !signature.contains("scope: &TenantScope") {
                continue;
            }
            let full = if line.starts_with("    ") {
                format!("{owner}::{name}")
            } else {
                name.to_owned()
            };
            let body = lines[i..]
                .iter()
                .position(|l| l.ends_with('{'))
                .expect("a function body")
                + i
                + 1;
            let first = lines[body].trim();
            let constant = first
                .strip_prefix("scope.require(keys::")
                .and_then(|k| k.strip_suffix(")?;"))
                .unwrap_or_else(|| {
                    panic!("{full} does not start with scope.require(keys::..): {first:?}")
                });
            let key = PERMISSIONS
                .iter()
                .map(|p| p.key)
                .find(|k| k.replace(':', "_").to_uppercase() == constant)
                .unwrap_or_else(|| panic!("{full} requires unknown keys::{constant}"));
            found.insert(full, key.to_owned());
        }
    }
    found
}
