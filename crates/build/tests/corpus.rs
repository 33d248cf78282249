//! BuildKit's parser corpus: every case must pass.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_positive_case_parses_like_buildkit() {
    let mut failed = Vec::new();
    let all = cases("testfiles");
    for case in &all {
        let text = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(case.join("result"))
            .unwrap()
            .replace('\r', "");
        match berth_build::parser::parse(&text) {
            Ok(ast) if ast.dump() == want => {}
            Ok(ast) => {
                eprintln!(
                    "FAIL {}\n--- want\n{want}--- got\n{}",
                    case.display(),
                    ast.dump()
                );
                failed.push(case.clone());
            }
            Err(e) => {
                eprintln!("FAIL {}: {e}", case.display());
                failed.push(case.clone());
            }
        }
    }
    eprintln!(
        "corpus: {} of {} positive cases pass",
        all.len() - failed.len(),
        all.len()
    );
    assert!(all.len() >= 33, "corpus missing: {}", all.len());
    assert!(failed.is_empty(), "failing cases: {failed:?}");
}

#[test]
fn every_negative_case_fails() {
    let all = cases("testfiles-negative");
    assert!(all.len() >= 4);
    for case in &all {
        let text = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        assert!(
            berth_build::parser::parse(&text).is_err(),
            "{} parsed but must fail",
            case.display()
        );
    }
}

#[test]
fn line_numbers() {
    let text = std::fs::read_to_string(corpus().join("testfile-line/Dockerfile")).unwrap();
    let ast = berth_build::parser::parse(&text).unwrap();
    let lines: Vec<(usize, usize)> = ast
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
}
