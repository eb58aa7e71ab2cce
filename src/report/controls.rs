//! The names of the controls the shipped rules evidence, so that a
//! framework's section reads as an audit workpaper does (id and name). A
//! control of a deployment's own rules without a name here is listed by
//! its id alone.

/// (framework prefix, control id, name).
const NAMES: &[(&str, &str, &str)] = &[
    (
        "PCI DSS",
        "7.2.1",
        "An access control model is defined and includes granting access",
    ),
    (
        "PCI DSS",
        "7.2.2",
        "Access is assigned by job classification and function, with least privileges",
    ),
    (
        "PCI DSS",
        "7.2.3",
        "Required privileges are approved by authorized personnel",
    ),
    (
        "PCI DSS",
        "7.2.4",
        "User accounts and their access privileges are reviewed at least every six months",
    ),
    ("PCI DSS", "8.2.1", "All users are assigned a unique ID"),
    (
        "PCI DSS",
        "8.2.2",
        "Group, shared or generic accounts are used only when necessary",
    ),
    (
        "PCI DSS",
        "8.2.4",
        "Addition, deletion and modification of user IDs are authorized",
    ),
    (
        "PCI DSS",
        "8.2.5",
        "Access for terminated users is immediately revoked",
    ),
    (
        "PCI DSS",
        "8.2.6",
        "Inactive user accounts are removed or disabled within 90 days",
    ),
    (
        "PCI DSS",
        "8.2.7",
        "Accounts used by third parties are managed",
    ),
    (
        "PCI DSS",
        "8.3.5",
        "First-use and reset passwords are unique and changed after first use",
    ),
    (
        "PCI DSS",
        "8.4.1",
        "MFA for all non-console administrative access into the CDE",
    ),
    ("PCI DSS", "8.4.2", "MFA for all access into the CDE"),
    ("PCI DSS", "10.2.1", "Audit logs are enabled and active"),
    (
        "PCI DSS",
        "10.2.1.2",
        "Audit logs capture all actions by individuals with administrative access",
    ),
    (
        "PCI DSS",
        "10.4.1",
        "Audit logs are reviewed at least once daily",
    ),
    ("ISO 27001", "A.5.3", "Segregation of duties"),
    ("ISO 27001", "A.5.15", "Access control"),
    ("ISO 27001", "A.5.16", "Identity management"),
    ("ISO 27001", "A.5.17", "Authentication information"),
    ("ISO 27001", "A.5.18", "Access rights"),
    (
        "ISO 27001",
        "A.5.19",
        "Information security in supplier relationships",
    ),
    ("ISO 27001", "A.8.1", "User endpoint devices"),
    ("ISO 27001", "A.8.2", "Privileged access rights"),
    ("ISO 27001", "A.8.5", "Secure authentication"),
    ("ISO 27001", "A.8.12", "Data leakage prevention"),
    ("ISO 27001", "A.8.15", "Logging"),
    ("ISO 27001", "A.8.16", "Monitoring activities"),
    (
        "SOC 2",
        "CC5.1",
        "Selects and develops control activities that mitigate risks",
    ),
    (
        "SOC 2",
        "CC6.1",
        "Logical access security over protected information assets",
    ),
    (
        "SOC 2",
        "CC6.2",
        "Users are registered and authorized before access, and removed when no longer needed",
    ),
    (
        "SOC 2",
        "CC6.3",
        "Access is authorized, changed or removed by role, least privilege and segregation of duties",
    ),
    (
        "SOC 2",
        "CC7.2",
        "System components are monitored for anomalies",
    ),
];

/// The name of `control` of `framework` (matched by prefix: `PCI DSS 4.0`
/// is `PCI DSS`). SOX ITGC controls are named by their id.
pub fn name(framework: &str, control: &str) -> String {
    NAMES
        .iter()
        .find(|(fw, id, _)| framework.starts_with(fw) && *id == control)
        .map(|(_, _, n)| n.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_found_by_framework_prefix() {
        assert_eq!(super::name("ISO 27001:2022", "A.5.18"), "Access rights");
        assert!(!super::name("PCI DSS 4.0", "8.2.6").is_empty());
        assert_eq!(super::name("SOX ITGC", "Access review"), "");
    }
}
