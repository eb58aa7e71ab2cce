//! The person of an account, as SQL: the one place that links accounts to
//! `people` (README, "Identities"). Every rule kind and `people show` build
//! their statements from these functions, so a deployment's `identity:`
//! order means the same everywhere.
//!
//! The methods are tried in the configured order and the first that gives
//! a person wins. `person_id`, when set, is the account's own claim and is
//! taken as it is (a `person_id` not in `people` links to nobody: that is
//! orphan-account's `unknown_person_id`); the attribute matches (email,
//! employee number, login) only ever give an id of `people`. Where several
//! people match an email or a login (a rehire), the most recently hired
//! wins, then the smallest id.
//!
//! The default order (`person_id`, `email`) is the SQL the rules always
//! had: a COALESCE of the column and one seek on `people_email_ci`; the
//! other methods add a seek each only when configured (`employee_number` on
//! the primary key, the login on `people_mail_local_ci`, migration 0015).

use super::deployment::IdentityMatch;
use crate::store::Backend;
use crate::store::canonical::newest_hire_first;

impl IdentityMatch {
    /// The method's name in the configuration, evidence and `people show`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMatch::PersonId => "person_id",
            IdentityMatch::Email => "email",
            IdentityMatch::EmployeeNumber => "employee_number",
            IdentityMatch::LoginIsMailLocalPart => "login_is_mail_local_part",
        }
    }
}

/// How one method links an account to a row of `people`: the account's
/// attribute must equal the person's, and the person must meet `also`.
/// The one table of what each method compares, for the seeks of
/// [`matched_by`] and the `IN` lists of [`may_be_person_in`] alike.
struct Link {
    account: String,
    person: String,
    also: String,
}

impl Link {
    /// The link of `method` between the account `p` and the person `x`.
    fn of(b: Backend, p: &str, x: &str, method: IdentityMatch) -> Link {
        let (account, person, also) = match method {
            IdentityMatch::PersonId => (format!("{p}.person_id"), format!("{x}.id"), String::new()),
            IdentityMatch::Email => (
                b.fold_case(&format!("{p}.email")),
                b.fold_case(&format!("{x}.email")),
                String::new(),
            ),
            IdentityMatch::EmployeeNumber => (
                format!("{p}.employee_number"),
                format!("{x}.id"),
                String::new(),
            ),
            IdentityMatch::LoginIsMailLocalPart => (
                b.fold_case(&format!("{p}.login")),
                b.mail_local_part_folded(&format!("{x}.email")),
                format!(" AND {x}.email LIKE '%@%'"),
            ),
        };
        Link {
            account,
            person,
            also,
        }
    }
}

/// The `people.id` that one method alone links the account `p` (an alias
/// of the outer statement) to, or NULL. `exists_only` drops the tie-break
/// where the caller only asks whether anyone matches.
fn matched_by(b: Backend, p: &str, method: IdentityMatch, exists_only: bool) -> String {
    let Link {
        account,
        person,
        also,
    } = Link::of(b, p, "x", method);
    // The tie-break among several people matching one attribute.
    let order = if exists_only {
        String::new()
    } else {
        newest_hire_first("x.")
    };
    match method {
        // The account's own claim, taken as it is.
        IdentityMatch::PersonId => account,
        // The primary key: one person at most, no tie to break.
        IdentityMatch::EmployeeNumber => {
            format!("(SELECT x.id FROM people x WHERE {person} = {account}{also})")
        }
        // An account without an email skips the seek.
        IdentityMatch::Email => format!(
            "(SELECT x.id FROM people x WHERE {p}.email IS NOT NULL AND {person} = {account}{also}
              {order} LIMIT 1)"
        ),
        IdentityMatch::LoginIsMailLocalPart => format!(
            "(SELECT x.id FROM people x WHERE {person} = {account}{also}
              {order} LIMIT 1)"
        ),
    }
}

/// The person of the account `p`: the first of `methods` that links it.
pub fn person_of(b: Backend, p: &str, methods: &[IdentityMatch]) -> String {
    let parts: Vec<String> = methods
        .iter()
        .map(|&m| matched_by(b, p, m, false))
        .collect();
    match parts.as_slice() {
        [] => "CAST(NULL AS TEXT)".to_string(),
        [one] => one.clone(),
        many => format!("COALESCE({})", many.join(",\n            ")),
    }
}

/// A condition on the account `p` that holds whenever its person
/// ([`person_of`]) is a row `w` of `people` satisfying `people_where`: for
/// each method, "this attribute of `p` is that of such a person", each an
/// `IN` list the database builds once. It may hold for accounts whose person
/// is someone else (an earlier method, a tie-break), so the caller still
/// tests the person itself; what it buys is that a statement about a few
/// kinds of people starts from their accounts, not from every account (and
/// every account's seeks into `people` and `grants`).
pub fn may_be_person_in(
    b: Backend,
    p: &str,
    methods: &[IdentityMatch],
    people_where: &str,
) -> String {
    let mut arms: Vec<String> = Vec::with_capacity(methods.len());
    for (i, &m) in methods.iter().enumerate() {
        let Link {
            account,
            person,
            also,
        } = Link::of(b, p, "w", m);
        let arm =
            format!("{account} IN (SELECT {person} FROM people w WHERE ({people_where}){also})");
        // A method after `person_id` links only accounts without one.
        arms.push(if methods[..i].contains(&IdentityMatch::PersonId) {
            format!("({p}.person_id IS NULL AND {arm})")
        } else {
            arm
        });
    }
    if arms.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("({})", arms.join("\n                  OR "))
    }
}

/// The name of the method that links the account `p` (the first of
/// `methods` that gives a person), or NULL when none does.
pub fn linked_by(b: Backend, p: &str, methods: &[IdentityMatch]) -> String {
    if methods.is_empty() {
        return "CAST(NULL AS TEXT)".to_string();
    }
    let arms: Vec<String> = methods
        .iter()
        .map(|&m| {
            format!(
                "WHEN {} IS NOT NULL THEN '{}'",
                matched_by(b, p, m, true),
                m.as_str()
            )
        })
        .collect();
    format!("CASE {} END", arms.join(" "))
}

/// What a statement over accounts `p` adds to keep only the accounts that
/// no person of the roster owns (orphan-account): a join of `people` as
/// `h` on the account's `person_id` and a condition. An account whose
/// `person_id` is reached in the order (no earlier method matched) is an
/// orphan when that id is not in `people`; an account without one, when no
/// later method matches either.
pub struct Unlinked {
    pub join: String,
    pub condition: String,
}

pub fn unlinked(b: Backend, p: &str, methods: &[IdentityMatch]) -> Unlinked {
    let no_match = |ms: &[IdentityMatch]| -> Vec<String> {
        ms.iter()
            .map(|&m| format!("{} IS NULL", matched_by(b, p, m, true)))
            .collect()
    };
    match methods.iter().position(|&m| m == IdentityMatch::PersonId) {
        Some(i) => {
            let mut condition = no_match(&methods[..i]);
            condition.push("h.id IS NULL".to_string());
            let after = no_match(&methods[i + 1..]);
            if !after.is_empty() {
                condition.push(format!(
                    "({p}.person_id IS NOT NULL OR ({}))",
                    after.join(" AND ")
                ));
            }
            Unlinked {
                join: format!("LEFT JOIN people h ON h.id = {p}.person_id"),
                condition: condition.join("\n                AND "),
            }
        }
        None => {
            let condition = no_match(methods);
            Unlinked {
                join: String::new(),
                condition: if condition.is_empty() {
                    "1 = 1".to_string()
                } else {
                    condition.join("\n                AND ")
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::deployment::DEFAULT_IDENTITY;

    #[test]
    fn the_default_order_is_the_column_then_one_email_seek() {
        let sql = person_of(Backend::Sqlite, "p", &DEFAULT_IDENTITY);
        assert!(sql.starts_with("COALESCE(p.person_id,"), "{sql}");
        assert_eq!(sql.matches("FROM people").count(), 1, "{sql}");
        assert!(sql.contains("lower(x.email) = lower(p.email)"), "{sql}");
        assert!(!sql.contains("employee_number") && !sql.contains("login"));
    }

    #[test]
    fn methods_are_tried_in_the_configured_order() {
        use IdentityMatch::*;
        let sql = person_of(
            Backend::Postgres,
            "a",
            &[EmployeeNumber, LoginIsMailLocalPart],
        );
        let employee = sql.find("a.employee_number").expect("employee_number");
        let login = sql.find("a.login").expect("login");
        assert!(employee < login, "{sql}");
        assert!(!sql.contains("a.person_id") && !sql.contains("a.email"));
        let single = person_of(Backend::Sqlite, "p", &[PersonId]);
        assert_eq!(single, "p.person_id");
        let named = linked_by(Backend::Sqlite, "p", &[Email, PersonId]);
        assert!(
            named.find("'email'").expect("email arm") < named.find("'person_id'").expect("id arm"),
            "{named}"
        );
    }

    #[test]
    fn candidates_cover_every_method_of_the_order() {
        use IdentityMatch::*;
        let all = [PersonId, Email, EmployeeNumber, LoginIsMailLocalPart];
        let sql = may_be_person_in(Backend::Sqlite, "p", &all, "w.worker_type = $4");
        for column in [
            "p.person_id IN",
            "lower(p.email) IN",
            "p.employee_number IN",
            "lower(p.login) IN",
        ] {
            assert!(sql.contains(column), "{column}: {sql}");
        }
        assert_eq!(sql.matches("w.worker_type = $4").count(), 4, "{sql}");
        // Only accounts without a person_id are linked by what comes after it.
        assert_eq!(sql.matches("p.person_id IS NULL AND").count(), 3, "{sql}");
        let id_last = may_be_person_in(Backend::Sqlite, "p", &[Email, PersonId], "true");
        assert!(!id_last.contains("IS NULL"), "{id_last}");
        assert_eq!(
            may_be_person_in(Backend::Postgres, "p", &[], "true"),
            "1 = 0"
        );
    }

    #[test]
    fn orphans_keep_todays_shape_by_default() {
        let u = unlinked(Backend::Sqlite, "p", &DEFAULT_IDENTITY);
        assert_eq!(u.join, "LEFT JOIN people h ON h.id = p.person_id");
        assert!(u.condition.starts_with("h.id IS NULL"), "{}", u.condition);
        assert!(
            u.condition.contains("p.person_id IS NOT NULL OR"),
            "{}",
            u.condition
        );
        let without_id = unlinked(Backend::Sqlite, "p", &[IdentityMatch::EmployeeNumber]);
        assert!(without_id.join.is_empty());
        assert!(without_id.condition.contains("employee_number) IS NULL"));
    }
}
