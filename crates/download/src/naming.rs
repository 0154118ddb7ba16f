//! File and folder names under `raw/`.

use picseek_manifest::sha256_hex;

/// A file name unique to `url`: 16 hex digits of its SHA-256, then its base name made
/// safe (the tutorial named files by base name alone, so two `photo.jpg` overwrote
/// each other).
pub fn file_name_for_url(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("");
    let mut safe: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(80)
        .collect();
    if safe.trim_matches(['.', '_']).is_empty() {
        safe = "image".into();
    }
    format!("{}-{safe}", &sha256_hex(url.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_base_name_on_different_paths_never_collides() {
        let a = file_name_for_url("http://h/a/photo.jpg");
        let b = file_name_for_url("http://h/b/photo.jpg");
        assert_ne!(a, b);
        assert!(a.ends_with("-photo.jpg") && b.ends_with("-photo.jpg"));
        assert_eq!(a, file_name_for_url("http://h/a/photo.jpg"), "names are stable");
    }

    #[test]
    fn odd_names_become_safe() {
        assert!(file_name_for_url("http://h/").ends_with("-image"));
        assert!(file_name_for_url("http://h/..").ends_with("-image"));
        assert!(file_name_for_url("http://h/x/a b%20c.jpg?size=1").ends_with("-a_b_20c.jpg"));
    }
}
