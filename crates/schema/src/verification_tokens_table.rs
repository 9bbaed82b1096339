//! `verification_tokens`, declared by hand: it has no primary key, so `diesel print-schema`
//! refuses it (diesel.toml filters it out). Diesel's key here is the unique
//! (identifier, token) pair; the catalog parity test covers the real table.

diesel::table! {
    /// Email verification and magic-link tokens (NextAuth's shape).
    verification_tokens (identifier, token) {
        /// Who the token is for (an email address).
        identifier -> Text,
        /// The token itself (unique).
        token -> Text,
        /// When it stops being valid.
        expires -> Timestamp,
    }
}
