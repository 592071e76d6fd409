//! Password credentials: hashed with argon2id (the OWASP-recommended default parameters of
//! the RustCrypto `argon2` crate) before they reach the store. Nothing ever reads a password
//! back; the hash is kept for the identity store's own use (login, export to Keycloak).

use crate::store::DirectoryError;
use argon2::password_hash::{PasswordHasher, SaltString};
use rand::RngCore;

/// The longest password accepted: argon2 takes any length, but megabytes of "password"
/// are an attack, not a credential.
const MAX_PASSWORD_BYTES: usize = 1024;

/// A salted argon2id hash in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(DirectoryError::Invalid(format!("a password has 1 to {MAX_PASSWORD_BYTES} bytes")));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| DirectoryError::Unavailable(format!("a password salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DirectoryError::Unavailable(format!("hashing a password: {e}")))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = super::hash_password("correct horse").unwrap();
        let b = super::hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(!a.contains("correct horse"));
        let parsed = PasswordHash::new(&a).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(super::hash_password("").is_err());
    }
}
