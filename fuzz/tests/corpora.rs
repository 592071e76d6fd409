//! Every input of the committed corpora (`fuzz/corpora/<target>/`), replayed through its
//! target: what the fuzzer once found interesting keeps being checked, without afl.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora").join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let ran = std::panic::catch_unwind(|| run(&data));
        assert!(ran.is_ok(), "{} fails on {}", target, path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "the corpus of {target} is empty");
}

#[test]
fn filter_corpus() {
    replay("filter", scim_fuzz::filter);
}

#[test]
fn patch_path_corpus() {
    replay("patch_path", scim_fuzz::patch_path);
}

#[test]
fn handler_corpus() {
    replay("handler", scim_fuzz::handler);
}

#[test]
fn http_corpus() {
    replay("http", scim_fuzz::http);
}
