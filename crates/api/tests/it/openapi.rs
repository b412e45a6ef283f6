//! The committed `openapi.yaml` must be what the code generates (`make openapi` rewrites it).

#[test]
fn committed_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = castellan_api::routes::openapi().to_yaml().unwrap();
    assert!(
        committed == generated,
        "openapi.yaml is stale: run `make openapi` and commit the result"
    );
}
